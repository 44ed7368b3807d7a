"""The DiT against the paper's numbers and against diffusers' independent implementation."""

import numpy as np
import pytest
import torch
from diffusers.models.embeddings import get_2d_sincos_pos_embed as diffusers_pos_embed

from scenecraft.model import DIT_CONFIGS, UnknownModelError, build_dit
from scenecraft.model.dit import TimestepEmbedder, get_2d_sincos_pos_embed
from scenecraft.model.interop import align_diffusers_with_official, to_diffusers


def randomize(model: torch.nn.Module) -> torch.nn.Module:
    """Non-zero weights everywhere, so every path of the forward pass matters."""
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name != "pos_embed":
                p.copy_(torch.randn(p.shape, generator=g) * (0.02 if p.ndim > 1 else 0.1))
    return model


@pytest.mark.parametrize(("name", "millions"), [("DiT-S/2", 33), ("DiT-B/2", 130), ("DiT-L/2", 458), ("DiT-XL/2", 675)])
def test_parameter_counts_match_the_paper(name: str, millions: int) -> None:
    with torch.device("meta"):
        n = sum(p.numel() for p in build_dit(name).parameters())
    # The paper truncates (DiT-B/2 has 130.5M including the frozen position table).
    assert abs(n / 1e6 - millions) < 1


def test_seed_configs() -> None:
    with torch.device("meta"):
        n12 = sum(p.numel() for p in build_dit("seed-12M").parameters())
        big = build_dit("seed-L")
    assert 9.5e6 < n12 < 10.8e6  # the base DiT; with its conditioning modules ~14.3M (tests/model/test_conditioning.py)
    assert (big.config.depth, big.config.hidden_size, big.config.num_heads) == (32, 1024, 16)


def test_unknown_config_lists_valid_names() -> None:
    with pytest.raises(UnknownModelError) as exc:
        build_dit("DiT-M/2")
    assert "DiT-XL/2" in str(exc.value) and "seed-12M" in str(exc.value)


def test_heads_must_divide_width() -> None:
    with pytest.raises(ValueError, match="not divisible by 12 heads"):
        build_dit("seed-L", num_heads=12)


@pytest.mark.parametrize("grid", [4, 16, 32])
def test_pos_embed_matches_diffusers(grid: int) -> None:
    ours = get_2d_sincos_pos_embed(64, grid, grid)
    ref = diffusers_pos_embed(64, grid, base_size=grid, interpolation_scale=1.0, output_type="np")
    np.testing.assert_allclose(ours, ref, atol=1e-6)


def test_pos_embed_closed_form() -> None:
    # Token at row r, column c: channels [0, D/4) are sin(c * w_k), [D/4, D/2) cos(c * w_k),
    # then the same for r, with w_k = 10000^(-k / (D/4)).
    D, grid = 16, 5
    emb = get_2d_sincos_pos_embed(D, grid, grid)
    r, c = 3, 1
    w = 10000.0 ** (-np.arange(D // 4) / (D // 4))
    expected = np.concatenate([np.sin(c * w), np.cos(c * w), np.sin(r * w), np.cos(r * w)])
    np.testing.assert_allclose(emb[r * grid + c], expected, atol=1e-12)


def test_timestep_embedding_closed_form() -> None:
    t = torch.tensor([0.0, 7.0, 999.0])
    emb = TimestepEmbedder.timestep_embedding(t, 8)
    freqs = 10000.0 ** (-np.arange(4) / 4)
    expected = np.concatenate([np.cos(np.outer(t.numpy(), freqs)), np.sin(np.outer(t.numpy(), freqs))], axis=1)
    np.testing.assert_allclose(emb.numpy(), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", ["DiT-S/2", "DiT-S/4", "DiT-B/8"])
def test_forward_matches_diffusers_transformer(name: str) -> None:
    model = randomize(build_dit(name, input_size=16)).eval()
    reference = to_diffusers(model)
    align_diffusers_with_official(reference)
    x = torch.randn(3, 4, 16, 16)
    t = torch.tensor([0, 421, 999])
    y = torch.tensor([3, 999, 1000])  # 1000 is the null class
    with torch.no_grad():
        ours = model(x, t, y)
        ref = reference(x, timestep=t, class_labels=y).sample
    assert ours.shape == (3, 8, 16, 16)
    torch.testing.assert_close(ours, ref, atol=1e-5, rtol=1e-5)


def test_patch_tokens_are_contiguous() -> None:
    """The transposed conv output is made contiguous once: a strided view would slow every
    elementwise op of every block and cost a copy before each linear layer."""
    model = build_dit("DiT-S/8", input_size=16)
    tokens = model.x_embedder(torch.randn(2, 4, 16, 16))
    assert tokens.shape == (2, 4, 384) and tokens.is_contiguous()


def test_untrained_model_predicts_zero() -> None:
    # adaLN-Zero: every block starts as the identity and the output layer is zero.
    model = build_dit("DiT-S/8", input_size=16)
    out = model(torch.randn(2, 4, 16, 16), torch.tensor([1, 2]), torch.tensor([0, 1]))
    assert torch.count_nonzero(out) == 0


def test_other_grid_sizes_run_with_sincos_table() -> None:
    model = randomize(build_dit("DiT-S/8", input_size=16)).eval()
    x = torch.randn(1, 4, 16, 32)  # non-square, twice as wide as trained
    out = model(x, torch.tensor([5]), torch.tensor([1]))
    assert out.shape == (1, 8, 16, 32)
    with pytest.raises(ValueError, match="multiples of the patch size 8"):
        model(torch.randn(1, 4, 12, 16), torch.tensor([5]), torch.tensor([1]))


def test_label_dropout_only_in_training() -> None:
    model = build_dit("DiT-S/8", input_size=8, class_dropout_prob=1.0)
    labels = torch.tensor([1, 2, 3])
    table = model.y_embedder.embedding_table.weight
    torch.testing.assert_close(model.y_embedder(labels, train=True), table[[1000] * 3])
    torch.testing.assert_close(model.y_embedder(labels, train=False), table[labels])


@pytest.mark.slow
@pytest.mark.parametrize("name", list(DIT_CONFIGS))
def test_every_config_builds_and_runs(name: str) -> None:
    config = DIT_CONFIGS[name]
    size = config.patch_size * 2
    model = build_dit(name, input_size=size).eval()
    with torch.no_grad():
        out = model(torch.randn(2, 4, size, size), torch.tensor([0, 999]), torch.tensor([0, 1000]))
    assert out.shape == (2, 8, size, size)
    assert torch.isfinite(out).all()
