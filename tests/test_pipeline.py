"""The generation pipeline: determinism by seed, batching, previews, cancellation, validation."""

import io
from pathlib import Path

import numpy as np
import pytest
import torch
from diffusers import AutoencoderKL
from torch._inductor import config as inductor_config
from torch._inductor.utils import run_and_get_code

from scenecraft.model import build_dit
from scenecraft.model.autoencoder import LatentDecoder
from scenecraft.pipeline import Cancelled, GenerationError, GenerationPipeline, SampleSpec


@pytest.fixture(scope="module")
def pixel_pipe() -> GenerationPipeline:
    return GenerationPipeline.from_settings("DiT-S/8", checkpoint=None)  # random weights, pixel space


def png_bytes(image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def test_same_seed_same_bytes(pixel_pipe: GenerationPipeline) -> None:
    kwargs = {"size": 32, "steps": 4, "sampler": "ddpm", "guidance": 3.0}
    a = pixel_pipe.generate([SampleSpec(11, 5)], **kwargs)[0]
    b = pixel_pipe.generate([SampleSpec(11, 5)], **kwargs)[0]
    c = pixel_pipe.generate([SampleSpec(12, 5)], **kwargs)[0]
    assert a.size == (32, 32) and a.mode == "RGB"
    assert png_bytes(a) == png_bytes(b)
    assert png_bytes(a) != png_bytes(c)


def test_a_sample_does_not_depend_on_its_batch(pixel_pipe: GenerationPipeline) -> None:
    kwargs = {"size": 32, "steps": 3, "sampler": "ddpm", "guidance": 2.0}
    alone = pixel_pipe.sample([SampleSpec(5, 1)], **kwargs)
    batched = pixel_pipe.sample([SampleSpec(9, 3), SampleSpec(5, 1)], **kwargs)
    torch.testing.assert_close(batched[1:], alone, atol=1e-4, rtol=1e-4)


def test_previews_every_step_and_cancellation(pixel_pipe: GenerationPipeline) -> None:
    seen: list[tuple[int, int, tuple[int, int]]] = []
    images = pixel_pipe.generate(
        [SampleSpec(1), SampleSpec(2)],
        size=64,
        steps=3,
        sampler="ddim",
        callback=lambda step, total, previews: seen.append((step, total, previews[1].size)),
        preview_size=16,
    )
    assert len(images) == 2
    assert seen == [(1, 3, (16, 16)), (2, 3, (16, 16)), (3, 3, (16, 16))]

    steps: list[int] = []
    with pytest.raises(Cancelled, match="after step 2 of 5"):
        pixel_pipe.generate(
            [SampleSpec(1)],
            size=32,
            steps=5,
            callback=lambda s, t, p: steps.append(s),
            should_stop=lambda: len(steps) >= 2,
        )
    with pytest.raises(Cancelled, match="before the first step"):
        pixel_pipe.generate([SampleSpec(1)], size=32, steps=5, should_stop=lambda: True)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"size": 36}, "height 36 is not a positive multiple of 8"),
        ({"size": (32, 20)}, "width 20 is not a positive multiple of 8"),
        ({"steps": 0}, "steps must be between 1 and 1000"),
        ({"sampler": "euler"}, "sampler 'euler' is for flow models; this model predicts epsilon: use ddpm or ddim"),
        ({"sampler": "plms"}, "unknown sampler 'plms'"),
        ({"guidance": -1.0}, "guidance must be between 0 and 50"),
    ],
)
def test_bad_requests_say_what_is_wrong(pixel_pipe: GenerationPipeline, kwargs: dict, message: str) -> None:
    request = {"size": 32, "steps": 2, "sampler": "ddim", "guidance": 1.0} | kwargs
    with pytest.raises(GenerationError) as exc:
        pixel_pipe.sample([SampleSpec(0)], **request)
    assert message in str(exc.value)


def test_class_label_range(pixel_pipe: GenerationPipeline) -> None:
    with pytest.raises(GenerationError, match=r"class label 1000 is outside 0\.\.999"):
        pixel_pipe.sample([SampleSpec(0, 1000)], size=32, steps=1)


def test_flow_model_uses_flow_samplers() -> None:
    model = build_dit("DiT-S/8", in_channels=3, input_size=16, learn_sigma=False)
    with torch.no_grad():
        model.final_layer.linear.weight.normal_(0, 0.02)
    pipe = GenerationPipeline(model, GenerationPipeline.from_settings("DiT-S/8", checkpoint=None).decoder)
    assert pipe.objective == "flow"
    for sampler in ("euler", "heun"):
        out = pipe.sample([SampleSpec(3)], size=16, steps=3, sampler=sampler, guidance=2.0)
        assert out.shape == (1, 3, 16, 16) and torch.isfinite(out).all()
    with pytest.raises(GenerationError, match="use euler or heun"):
        pipe.sample([SampleSpec(3)], size=16, steps=3, sampler="ddim")


def test_latent_pipeline_previews_use_a_fitted_linear_map(tmp_path: Path) -> None:
    torch.manual_seed(0)
    vae = AutoencoderKL(
        block_out_channels=(32, 32),
        down_block_types=("DownEncoderBlock2D",) * 2,
        up_block_types=("UpDecoderBlock2D",) * 2,
        layers_per_block=1,
    ).eval()
    decoder = LatentDecoder(vae)
    pipe = GenerationPipeline(build_dit("DiT-S/8", input_size=16), decoder)
    z = torch.randn(2, 4, 16, 16)
    preview = pipe.previews(z, max_side=64)
    assert preview[0].size == (16, 16)  # one preview pixel per latent pixel (under max_side)
    # The fitted map reproduces the VAE's block-averaged colours better than a constant would.
    weight, bias = pipe._latent_rgb_map()
    truth = torch.nn.functional.avg_pool2d(decoder.decode(z), 2)
    approx = torch.einsum("nchw,cd->ndhw", z, weight) + bias[None, :, None, None]
    assert ((approx - truth) ** 2).mean() < ((truth - truth.mean()) ** 2).mean()


def test_decoder_model_channel_mismatch() -> None:
    with pytest.raises(GenerationError, match="pair latent models with a VAE"):
        decoder = GenerationPipeline.from_settings("DiT-S/8", checkpoint=None).decoder
        GenerationPipeline(build_dit("DiT-S/8", input_size=16), decoder)


def test_images_round_to_nearest_byte() -> None:
    from scenecraft.pipeline import to_pil

    img = to_pil(torch.tensor([-1.0, 0.0, 1.0]).reshape(1, 3, 1, 1))[0]
    assert np.asarray(img).tolist() == [[[0, 128, 255]]]


def test_bfloat16_model_keeps_a_float32_sampler_state() -> None:
    pipe = GenerationPipeline.from_settings("DiT-S/8", checkpoint=None, dtype=torch.bfloat16)
    assert next(pipe.model.parameters()).dtype == torch.bfloat16
    seen: list[torch.dtype] = []
    out = pipe.sample([SampleSpec(1, 2)], size=32, steps=3, guidance=3.0, callback=lambda s: seen.append(s.x.dtype))
    assert out.dtype == torch.float32 and seen == [torch.float32] * 3
    assert torch.isfinite(out).all()


@pytest.mark.slow
def test_compiled_pipeline_makes_the_eager_image_and_refuses_to_quantize_after() -> None:
    pipe = GenerationPipeline.from_settings("DiT-S/8", checkpoint=None)
    spec = [SampleSpec(seed=3, class_label=1)]
    eager = pipe.sample(spec, size=32, steps=3, sampler="ddim", guidance=2.0)
    pipe.compile()  # on the CPU: inductor with frozen weights
    compiled, code = run_and_get_code(lambda: pipe.sample(spec, size=32, steps=3, sampler="ddim", guidance=2.0))
    torch.testing.assert_close(compiled, eager, atol=1e-4, rtol=1e-4)
    # The weights really are frozen into the graph (constants, not inputs), and nothing else is.
    assert code and all("_frozen_param" in c for c in code)
    assert not inductor_config.freezing
    with pytest.raises(GenerationError, match="quantize before compile"):
        pipe.quantize("int8-weight")
    with pytest.raises(GenerationError, match="do not combine"):
        pipe.step_cache = 2
        pipe.sample(spec, size=32, steps=3, sampler="ddim", guidance=2.0)
