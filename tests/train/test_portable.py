"""Packed training state: within the quantisation bounds, in files under the limit, resumable."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from scenecraft.train.portable import BLOCK, dequantise, pack_state, quantise, unpack_state


def _trained_state(tmp_path: Path) -> tuple[Path, nn.Module, torch.optim.AdamW]:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 300), nn.GELU(), nn.Linear(300, 64))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    for _ in range(5):
        loss = model(torch.randn(32, 64)).square().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    state = {
        "model": model.state_dict(),
        "ema": {k: v * 0.5 for k, v in model.state_dict().items()},
        "opt": opt.state_dict(),
        "step": 5,
        "data_next": 1234,
        "config": {"model": "tiny", "size": 64},
    }
    path = tmp_path / "state.pt"
    torch.save(state, path)
    return path, model, opt


def test_blockwise_int8_is_within_half_a_step_of_each_blocks_absmax() -> None:
    x = torch.randn(3 * BLOCK + 17) * torch.logspace(-6, 2, 3 * BLOCK + 17)
    codes, scale = quantise(x)
    assert codes.dtype == torch.int8 and scale.dtype == torch.float32 and len(scale) == 4
    back = dequantise(codes, scale, x.shape)
    for b in range(4):
        sl = slice(b * BLOCK, (b + 1) * BLOCK)
        bound = x[sl].abs().max() / 127 * 0.5 * (1 + 1e-5)  # half a code step (float32 rounding aside)
        assert (back[sl] - x[sl]).abs().max() <= bound


def test_pack_unpack_round_trip_resumes_the_optimizer(tmp_path: Path) -> None:
    path, model, opt = _trained_state(tmp_path)
    files = pack_state(path, tmp_path / "packed", max_bytes=80_000)
    assert len(files) >= 3 and all(f.stat().st_size <= 80_000 for f in files)
    info = unpack_state(tmp_path / "packed", tmp_path / "restored.pt")
    assert info == {"step": 5, "data_next": 1234}
    restored = torch.load(tmp_path / "restored.pt", weights_only=True)
    original = torch.load(path, weights_only=True)
    for k, v in original["model"].items():
        torch.testing.assert_close(restored["model"][k], v, rtol=2**-7, atol=1e-6)  # bfloat16
        assert restored["model"][k].dtype == v.dtype
    for pid, s in original["opt"]["state"].items():
        r = restored["opt"]["state"][pid]
        assert float(r["step"]) == float(s["step"])
        m_err = (r["exp_avg"] - s["exp_avg"]).abs().max()
        assert m_err <= s["exp_avg"].abs().max() / 127  # within a code step of the largest value
        rel = (r["exp_avg_sq"].sqrt() - s["exp_avg_sq"].sqrt()).abs().max() / s["exp_avg_sq"].sqrt().max()
        assert rel <= 1 / 127
    # The restored optimizer steps like the original one: an update of the same direction and size.
    clone = nn.Sequential(nn.Linear(64, 300), nn.GELU(), nn.Linear(300, 64))
    clone.load_state_dict(original["model"])
    opt2 = torch.optim.AdamW(clone.parameters(), lr=1e-3)
    opt2.load_state_dict(restored["opt"])
    x = torch.randn(32, 64)
    before = [p.detach().clone() for p in model.parameters()]
    for m, o in ((model, opt), (clone, opt2)):
        loss = m(x).square().mean()
        o.zero_grad()
        loss.backward()
        o.step()
    d1 = torch.cat([(p.detach() - b).flatten() for p, b in zip(model.parameters(), before, strict=True)])
    d2 = torch.cat([(p.detach() - b).flatten() for p, b in zip(clone.parameters(), before, strict=True)])
    assert torch.nn.functional.cosine_similarity(d1, d2, dim=0) > 0.99


def test_an_ema_only_pack_trains_on_from_the_ema(tmp_path: Path) -> None:
    path, _, _ = _trained_state(tmp_path)
    full = sum(f.stat().st_size for f in pack_state(path, tmp_path / "both"))
    small = sum(f.stat().st_size for f in pack_state(path, tmp_path / "ema", weights="ema"))
    assert small < 0.75 * full
    unpack_state(tmp_path / "ema", tmp_path / "restored.pt")
    restored = torch.load(tmp_path / "restored.pt", weights_only=True)
    original = torch.load(path, weights_only=True)
    for k, v in original["ema"].items():
        torch.testing.assert_close(restored["model"][k], v, rtol=2**-7, atol=1e-6)
        torch.testing.assert_close(restored["ema"][k], v, rtol=2**-7, atol=1e-6)
    with pytest.raises(ValueError, match="weights must be 'both' or 'ema'"):
        pack_state(path, tmp_path / "x", weights="half")


def test_a_repa_head_travels_with_the_state(tmp_path: Path) -> None:
    path, _, _ = _trained_state(tmp_path)
    state = torch.load(path, weights_only=True)
    head = nn.Linear(16, 8).state_dict()
    torch.save({**state, "repa_head": head}, tmp_path / "repa.pt")
    pack_state(tmp_path / "repa.pt", tmp_path / "packed", weights="ema")
    unpack_state(tmp_path / "packed", tmp_path / "restored.pt")
    restored = torch.load(tmp_path / "restored.pt", weights_only=True)
    assert set(restored["repa_head"]) == set(head)
    for k, v in head.items():
        torch.testing.assert_close(restored["repa_head"][k], v, rtol=2**-7, atol=1e-6)
    unpack_state(pack_state(path, tmp_path / "plain")[-1].parent, tmp_path / "plain.pt")  # none: none back
    assert "repa_head" not in torch.load(tmp_path / "plain.pt", weights_only=True)


def test_missing_packed_state_is_named(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="holds no packed training state"):
        unpack_state(tmp_path, tmp_path / "state.pt")
