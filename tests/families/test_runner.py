"""Families through FamilyRunner, checked against diffusers' own pipelines on the same random weights:
same images, previews every step, cancel mid-sampling, determinism by seed whatever the batch,
regional prompts that act inside their box, inpainting that keeps the scene outside the mask, and
refusals that name the model and the feature."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from scenecraft.families.library import scan
from scenecraft.families.runner import Cancelled, FamilyError, FamilyRunner, FamilySample, LoadOptions, ModelTooLarge

POSE = {"body_pose": [0.0] * 69, "global_orient": [0.0] * 3, "betas": [0.0] * 10}
TEXT_FAMILIES = ("pixart-alpha", "pixart-sigma", "sana", "sd3", "flux", "flux-schnell")
_RUNNERS: dict[str, FamilyRunner] = {}


def runner(models_dir: Path, model_id: str) -> FamilyRunner:
    if model_id not in _RUNNERS:
        entry = scan(models_dir).get(model_id)
        assert entry is not None
        _RUNNERS[model_id] = FamilyRunner(entry)
    return _RUNNERS[model_id]


def guidance(model_id: str) -> float:
    return 0.0 if model_id == "flux-schnell" else 3.5


def pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("RGB"), dtype=np.int16)


@pytest.mark.parametrize("model_id", TEXT_FAMILIES)
def test_ours_matches_diffusers_own_pipeline_with_a_preview_per_step(models_dir: Path, model_id: str) -> None:
    import diffusers

    ours = runner(models_dir, model_id)
    seen: list[tuple[int, int, tuple[int, int]]] = []
    (image,) = ours.generate(
        [FamilySample(5, "a red cube on a table")],
        width=32,
        height=32,
        steps=3,
        guidance=guidance(model_id),
        callback=lambda step, total, previews: seen.append((step, total, previews[0].size)),
    )
    cls = getattr(diffusers, ours.entry.family.pipelines[0])
    reference = cls.from_pretrained(models_dir / model_id, local_files_only=True)
    reference.set_progress_bar_config(disable=True)
    extra = {"use_resolution_binning": False, "clean_caption": False} if model_id.startswith(("pixart", "sana")) else {}
    expected = reference(
        prompt="a red cube on a table",
        height=32,
        width=32,
        num_inference_steps=3,
        guidance_scale=guidance(model_id),
        generator=torch.Generator("cpu").manual_seed(5),
        max_sequence_length=16,
        **extra,
    ).images[0]
    assert np.abs(pixels(image) - pixels(expected)).max() <= 1
    assert seen == [(1, 3, (16, 16)), (2, 3, (16, 16)), (3, 3, (16, 16))]  # one latent pixel per preview pixel


def test_the_preview_map_recovers_a_linear_decoder_exactly() -> None:
    """Against a closed form: a 'VAE' whose decode is a known affine map per latent pixel (then 8x
    nearest upsampling) is fitted back to that map (through the VAE's scaling and shift)."""
    from types import SimpleNamespace

    from scenecraft.families.previews import fit_preview_map

    g = torch.Generator().manual_seed(0)
    weight, bias = torch.randn(16, 3, generator=g) * 0.03, torch.tensor([0.1, -0.2, 0.05])  # inside [-1, 1]
    scale, shift = 1.5, 0.06

    def decode(z: torch.Tensor, return_dict: bool = False) -> tuple[torch.Tensor]:
        rgb = torch.einsum("nchw,cd->ndhw", (z - shift) * scale, weight) + bias[None, :, None, None]
        return (rgb.repeat_interleave(8, -1).repeat_interleave(8, -2),)

    config = SimpleNamespace(scaling_factor=scale, shift_factor=shift, latent_channels=16)
    vae = SimpleNamespace(config=config, decode=decode, device=torch.device("cpu"), dtype=torch.float32)
    fitted = fit_preview_map(SimpleNamespace(vae=vae), "sd3")
    torch.testing.assert_close(fitted.weight, weight, atol=1e-5, rtol=0)
    torch.testing.assert_close(fitted.bias, bias, atol=1e-5, rtol=0)


@pytest.mark.parametrize("model_id", ["pixart-sigma", "sd3", "flux"])
def test_a_seed_gives_the_same_image_alone_or_in_a_batch(models_dir: Path, model_id: str) -> None:
    ours = runner(models_dir, model_id)
    kw = {"width": 32, "height": 32, "steps": 2, "guidance": guidance(model_id)}
    (alone,) = ours.generate([FamilySample(11, "a blue sphere")], **kw)
    batch = ours.generate([FamilySample(4, "a dog"), FamilySample(11, "a blue sphere")], **kw)
    assert np.abs(pixels(alone) - pixels(batch[1])).max() <= 2
    assert np.abs(pixels(batch[0]) - pixels(batch[1])).mean() > 1  # batch mates are different images


@pytest.mark.parametrize("model_id", ["pixart-sigma", "sd3", "flux"])
def test_cancel_stops_mid_sampling(models_dir: Path, model_id: str) -> None:
    steps: list[int] = []
    with pytest.raises(Cancelled, match="after step 2 of 6"):
        runner(models_dir, model_id).generate(
            [FamilySample(1, "a cat")],
            width=32,
            height=32,
            steps=6,
            guidance=guidance(model_id),
            callback=lambda step, total, p: steps.append(step),
            should_stop=lambda: len(steps) >= 2,
        )
    assert steps == [1, 2]


@pytest.mark.parametrize("model_id", ["pixart-sigma", "sd3", "flux"])
def test_a_subjects_prompt_changes_its_box_more_than_outside(models_dir: Path, model_id: str) -> None:
    ours = runner(models_dir, model_id)
    box = [0.0, 0.0, 0.5, 0.5]

    def make(subject: str) -> np.ndarray:
        sample = FamilySample(9, "a room", subjects=({"prompt": subject, "box": box},))
        (image,) = ours.generate([sample], width=32, height=32, steps=3, guidance=guidance(model_id))
        return pixels(image)

    diff = np.abs(make("a red metal cube") - make("a white glass sphere")).mean(axis=2)
    inside, outside = diff[:16, :16].mean(), np.concatenate([diff[16:].ravel(), diff[:16, 16:].ravel()]).mean()
    assert inside > 1.5 * outside, (inside, outside)


@pytest.mark.parametrize("model_id", ["sd3", "flux"])
def test_inpaint_keeps_every_pixel_outside_the_mask(models_dir: Path, model_id: str) -> None:
    rng = np.random.default_rng(0)
    scene = Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8))
    sample = FamilySample(
        2, "a room", scene=scene, inpaint=True, subjects=({"prompt": "a red ball", "box": [0.25, 0.25, 0.75, 0.75]},)
    )
    (image,) = runner(models_dir, model_id).generate(
        [sample], width=32, height=32, steps=3, guidance=guidance(model_id)
    )
    got, want = pixels(image), pixels(scene)
    outside = np.ones((32, 32), bool)
    outside[8:24, 8:24] = False
    assert (got[outside] == want[outside]).all()
    assert np.abs(got[~outside] - want[~outside]).mean() > 10  # painted inside


@pytest.mark.parametrize("model_id", ["sd3", "flux"])
def test_a_context_scene_steers_the_image(models_dir: Path, model_id: str) -> None:
    ours = runner(models_dir, model_id)
    red, blue = Image.new("RGB", (32, 32), (230, 20, 20)), Image.new("RGB", (32, 32), (20, 20, 230))
    kw = {"width": 32, "height": 32, "steps": 4, "guidance": guidance(model_id)}
    (on_red,) = ours.generate([FamilySample(1, "a room", scene=red)], **kw)
    (on_blue,) = ours.generate([FamilySample(1, "a room", scene=blue)], **kw)
    r, b = pixels(on_red).mean(axis=(0, 1)), pixels(on_blue).mean(axis=(0, 1))
    assert r[0] - r[2] > b[0] - b[2]  # redder on the red scene than on the blue one


@pytest.mark.parametrize(
    ("model_id", "sample", "feature"),
    [
        ("flux", FamilySample(1, "p", negative_prompt="blurry"), "negative_prompt"),
        ("pixart-sigma", FamilySample(1, "p", scene=Image.new("RGB", (8, 8))), "a context scene"),
        ("sana", FamilySample(1, "p", subjects=({"prompt": "cat", "box": [0, 0, 1, 1]},)), "subjects with boxes"),
        (
            "pixart-sigma",
            FamilySample(1, "p", subjects=({"prompt": "man", "box": [0, 0, 1, 1], "pose": POSE},)),
            "subject poses",
        ),
    ],
)
def test_what_a_model_cannot_do_is_refused_by_name(
    models_dir: Path, model_id: str, sample: FamilySample, feature: str
) -> None:
    with pytest.raises(FamilyError, match=f"model {model_id} .* cannot do {feature}"):
        runner(models_dir, model_id).generate([sample], width=32, height=32, steps=1, guidance=1.0)


def test_sizes_are_checked_against_the_family(models_dir: Path) -> None:
    with pytest.raises(FamilyError, match="width 34 is not a multiple of 4"):
        runner(models_dir, "sd3").generate([FamilySample(1, "p")], width=34, height=32, steps=1, guidance=1.0)


def test_a_model_that_does_not_fit_is_refused_before_loading(models_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from scenecraft.families import runner as r

    monkeypatch.setattr(r, "free_bytes", lambda device: (100_000, 100_000))
    entry = scan(models_dir).get("sd3")
    assert entry is not None
    with pytest.raises(
        ModelTooLarge, match=r"model sd3 .* needs about 0\.0 GiB on cpu in float32, but 0\.0 GiB is free"
    ):
        FamilyRunner(entry, LoadOptions())
    need, _ = r.required_bytes(entry, LoadOptions())
    assert need == int(sum(c.params * 4 for c in entry.components.values()) * r.WORKING_MEMORY)


@pytest.mark.parametrize("model_id", ["sd3", "flux"])
def test_a_pose_goes_through_the_pose_controlnet_as_our_skeleton_map(models_dir: Path, model_id: str) -> None:
    from scenecraft.families.scene import pose_map

    ours = runner(models_dir, model_id)
    box = [0.3, 0.1, 0.7, 0.5]
    posed = FamilySample(6, "a person", subjects=({"prompt": "a person waving", "box": box, "pose": POSE},))
    plain = FamilySample(6, "a person", subjects=({"prompt": "a person waving", "box": box},))
    skeleton = np.asarray(pose_map(posed, 32, 32))
    # the body fills the box's height (rows 3..16), centred; a T-pose's arms may reach past its sides
    assert skeleton[19:].max() == 0 and skeleton[:, :5].max() == 0 and skeleton[:, 27:].max() == 0
    assert skeleton[3:17, 10:22].max() > 200
    kw = {"width": 32, "height": 32, "steps": 2, "guidance": 3.5}
    (with_pose,) = ours.generate([posed], **kw)
    (without,) = ours.generate([plain], **kw)
    assert np.abs(pixels(with_pose) - pixels(without)).mean() > 0.5  # the ControlNet acted
    with pytest.raises(FamilyError, match="cannot combine a context scene with subject poses"):
        ours.generate([FamilySample(1, "p", scene=Image.new("RGB", (32, 32)), subjects=posed.subjects)], **kw)
