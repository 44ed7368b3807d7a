"""Scene requests through the pipeline: text encoder, pose maps, grounding, inpainting, checkpoints."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from scenecraft.model.autoencoder import PixelDecoder
from scenecraft.model.checkpoints import CheckpointError, load_scene_model, save_scene_model
from scenecraft.model.conditioning import INPAINT, POSE, SCENE, SUBJECTS, TEXT, ConditioningConfig, SceneDiT
from scenecraft.model.dit import DiTConfig
from scenecraft.model.encoders import SceneViTConfig, TextEncoder, default_text_encoder_path
from scenecraft.pipeline import GenerationError, GenerationPipeline, SampleSpec, to_pil
from scenecraft.scene_conditions import (
    ConditionEncoder,
    RequestError,
    SceneRequest,
    SMPLPose,
    SubjectRequest,
    draw_skeletons,
    skeleton_in_box,
)
from scenecraft.world.smpl import preset_pose

BASE = DiTConfig(
    depth=2,
    hidden_size=64,
    num_heads=2,
    patch_size=2,
    input_size=32,
    in_channels=3,
    num_classes=1,
    class_dropout_prob=0.0,
    learn_sigma=False,
)
COND = ConditioningConfig(
    max_text_tokens=16,
    max_subjects=4,
    scene=SceneViTConfig(image_size=32, patch_size=8, width=32, depth=1, num_heads=2),
)


@pytest.fixture(scope="module")
def text_encoder() -> TextEncoder:
    return TextEncoder(max_tokens=16)


@pytest.fixture(scope="module")
def pipe(text_encoder: TextEncoder) -> GenerationPipeline:
    torch.manual_seed(0)
    model = SceneDiT(BASE, COND)
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.05)
    return GenerationPipeline(model, PixelDecoder(), conditioner=ConditionEncoder(text_encoder, COND))


def scene_image(size: int = 32) -> np.ndarray:
    g = np.random.default_rng(0)
    return g.integers(0, 256, (size, size, 3), dtype=np.uint8)


def test_text_encoder_matches_sentence_transformers(text_encoder: TextEncoder) -> None:
    from sentence_transformers import SentenceTransformer

    texts = ["a red metal sphere on grass", "a person waving next to a blue cube"]
    reference = SentenceTransformer(str(default_text_encoder_path()), device="cpu").encode(texts)
    ours = text_encoder.encode(texts)
    np.testing.assert_allclose(ours.pooled.numpy(), reference, atol=1e-5)
    assert ours.tokens.shape == (2, 16, 384) and ours.mask.sum(1).tolist() == [8, 10]


def test_pose_map_draws_each_side_in_its_channel() -> None:
    pose = SMPLPose(tuple(float(v) for v in preset_pose("wave")))
    joints = skeleton_in_box(pose, (0.25, 0.1, 0.75, 0.9), 64)
    assert joints.shape == (24, 2)
    assert joints[:, 1].min() >= 0.1 * 64 and joints[:, 1].max() <= 0.9 * 64  # inside the box's height
    assert abs(joints[:, 0].min() + joints[:, 0].max() - 64) < 1  # centred
    m = draw_skeletons([joints], 64)
    assert m.shape == (3, 64, 64) and m.max() == 1.0
    left_wrist, right_wrist = joints[20], joints[21]  # JOINT_NAMES order
    lx, ly = int(left_wrist[0]), int(left_wrist[1])
    rx, ry = int(right_wrist[0]), int(right_wrist[1])
    assert m[0, ly - 1 : ly + 2, lx - 1 : lx + 2].max() > 0.5  # left arm in channel 0
    assert m[1, ry - 1 : ry + 2, rx - 1 : rx + 2].max() > 0.5  # right arm in channel 1
    assert m[:, :4].max() == 0  # nothing above the box
    assert draw_skeletons([], 16).max() == 0


def test_requests_become_conditions(pipe: GenerationPipeline) -> None:
    pose = SMPLPose(tuple(float(v) for v in preset_pose("stand")))
    requests = [
        SceneRequest("a red cube"),
        SceneRequest(
            "a person next to a cube",
            (SubjectRequest("a person", (0.1, 0.1, 0.4, 0.9), pose), SubjectRequest("a cube", (0.5, 0.5, 0.9, 0.9))),
            scene=scene_image(),
            inpaint=True,
        ),
        SceneRequest(""),
    ]
    assert pipe.conditioner is not None
    c = pipe.conditioner.encode(requests, 32)
    assert c.present[:, [TEXT, SCENE, SUBJECTS, POSE, INPAINT]].tolist() == [
        [True, False, False, False, False],
        [True, True, True, True, True],
        [False, False, False, False, False],
    ]
    assert c.subject_mask[1].tolist() == [True, True, False, False]
    torch.testing.assert_close(c.boxes[1, 1], torch.tensor([0.5, 0.5, 0.9, 0.9]))
    mask = c.inpaint[1, 0]
    assert mask[16, 20] == 1 and mask[2, 30] == 0  # inside the cube's box; outside every box
    assert c.pose[1].sum() > 0 and c.pose[0].sum() == 0


@pytest.mark.parametrize(
    ("request_", "message"),
    [
        (SceneRequest("x", inpaint=True), "context scene"),
        (SceneRequest("x", (SubjectRequest("a"),), scene=scene_image(), inpaint=True), "with a box"),
        (SceneRequest("x", (SubjectRequest("a", (0.5, 0.1, 0.2, 0.9)),)), "x0 < x1"),
        (SceneRequest("x", (SubjectRequest("a", None, SMPLPose((0.0,) * 69)),)), "no box"),
        (SceneRequest("x", tuple(SubjectRequest("a", (0.1, 0.1, 0.2, 0.2)) for _ in range(5))), "at most 4"),
    ],
)
def test_bad_requests_are_refused_clearly(pipe: GenerationPipeline, request_: SceneRequest, message: str) -> None:
    with pytest.raises(GenerationError, match=message):
        pipe.generate([SampleSpec(0, request=request_)], size=32, steps=2, sampler="euler")
    with pytest.raises(RequestError, match=message):
        assert pipe.conditioner is not None
        pipe.conditioner.encode([request_], 32)


def test_inpainting_keeps_the_scene_outside_the_mask(pipe: GenerationPipeline) -> None:
    scene = scene_image()
    request = SceneRequest("a cube", (SubjectRequest("a red cube", (0.25, 0.25, 0.75, 0.75)),), scene, inpaint=True)
    for guidance in (1.0, 3.0):
        (image,) = pipe.generate([SampleSpec(3, request=request)], size=32, steps=4, sampler="euler", guidance=guidance)
        out = np.asarray(image)
        inside = np.zeros((32, 32), bool)
        inside[7:25, 7:25] = True  # the box (8..24) grown by 1 px
        assert np.array_equal(out[~inside], scene[~inside])
        assert np.abs(out[inside].astype(int) - scene[inside]).mean() > 10


def test_conditions_and_guidance_change_the_result(pipe: GenerationPipeline) -> None:
    def run(request: SceneRequest, **kw: object) -> np.ndarray:
        (im,) = pipe.generate([SampleSpec(7, request=request)], size=32, steps=3, sampler="euler", **kw)  # type: ignore[arg-type]
        return np.asarray(im).astype(int)

    a = run(SceneRequest("a red cube"))
    assert np.array_equal(a, run(SceneRequest("a red cube")))  # deterministic by seed
    assert np.abs(a - run(SceneRequest("a blue sphere"))).max() > 0
    assert np.abs(a - run(SceneRequest("a red cube"), guidance=4.0)).max() > 0
    boxed = SceneRequest("a red cube", (SubjectRequest("a red cube", (0.1, 0.1, 0.5, 0.5)),))
    assert np.abs(run(boxed) - run(boxed, condition_scales={"subjects": 3.0})).max() > 0
    with pytest.raises(GenerationError, match="unknown condition 'colour'"):
        run(boxed, condition_scales={"colour": 2.0})
    with pytest.raises(GenerationError, match="square"):
        pipe.generate([SampleSpec(0)], size=(32, 64), steps=2, sampler="euler")


def test_scene_checkpoint_round_trip(pipe: GenerationPipeline, tmp_path: Path) -> None:
    path = tmp_path / "m.safetensors"
    save_scene_model(pipe.model, path, dtype=torch.float16, extra={"step": 3})
    loaded = load_scene_model(path)
    assert isinstance(loaded, SceneDiT) and loaded.extra == {"step": 3}
    for (k, a), (_, b) in zip(pipe.model.state_dict().items(), loaded.state_dict().items(), strict=True):
        torch.testing.assert_close(a.half().float(), b, msg=k)
    from_settings = GenerationPipeline.from_settings(checkpoint=path)
    assert isinstance(from_settings.model, SceneDiT)
    with pytest.raises(CheckpointError, match="give no VAE"):
        GenerationPipeline.from_settings(checkpoint=path, vae=tmp_path)
    from safetensors.torch import save_file

    save_file({"w": torch.zeros(2)}, str(tmp_path / "plain.safetensors"))
    with pytest.raises(CheckpointError, match="not a scene model"):
        load_scene_model(tmp_path / "plain.safetensors")
    (tmp_path / "broken.safetensors").write_bytes(b"\x00" * 4)
    with pytest.raises(CheckpointError, match="cannot read"):
        load_scene_model(tmp_path / "broken.safetensors")


def test_passes_in_chunks_of_rows_compute_the_same_samples(pipe: GenerationPipeline) -> None:
    """Guidance levels x samples run in chunks of max_rows: the same samples as one pass."""
    assert pipe.max_rows == 16  # the CPU's default
    pose = SMPLPose(tuple(float(v) for v in preset_pose("wave")))
    specs = [
        SampleSpec(3, request=SceneRequest("a red cube", (SubjectRequest("a red cube", (0.1, 0.1, 0.5, 0.5)),))),
        SampleSpec(4, request=SceneRequest("a person", (SubjectRequest("a person", (0.2, 0.1, 0.7, 0.9), pose),))),
        SampleSpec(5, request=SceneRequest("a blue sphere")),
    ]  # 3 samples x 4 levels (none, pose, subjects, text) = 12 rows a step
    calls: list[int] = []
    hook = pipe.model.register_forward_pre_hook(lambda _m, args: calls.append(args[0].shape[0]))
    try:
        pipe.max_rows = None
        one = pipe.sample(specs, size=32, steps=2, sampler="euler", guidance=3.0)
        assert calls == [12, 12]
        calls.clear()
        pipe.max_rows = 5
        chunked = pipe.sample(specs, size=32, steps=2, sampler="euler", guidance=3.0)
        assert calls == [5, 5, 2, 5, 5, 2]
    finally:
        hook.remove()
        pipe.max_rows = 16
    torch.testing.assert_close(chunked, one, rtol=1e-5, atol=1e-5)


def test_an_upsampler_makes_twice_the_side_from_samples_at_the_models_own(
    pipe: GenerationPipeline, text_encoder: TextEncoder, tmp_path: Path
) -> None:
    from scenecraft.model.upsampler import Upsampler, UpsamplerConfig, save_upsampler

    up = Upsampler(UpsamplerConfig(channels=8, blocks=1))
    with torch.no_grad():
        up.tail.bias.fill_(0.1)  # not the bilinear upsample: the output shows it was applied
    with_up = GenerationPipeline(pipe.model, PixelDecoder(), conditioner=ConditionEncoder(text_encoder, COND))
    with_up.upsampler = up
    assert (with_up.native_size, with_up.default_size, pipe.default_size) == (32, 64, 32)
    assert with_up.sampling_size(64) == (32, 32) and with_up.sampling_size(48) == (48, 48)
    spec = SampleSpec(3, request=SceneRequest("a red cube"))
    sizes: list[int] = []
    hook = pipe.model.register_forward_pre_hook(lambda _m, args: sizes.append(args[0].shape[-1]))
    try:
        (big,) = with_up.generate([spec], size=64, steps=2, sampler="euler")
    finally:
        hook.remove()
    assert big.size == (64, 64) and set(sizes) == {32}  # sampled at 32 px
    z = pipe.sample([spec], size=32, steps=2, sampler="euler")
    expected = to_pil(up.upsample(PixelDecoder().decode(z)))[0]
    assert np.abs(np.asarray(big, np.int16) - np.asarray(expected, np.int16)).max() <= 1
    (small,) = with_up.generate([spec], size=32, steps=2, sampler="euler")  # the samples themselves
    assert small.size == (32, 32)
    # from_settings attaches an upsampler given by path, and refuses one for models it is not for
    model_path, up_path = tmp_path / "m.safetensors", tmp_path / "x2.safetensors"
    save_scene_model(pipe.model, model_path)
    save_upsampler(up, up_path)
    loaded = GenerationPipeline.from_settings(checkpoint=model_path, upsampler=up_path)
    assert loaded.upsampler is not None and loaded.default_size == 64
    assert GenerationPipeline.from_settings(checkpoint=model_path).upsampler is None  # "bundled": not this model's
    with pytest.raises(CheckpointError, match="for pixel-space scene models"):
        GenerationPipeline.from_settings("DiT-S/2", checkpoint=None, upsampler=up_path)
