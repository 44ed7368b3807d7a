"""AutoencoderKL loading (folder, diffusers file, original LDM file) and tiled decoding."""

import re
from pathlib import Path

import pytest
import torch
from diffusers import AutoencoderKL
from safetensors.torch import save_file

from scenecraft.model.autoencoder import LatentDecoder, PixelDecoder, VAELoadError, load_vae


@pytest.fixture(scope="module")
def small_vae() -> AutoencoderKL:
    torch.manual_seed(3)
    vae = AutoencoderKL(
        block_out_channels=(32, 64),
        down_block_types=("DownEncoderBlock2D",) * 2,
        up_block_types=("UpDecoderBlock2D",) * 2,
        layers_per_block=1,
        latent_channels=4,
        scaling_factor=0.18215,
    )
    return vae.eval()


def to_ldm_layout(state: dict[str, torch.Tensor], levels: int) -> dict[str, torch.Tensor]:
    """diffusers key names -> the original latent-diffusion names (as in the released SD VAE
    files), written out by hand from that layout."""
    out = {}
    for key, value in state.items():
        k = re.sub(r"mid_block\.resnets\.(\d)", lambda m: f"mid.block_{int(m.group(1)) + 1}", key)
        k = k.replace("mid_block.attentions.0.group_norm", "mid.attn_1.norm")
        for a, b in (("to_q", "q"), ("to_k", "k"), ("to_v", "v"), ("to_out.0", "proj_out")):
            if f"mid_block.attentions.0.{a}." in k:
                k = k.replace(f"mid_block.attentions.0.{a}", f"mid.attn_1.{b}")
                if value.ndim == 2:
                    value = value[:, :, None, None]  # 1x1 convolutions in the original
        k = re.sub(r"^encoder\.down_blocks\.(\d+)\.resnets\.", r"encoder.down.\1.block.", k)
        k = re.sub(r"^encoder\.down_blocks\.(\d+)\.downsamplers\.0\.", r"encoder.down.\1.downsample.", k)
        # diffusers counts decoder levels from the bottom, the original from the top.
        k = re.sub(
            r"^decoder\.up_blocks\.(\d+)\.resnets\.", lambda m: f"decoder.up.{levels - 1 - int(m.group(1))}.block.", k
        )
        k = re.sub(
            r"^decoder\.up_blocks\.(\d+)\.upsamplers\.0\.",
            lambda m: f"decoder.up.{levels - 1 - int(m.group(1))}.upsample.",
            k,
        )
        k = k.replace("conv_shortcut", "nin_shortcut").replace("conv_norm_out", "norm_out")
        out[k] = value.contiguous()
    return out


def decode(vae: AutoencoderKL, z: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return vae.decode(z).sample


def test_folder_diffusers_file_and_ldm_file_load_the_same_weights(small_vae: AutoencoderKL, tmp_path: Path) -> None:
    z = torch.randn(1, 4, 8, 8)
    expected = decode(small_vae, z)

    small_vae.save_pretrained(tmp_path / "folder")
    save_file(small_vae.state_dict(), str(tmp_path / "diffusers.safetensors"))
    ldm = to_ldm_layout(small_vae.state_dict(), levels=2)
    assert "encoder.down.0.block.0.conv1.weight" in ldm and "decoder.up.1.block.0.conv1.weight" in ldm
    assert ldm["encoder.mid.attn_1.q.weight"].ndim == 4
    save_file(ldm, str(tmp_path / "vae-ft-mse.safetensors"))

    for path in ("folder", "diffusers.safetensors", "vae-ft-mse.safetensors"):
        vae = load_vae(tmp_path / path)
        assert vae.config.scaling_factor == pytest.approx(0.18215)
        torch.testing.assert_close(decode(vae, z), expected, atol=1e-5, rtol=1e-5, msg=path)


def test_load_errors(tmp_path: Path) -> None:
    with pytest.raises(VAELoadError, match="VAE not found"):
        load_vae(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(VAELoadError, match=r"without config\.json"):
        load_vae(tmp_path / "empty")
    save_file({"something.weight": torch.zeros(2)}, str(tmp_path / "other.safetensors"))
    with pytest.raises(VAELoadError, match="does not look like an AutoencoderKL"):
        load_vae(tmp_path / "other.safetensors")


def test_tiled_decoding_bounds_the_tile_size(small_vae: AutoencoderKL) -> None:
    decoder = LatentDecoder(small_vae, tile_size=64, tile_overlap=0.25)
    assert decoder.downsample == 2 and decoder.channels == 4
    seen: list[tuple[int, ...]] = []
    hook = small_vae.decoder.register_forward_pre_hook(lambda m, args: seen.append(tuple(args[0].shape)))
    try:
        z = torch.randn(1, 4, 96, 96) * 0.18215  # a 192 px image from 32 px (64 / 2) latent tiles
        tiled = decoder.decode(z)
    finally:
        hook.remove()
        small_vae.disable_tiling()
    assert tiled.shape == (1, 3, 192, 192)
    assert max(s[-1] for s in seen) <= 32 and len(seen) > 4  # every decoder call saw one tile
    whole = decode(small_vae, z / 0.18215).clamp(-1, 1)
    # Tiles see less context than the whole image, and seams are blended: close, not equal.
    assert torch.corrcoef(torch.stack([tiled.flatten(), whole.flatten()]))[0, 1] > 0.9


def test_pixel_decoder_clamps() -> None:
    x = torch.tensor([[[[-2.0, 0.5]]]]).expand(1, 3, 1, 2)
    assert PixelDecoder().decode(x)[0, 0, 0].tolist() == [-1.0, 0.5]


def test_decoder_argument_checks(small_vae: AutoencoderKL) -> None:
    with pytest.raises(ValueError, match="tile_size"):
        LatentDecoder(small_vae, tile_size=30)
    with pytest.raises(ValueError, match="tile_overlap"):
        LatentDecoder(small_vae, tile_overlap=0.7)


def test_channels_last_decoding_matches_the_plain_decoder(small_vae: AutoencoderKL) -> None:
    """LatentDecoder runs the decoder channels-last (a speed choice); the images are the same up to
    float round-off, and the encoder is left as it was."""
    z = torch.randn(2, 4, 16, 16) * 0.18215
    plain = decode(small_vae, z / 0.18215).clamp(-1, 1)
    decoder = LatentDecoder(small_vae)
    try:
        assert small_vae.decoder.conv_in.weight.is_contiguous(memory_format=torch.channels_last)
        assert small_vae.encoder.conv_in.weight.is_contiguous()
        torch.testing.assert_close(decoder.decode(z), plain, atol=1e-4, rtol=0)
    finally:
        small_vae.to(memory_format=torch.contiguous_format)
        small_vae.disable_tiling()
