"""SMPL's 24-joint kinematic tree with our own body proportions.

SMPL (Loper et al., 2015, "SMPL: A Skinned Multi-Person Linear Model") poses a body by one
axis-angle rotation per joint: ``global_orient`` (3) for the pelvis and ``body_pose`` (69 = 23 x 3)
for the other joints, each relative to its parent, in the order of :data:`JOINT_NAMES`. The rest
pose is a T-pose facing ``+z`` with ``+x`` the body's left and ``y`` up.

We do not ship SMPL's mesh or joint regressor (they are licence-restricted). Instead:

- :func:`rest_joints` builds the T-pose joint positions from our own proportions, shaped by
  ``betas``: ``betas[0]`` height, ``betas[1]`` build (widths and limb thickness), ``betas[2]`` leg
  length vs torso, ``betas[3]`` arm length, ``betas[4]`` head size; the rest are accepted and
  ignored.
- :func:`forward_kinematics` composes Rodrigues rotations down the tree.
- :class:`SMPLModel` loads a user's real SMPL ``.pkl`` with ``smplx`` and yields its joints instead.

Poses: :data:`POSE_PRESETS` (stand, walk, run, wave, sit, arms_up, point, ...) and
:func:`random_pose` (a preset perturbed within :data:`JOINT_LIMITS_DEG`).

:func:`posed_body` places a person in the world and returns joints, joint rotations and the capsules
the renderer draws (:data:`BONES`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

JOINT_NAMES: tuple[str, ...] = (
    "pelvis",
    "left_hip",
    "right_hip",
    "spine1",
    "left_knee",
    "right_knee",
    "spine2",
    "left_ankle",
    "right_ankle",
    "spine3",
    "left_foot",
    "right_foot",
    "neck",
    "left_collar",
    "right_collar",
    "head",
    "left_shoulder",
    "right_shoulder",
    "left_elbow",
    "right_elbow",
    "left_wrist",
    "right_wrist",
    "left_hand",
    "right_hand",
)
# SMPL's kinematic tree: PARENTS[j] is the parent joint of j (-1 for the root).
PARENTS: tuple[int, ...] = (-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 20, 21)
J = {name: i for i, name in enumerate(JOINT_NAMES)}
# Left/right partner of each joint (for flip augmentation and symmetric metrics).
FLIP_PAIRS: tuple[int, ...] = tuple(
    J[n.replace("left", "right")] if "left" in n else J[n.replace("right", "left")] if "right" in n else J[n]
    for n in JOINT_NAMES
)

# Our T-pose: offset of each joint from its parent, metres, for a 1.70 m adult of average build.
_REST_OFFSETS = np.array([
    [0.00, 0.00, 0.00],    # pelvis (root; placed later)
    [0.09, -0.08, 0.00],   # left_hip
    [-0.09, -0.08, 0.00],  # right_hip
    [0.00, 0.11, -0.01],   # spine1
    [0.01, -0.39, 0.01],   # left_knee
    [-0.01, -0.39, 0.01],  # right_knee
    [0.00, 0.13, 0.01],    # spine2
    [0.00, -0.40, -0.03],  # left_ankle
    [0.00, -0.40, -0.03],  # right_ankle
    [0.00, 0.06, 0.00],    # spine3
    [0.00, -0.05, 0.13],   # left_foot
    [0.00, -0.05, 0.13],   # right_foot
    [0.00, 0.21, -0.02],   # neck
    [0.07, 0.12, -0.01],   # left_collar
    [-0.07, 0.12, -0.01],  # right_collar
    [0.00, 0.09, 0.04],    # head
    [0.11, 0.03, -0.01],   # left_shoulder
    [-0.11, 0.03, -0.01],  # right_shoulder
    [0.26, 0.00, 0.00],    # left_elbow
    [-0.26, 0.00, 0.00],   # right_elbow
    [0.25, 0.00, 0.00],    # left_wrist
    [-0.25, 0.00, 0.00],   # right_wrist
    [0.08, 0.00, 0.00],    # left_hand
    [-0.08, 0.00, 0.00],   # right_hand
])  # fmt: skip
_LEG = {J[n] for n in ("left_knee", "right_knee", "left_ankle", "right_ankle", "left_foot", "right_foot")}
_ARM = {J[n] for n in ("left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hand", "right_hand")}
_TORSO = {J[n] for n in ("spine1", "spine2", "spine3", "neck")}

# Capsules drawn for a body: (joint a, joint b, radius in metres at average build, clothing part).
# Parts: "top" and "bottom" take the clothing colours, "skin", "shoes". The head is a sphere (HEAD_*).
BONES: tuple[tuple[int, int, float, str], ...] = (
    (J["left_hip"], J["right_hip"], 0.10, "bottom"),
    (J["pelvis"], J["spine1"], 0.12, "bottom"),
    (J["spine1"], J["spine2"], 0.125, "top"),
    (J["spine2"], J["spine3"], 0.135, "top"),
    (J["spine3"], J["neck"], 0.11, "top"),
    (J["left_collar"], J["right_collar"], 0.085, "top"),
    (J["left_collar"], J["left_shoulder"], 0.065, "top"),
    (J["right_collar"], J["right_shoulder"], 0.065, "top"),
    (J["left_shoulder"], J["left_elbow"], 0.05, "top"),
    (J["right_shoulder"], J["right_elbow"], 0.05, "top"),
    (J["left_elbow"], J["left_wrist"], 0.04, "skin"),
    (J["right_elbow"], J["right_wrist"], 0.04, "skin"),
    (J["left_wrist"], J["left_hand"], 0.035, "skin"),
    (J["right_wrist"], J["right_hand"], 0.035, "skin"),
    (J["left_hip"], J["left_knee"], 0.075, "bottom"),
    (J["right_hip"], J["right_knee"], 0.075, "bottom"),
    (J["left_knee"], J["left_ankle"], 0.055, "bottom"),
    (J["right_knee"], J["right_ankle"], 0.055, "bottom"),
    (J["left_ankle"], J["left_foot"], 0.045, "shoes"),
    (J["right_ankle"], J["right_foot"], 0.045, "shoes"),
    (J["neck"], J["head"], 0.05, "skin"),
)
HEAD_OFFSET = np.array([0.0, 0.09, 0.01])  # head sphere centre from the head joint, in the head frame
HEAD_RADIUS = 0.11

# Per-joint limits on the axis-angle components (degrees), rows in JOINT_NAMES order from joint 1.
# Conventions at rest: hip flexion is -x, knee flexion +x, left shoulder lowers the arm with -z.
JOINT_LIMITS_DEG: dict[str, tuple[tuple[float, float], tuple[float, float], tuple[float, float]]] = {
    "left_hip": ((-120, 35), (-40, 40), (-15, 50)),
    "right_hip": ((-120, 35), (-40, 40), (-50, 15)),
    "spine1": ((-25, 40), (-30, 30), (-20, 20)),
    "left_knee": ((0, 150), (-5, 5), (-5, 5)),
    "right_knee": ((0, 150), (-5, 5), (-5, 5)),
    "spine2": ((-20, 35), (-25, 25), (-20, 20)),
    "left_ankle": ((-30, 40), (-15, 15), (-15, 15)),
    "right_ankle": ((-30, 40), (-15, 15), (-15, 15)),
    "spine3": ((-15, 30), (-25, 25), (-15, 15)),
    "left_foot": ((-10, 10), (-5, 5), (-5, 5)),
    "right_foot": ((-10, 10), (-5, 5), (-5, 5)),
    "neck": ((-30, 40), (-45, 45), (-25, 25)),
    "left_collar": ((-15, 15), (-20, 20), (-20, 25)),
    "right_collar": ((-15, 15), (-20, 20), (-25, 20)),
    "head": ((-30, 30), (-40, 40), (-20, 20)),
    "left_shoulder": ((-90, 90), (-100, 45), (-95, 95)),
    "right_shoulder": ((-90, 90), (-45, 100), (-95, 95)),
    "left_elbow": ((-30, 30), (-150, 5), (-100, 140)),
    "right_elbow": ((-30, 30), (-5, 150), (-140, 100)),
    "left_wrist": ((-40, 40), (-40, 40), (-40, 40)),
    "right_wrist": ((-40, 40), (-40, 40), (-40, 40)),
    "left_hand": ((-15, 15), (-15, 15), (-15, 15)),
    "right_hand": ((-15, 15), (-15, 15), (-15, 15)),
}
_LIMITS = np.radians(np.array([JOINT_LIMITS_DEG[n] for n in JOINT_NAMES[1:]]))  # (23, 3, 2)


def rodrigues(rotvec: np.ndarray) -> np.ndarray:
    """Rotation matrices from axis-angle vectors by Rodrigues' formula. (..., 3) -> (..., 3, 3)."""
    rotvec = np.asarray(rotvec, dtype=np.float64)
    theta = np.linalg.norm(rotvec, axis=-1, keepdims=True)  # (..., 1)
    axis = rotvec / np.maximum(theta, 1e-12)
    x, y, z = axis[..., 0], axis[..., 1], axis[..., 2]
    zero = np.zeros_like(x)
    k = np.stack([zero, -z, y, z, zero, -x, -y, x, zero], axis=-1).reshape(*rotvec.shape[:-1], 3, 3)
    s, c = np.sin(theta)[..., None], np.cos(theta)[..., None]  # (..., 1, 1)
    return np.eye(3) + s * k + (1.0 - c) * (k @ k)


def forward_kinematics(
    rest: np.ndarray, pose: np.ndarray, parents: tuple[int, ...] = PARENTS
) -> tuple[np.ndarray, np.ndarray]:
    """Posed joints and global joint rotations.

    rest: (24, 3) T-pose joint positions; pose: (24, 3) axis-angle, row 0 the global orientation.
    Returns joints (24, 3) with the root kept at ``rest[0]``, and rotations (24, 3, 3).
    """
    local = rodrigues(pose)  # (24, 3, 3)
    rot = np.empty_like(local)
    joints = np.empty_like(rest, dtype=np.float64)
    for j, p in enumerate(parents):
        if p < 0:
            rot[j], joints[j] = local[j], rest[j]
        else:
            rot[j] = rot[p] @ local[j]
            joints[j] = joints[p] + rot[p] @ (rest[j] - rest[p])
    return joints, rot


@dataclass(frozen=True)
class BodyShape:
    """Rest joints (24, 3) and the limb-thickness factor that ``betas`` give."""

    rest: np.ndarray
    thickness: float
    head_scale: float


def rest_joints(betas: np.ndarray | tuple[float, ...] | None = None) -> BodyShape:
    """Our T-pose for shape coefficients ``betas`` (10 values, about -3..3 each)."""
    b = np.zeros(10) if betas is None else np.asarray(betas, dtype=np.float64)
    height = 1.0 + 0.07 * b[0]
    build = 1.0 + 0.10 * b[1]
    offsets = _REST_OFFSETS.copy()
    offsets[:, 0] *= build  # widths follow build
    for j in range(24):
        if j in _LEG:
            offsets[j] *= 1.0 + 0.04 * b[2]
        elif j in _TORSO:
            offsets[j] *= 1.0 - 0.03 * b[2]
        elif j in _ARM:
            offsets[j] *= 1.0 + 0.05 * b[3]
    offsets *= height
    rest = np.zeros((24, 3))
    for j, p in enumerate(PARENTS):
        if p >= 0:
            rest[j] = rest[p] + offsets[j]
    return BodyShape(rest=rest, thickness=height * build, head_scale=height * (1.0 + 0.04 * b[4]))


class SMPLModel:
    """A real SMPL model file loaded through ``smplx``; its joints replace our proportions.

    ``path`` is a SMPL ``.pkl`` (e.g. ``SMPL_NEUTRAL.pkl``), which users obtain themselves from
    https://smpl.is.tue.mpg.de under its licence. It is never shipped with scenecraft.
    """

    def __init__(self, path: str | Path) -> None:
        import torch

        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"SMPL model file not found: {path} (expected a SMPL .pkl file)")
        import smplx

        self._torch = torch
        self.model = smplx.SMPL(model_path=str(path), num_betas=10)
        self.parents = tuple(int(p) for p in self.model.parents.tolist())
        if len(self.parents) != 24:
            raise ValueError(f"{path} has {len(self.parents)} joints; a SMPL model has 24")

    def joints(self, body_pose: np.ndarray, global_orient: np.ndarray, betas: np.ndarray) -> np.ndarray:
        """Posed SMPL joints (24, 3) in model coordinates (pelvis near the origin)."""
        t = self._torch
        with t.no_grad():
            out = self.model(
                body_pose=t.as_tensor(np.asarray(body_pose, dtype=np.float32).reshape(1, 69)),
                global_orient=t.as_tensor(np.asarray(global_orient, dtype=np.float32).reshape(1, 3)),
                betas=t.as_tensor(np.asarray(betas, dtype=np.float32).reshape(1, 10)),
            )
        return out.joints[0, :24].double().numpy()


def _compose(*steps: tuple[str, float]) -> np.ndarray:
    """Axis-angle of rotations applied in order, each (axis 'x'|'y'|'z', degrees)."""
    r = Rotation.identity()
    for axis, deg in steps:
        r = Rotation.from_euler(axis, deg, degrees=True) * r
    return np.asarray(r.as_rotvec())


def _preset(**joints: np.ndarray) -> np.ndarray:
    pose = np.zeros((23, 3))
    for name, rotvec in joints.items():
        pose[J[name] - 1] = rotvec
    return pose


def _arms_down(swing_left: float = 0.0, swing_right: float = 0.0) -> dict[str, np.ndarray]:
    """Arms hanging (about 75 degrees below the T-pose), swung forward by the given degrees."""
    return {
        "left_shoulder": _compose(("z", -75), ("x", -swing_left)),
        "right_shoulder": _compose(("z", 75), ("x", -swing_right)),
    }


POSE_PRESETS: dict[str, np.ndarray] = {
    "stand": _preset(**_arms_down()),
    "t_pose": _preset(),
    "walk": _preset(
        left_hip=_compose(("x", -25)),
        right_hip=_compose(("x", 15)),
        right_knee=_compose(("x", 25)),
        left_knee=_compose(("x", 8)),
        **_arms_down(-20, 25),
        left_elbow=_compose(("y", -15)),
        right_elbow=_compose(("y", 25)),
    ),
    "run": _preset(
        left_hip=_compose(("x", -55)),
        right_hip=_compose(("x", 25)),
        left_knee=_compose(("x", 60)),
        right_knee=_compose(("x", 85)),
        spine1=_compose(("x", 12)),
        **_arms_down(-35, 45),
        left_elbow=_compose(("y", -80)),
        right_elbow=_compose(("y", 85)),
    ),
    "wave": _preset(
        left_shoulder=_compose(("z", -75)),
        right_shoulder=_compose(("z", -30)),
        right_elbow=_compose(("z", -85)),
        head=_compose(("z", 8)),
    ),
    "sit": _preset(
        left_hip=_compose(("x", -90), ("z", 8)),
        right_hip=_compose(("x", -90), ("z", -8)),
        left_knee=_compose(("x", 20)),
        right_knee=_compose(("x", 20)),
        left_shoulder=_compose(("z", -70), ("x", -30)),
        right_shoulder=_compose(("z", 70), ("x", -30)),
    ),
    "arms_up": _preset(
        left_shoulder=_compose(("z", 80)),
        right_shoulder=_compose(("z", -80)),
        left_elbow=_compose(("z", 10)),
        right_elbow=_compose(("z", -10)),
    ),
    "point": _preset(
        left_shoulder=_compose(("z", -75)),
        right_shoulder=_compose(("y", 85)),
        head=_compose(("y", -20)),
    ),
    "crouch": _preset(
        left_hip=_compose(("x", -100), ("z", 15)),
        right_hip=_compose(("x", -100), ("z", -15)),
        left_knee=_compose(("x", 125)),
        right_knee=_compose(("x", 125)),
        left_ankle=_compose(("x", -25)),
        right_ankle=_compose(("x", -25)),
        spine1=_compose(("x", 25)),
        **_arms_down(-40, -40),
    ),
    "kneel": _preset(
        left_hip=_compose(("x", -90)),
        left_knee=_compose(("x", 90)),
        right_hip=_compose(("x", 5)),
        right_knee=_compose(("x", 95)),
        **_arms_down(-10, -10),
    ),
    "hands_on_hips": _preset(
        left_shoulder=_compose(("z", -55)),
        right_shoulder=_compose(("z", 55)),
        left_elbow=_compose(("z", -95)),
        right_elbow=_compose(("z", 95)),
    ),
    "jump": _preset(
        left_shoulder=_compose(("z", 65)),
        right_shoulder=_compose(("z", -65)),
        left_hip=_compose(("x", -35)),
        right_hip=_compose(("x", -35)),
        left_knee=_compose(("x", 70)),
        right_knee=_compose(("x", 70)),
    ),
}
# How captions describe each preset ("a person waving").
PRESET_PHRASES: dict[str, str] = {
    "stand": "standing",
    "t_pose": "in a T-pose",
    "walk": "walking",
    "run": "running",
    "wave": "waving",
    "sit": "sitting",
    "arms_up": "with arms raised",
    "point": "pointing",
    "crouch": "crouching",
    "kneel": "kneeling",
    "hands_on_hips": "with hands on hips",
    "jump": "jumping",
}


def preset_pose(name: str) -> np.ndarray:
    """The 69-vector ``body_pose`` of a named preset."""
    if name not in POSE_PRESETS:
        raise ValueError(f"unknown pose preset {name!r}; choose one of {', '.join(POSE_PRESETS)}")
    return POSE_PRESETS[name].reshape(69).copy()


def clip_to_limits(body_pose: np.ndarray) -> np.ndarray:
    """Each axis-angle component clipped to :data:`JOINT_LIMITS_DEG`. (69,) -> (69,)."""
    p = np.asarray(body_pose, dtype=np.float64).reshape(23, 3)
    return np.clip(p, _LIMITS[..., 0], _LIMITS[..., 1]).reshape(69)


def random_pose(rng: np.random.Generator, spread: float = 0.25, base: str | None = None) -> np.ndarray:
    """A plausible random ``body_pose`` (69,): a preset perturbed by ``spread`` of each joint's range."""
    name = base if base is not None else str(rng.choice(list(POSE_PRESETS)))
    span = _LIMITS[..., 1] - _LIMITS[..., 0]  # (23, 3)
    pose = preset_pose(name).reshape(23, 3) + rng.normal(0.0, 1.0, (23, 3)) * span * spread * 0.5
    return clip_to_limits(pose.reshape(69))


@dataclass(frozen=True)
class PosedBody:
    """A person placed in the world: joints (24, 3), rotations (24, 3, 3), capsules and head."""

    joints: np.ndarray
    rotations: np.ndarray
    capsules: list[tuple[np.ndarray, np.ndarray, float, str]]  # (a, b, radius, part)
    head_centre: np.ndarray
    head_radius: float
    head_forward: np.ndarray
    head_up: np.ndarray


def posed_body(
    body_pose: np.ndarray | tuple[float, ...],
    global_orient: np.ndarray | tuple[float, ...],
    betas: np.ndarray | tuple[float, ...],
    position: tuple[float, float, float] = (0.0, 0.0, 0.0),
    scale: float = 1.0,
    model: SMPLModel | None = None,
) -> PosedBody:
    """Pose a body and place it so its pelvis is over ``position`` and its lowest point at its height."""
    shape = rest_joints(betas)
    pose = np.concatenate(
        [np.asarray(global_orient, float).reshape(1, 3), np.asarray(body_pose, float).reshape(23, 3)]
    )
    joints, rot = forward_kinematics(shape.rest, pose)
    if model is not None:  # a real SMPL file: its joints, our capsules around them
        joints = model.joints(np.asarray(body_pose), np.asarray(global_orient), np.asarray(betas))
    joints = (joints - joints[0]) * scale
    r_scale = scale * shape.thickness
    head_r = HEAD_RADIUS * scale * shape.head_scale
    head_c = joints[J["head"]] + rot[J["head"]] @ HEAD_OFFSET * scale * shape.head_scale
    # Lowest surface point: joint height minus the thickest capsule at that joint.
    low = head_c[1] - head_r
    for a, b, r, _ in BONES:
        low = min(low, joints[a, 1] - r * r_scale, joints[b, 1] - r * r_scale)
    shift = np.array([position[0], position[1] - low, position[2]])
    joints = joints + shift
    capsules = [(joints[a], joints[b], r * r_scale, part) for a, b, r, part in BONES]
    return PosedBody(
        joints=joints,
        rotations=rot,
        capsules=capsules,
        head_centre=head_c + shift,
        head_radius=head_r,
        head_forward=rot[J["head"]] @ np.array([0.0, 0.0, 1.0]),
        head_up=rot[J["head"]] @ np.array([0.0, 1.0, 0.0]),
    )
