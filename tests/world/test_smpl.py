"""SMPL kinematics: Rodrigues against scipy, FK against hand-computed poses, presets by meaning."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from scenecraft.world.smpl import (
    JOINT_NAMES,
    PARENTS,
    POSE_PRESETS,
    J,
    SMPLModel,
    clip_to_limits,
    forward_kinematics,
    posed_body,
    preset_pose,
    random_pose,
    rest_joints,
    rodrigues,
)


def test_tree_is_smpl_order() -> None:
    # From the SMPL paper's joint list: 24 joints, pelvis root, both hips and spine1 children of it.
    assert len(JOINT_NAMES) == 24 and JOINT_NAMES[0] == "pelvis" and JOINT_NAMES[23] == "right_hand"
    assert PARENTS[:4] == (-1, 0, 0, 0)
    assert PARENTS[J["head"]] == J["neck"] and PARENTS[J["left_wrist"]] == J["left_elbow"]
    assert all(p < j for j, p in enumerate(PARENTS))  # parents come first


def test_rodrigues_matches_scipy() -> None:
    rng = np.random.default_rng(0)
    v = rng.normal(size=(50, 3))
    v[0] = 0.0  # identity
    v[1] = [1e-9, 0, 0]
    np.testing.assert_allclose(rodrigues(v), Rotation.from_rotvec(v).as_matrix(), atol=1e-12)


def test_fk_hand_computed_elbow() -> None:
    # Rotate the left shoulder +90 deg about z: the upper arm (along +x) turns to point up (+y).
    rest = rest_joints().rest
    pose = np.zeros((24, 3))
    pose[J["left_shoulder"]] = [0.0, 0.0, np.pi / 2]
    joints, _rot = forward_kinematics(rest, pose)
    upper = rest[J["left_elbow"]] - rest[J["left_shoulder"]]  # (0.26, 0, 0)
    np.testing.assert_allclose(joints[J["left_elbow"]] - joints[J["left_shoulder"]], [0, upper[0], 0], atol=1e-12)
    np.testing.assert_allclose(joints[J["right_elbow"]], rest[J["right_elbow"]], atol=1e-12)  # untouched
    # A global turn of 180 deg about y mirrors x and z of every joint around the pelvis.
    pose = np.zeros((24, 3))
    pose[0] = [0, np.pi, 0]
    joints, _ = forward_kinematics(rest, pose)
    np.testing.assert_allclose(joints[:, [0, 2]], -rest[:, [0, 2]], atol=1e-12)


def test_betas_change_height_and_build() -> None:
    def height(b: np.ndarray) -> float:
        body = posed_body(preset_pose("t_pose"), (0, 0, 0), b)
        return float(body.head_centre[1] + body.head_radius)

    base = np.zeros(10)
    tall, wide = base.copy(), base.copy()
    tall[0], wide[1] = 2.0, 2.0
    assert 1.6 < height(base) < 1.8
    assert height(tall) > height(base) * 1.1
    shoulders = lambda b: np.ptp(rest_joints(b).rest[[J["left_shoulder"], J["right_shoulder"]], 0])  # noqa: E731
    assert shoulders(wide) > shoulders(base) * 1.15
    assert rest_joints(wide).thickness > rest_joints(base).thickness


def test_presets_mean_what_they_say() -> None:
    def body(name: str) -> np.ndarray:
        return posed_body(preset_pose(name), (0, 0, 0), np.zeros(10)).joints

    up = body("arms_up")
    assert up[J["left_wrist"], 1] > up[J["head"], 1] and up[J["right_wrist"], 1] > up[J["head"], 1]
    stand = body("stand")
    assert stand[J["left_wrist"], 1] < stand[J["left_shoulder"], 1] - 0.3
    wave = body("wave")  # the right hand is raised, the left hangs
    assert wave[J["right_wrist"], 1] > wave[J["right_shoulder"], 1] + 0.2
    assert wave[J["left_wrist"], 1] < wave[J["left_shoulder"], 1]
    point = body("point")  # right arm straight forward (+z)
    assert point[J["right_wrist"], 2] - point[J["right_shoulder"], 2] > 0.45
    sit = body("sit")
    assert sit[J["pelvis"], 1] < 0.3 < stand[J["pelvis"], 1]
    hips = body("hands_on_hips")
    assert np.linalg.norm(hips[J["left_wrist"]] - hips[J["left_hip"]]) < 0.25
    walk = body("walk")
    assert walk[J["left_ankle"], 2] > walk[J["right_ankle"], 2] + 0.2  # left foot ahead
    for required in ("stand", "walk", "run", "wave", "sit", "arms_up", "point"):
        assert required in POSE_PRESETS


def test_presets_and_random_poses_respect_joint_limits() -> None:
    for name in POSE_PRESETS:
        p = preset_pose(name)
        np.testing.assert_allclose(clip_to_limits(p), p, atol=1e-9, err_msg=name)
    rng = np.random.default_rng(3)
    for _ in range(20):
        p = random_pose(rng, spread=0.5)
        np.testing.assert_array_equal(clip_to_limits(p), p)
    a, b = random_pose(np.random.default_rng(5)), random_pose(np.random.default_rng(5))
    np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="unknown pose preset 'dance'; choose one of stand"):
        preset_pose("dance")


def test_body_stands_on_the_floor() -> None:
    body = posed_body(preset_pose("stand"), (0, 0.3, 0), np.zeros(10), position=(1.0, 0.0, -0.5))
    lowest = min(min(a[1], b[1]) - r for a, b, r, _ in body.capsules)
    assert lowest == pytest.approx(0.0, abs=1e-9)
    assert body.joints[0, 0] == pytest.approx(1.0) and body.joints[0, 2] == pytest.approx(-0.5)


def _synthetic_smpl(path: Path, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """A file in SMPL's pickle layout with random values (never a real model)."""
    nv = 6890
    reg = rng.random((24, nv))
    reg /= reg.sum(1, keepdims=True)
    w = rng.random((nv, 24))
    kintree = np.array([[4294967295, *PARENTS[1:]], list(range(24))], dtype=np.int64)
    data = {
        "v_template": rng.normal(0, 0.3, (nv, 3)),
        "shapedirs": rng.normal(0, 0.01, (nv, 3, 10)),
        "posedirs": rng.normal(0, 0.01, (nv, 3, 207)),
        "J_regressor": reg,
        "weights": w / w.sum(1, keepdims=True),
        "kintree_table": kintree,
        "f": rng.integers(0, nv, (13776, 3)).astype(np.int64),
    }
    path.write_bytes(pickle.dumps(data))
    return data


def test_smplx_loads_a_synthetic_model_and_its_joints_are_used(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    data = _synthetic_smpl(tmp_path / "SMPL_NEUTRAL.pkl", rng)
    model = SMPLModel(tmp_path / "SMPL_NEUTRAL.pkl")
    assert model.parents[1:] == PARENTS[1:]
    betas = rng.normal(0, 1, 10)
    pose = random_pose(rng)
    orient = np.array([0.1, 0.4, -0.2])
    got = model.joints(pose, orient, betas)
    # Independent reference: SMPL's definition, J = J_regressor (T + S betas), then our FK.
    rest = data["J_regressor"] @ (data["v_template"] + data["shapedirs"] @ betas)
    ref, _ = forward_kinematics(rest, np.concatenate([orient[None], pose.reshape(23, 3)]))
    np.testing.assert_allclose(got, ref, atol=2e-4)
    placed = posed_body(pose, orient, betas, position=(0.5, 0.0, 0.0), model=model)
    np.testing.assert_allclose(placed.joints - placed.joints[0], got - got[0], atol=1e-9)


def test_missing_smpl_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="SMPL model file not found"):
        SMPLModel(tmp_path / "nope.pkl")
