"""Tiny random models of every family, built once per test session as real diffusers folders."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from scenecraft.families import tiny

FAMILY_IDS = ("pixart-alpha", "pixart-sigma", "sana", "sd3", "flux", "flux-schnell")


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("models")
    for family in FAMILY_IDS:
        tiny.build(family, root / family, size=32)
    tiny.build_pose_controlnet("sd3", root / "sd3-pose-controlnet", root / "sd3")
    tiny.build_pose_controlnet("flux", root / "flux-pose-controlnet", root / "flux")
    return root
