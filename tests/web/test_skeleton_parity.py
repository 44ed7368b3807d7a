"""The studio's SMPL skeleton (web/src/geometry/skeleton.ts) against the scene world's (world/smpl.py):
the same joint order and tree, the same presets, and the same posed joints for every preset under a
global orientation and two body shapes. The pose editor sends these parameters to the API, so a port
that drifted would pose people differently from what the user saw."""

from __future__ import annotations

import json
import subprocess
from typing import Any

import numpy as np
import pytest

from scenecraft.world.smpl import JOINT_NAMES, PARENTS, POSE_PRESETS, forward_kinematics, rest_joints
from tests.web.test_studio import WEB, require


@pytest.fixture(scope="module")
def web_skeleton() -> dict[str, Any]:
    require(browser=False)
    out = subprocess.run(
        ["node", "tests/skeleton_dump.mjs"], cwd=WEB, capture_output=True, text=True, timeout=120, check=False
    )
    assert out.returncode == 0, out.stderr
    return dict(json.loads(out.stdout))


def test_same_tree_and_presets(web_skeleton: dict[str, Any]) -> None:
    assert tuple(web_skeleton["joint_names"]) == JOINT_NAMES
    assert tuple(web_skeleton["parents"]) == PARENTS
    assert set(web_skeleton["presets"]) == set(POSE_PRESETS)
    for name, preset in web_skeleton["presets"].items():
        np.testing.assert_allclose(preset["body_pose"], POSE_PRESETS[name].reshape(69), atol=1e-9, err_msg=name)


def test_same_posed_joints(web_skeleton: dict[str, Any]) -> None:
    orient = np.array([0.1, 0.4, -0.2])
    for name, preset in web_skeleton["presets"].items():
        for betas, joints in zip(web_skeleton["shapes"], preset["joints"], strict=True):
            pose = np.concatenate([orient[None], POSE_PRESETS[name]])  # (24, 3)
            expected, _ = forward_kinematics(rest_joints(betas).rest, pose)
            np.testing.assert_allclose(joints, expected, atol=1e-9, err_msg=f"{name} betas={betas}")
