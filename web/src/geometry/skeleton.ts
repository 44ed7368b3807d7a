// The SMPL skeleton in the browser: the same 24-joint kinematic tree, proportions, presets and
// forward kinematics as src/scenecraft/world/smpl.py, plus the pose editor's inverse kinematics.
//
// A pose is SMPL's parameters: `global_orient` (3) for the pelvis and `body_pose` (69 = 23 x 3)
// for the other joints, each an axis-angle rotation (radians) relative to its parent; `betas` (10)
// shape the body. Rest pose: a T-pose facing +z, +x the body's left, y up. The editor shows the
// body from the front (a camera on +z looking at it): the person's left (+x) is on the viewer's
// right, so screen x = world x and screen y = -world y.

export type Vec3 = [number, number, number];
export type Mat3 = number[]; // 9 numbers, row-major

export interface SmplPose {
  body_pose: number[]; // 69
  global_orient: number[]; // 3
  betas: number[]; // 10
}

export const JOINT_NAMES = [
  'pelvis', 'left_hip', 'right_hip', 'spine1', 'left_knee', 'right_knee', 'spine2', 'left_ankle',
  'right_ankle', 'spine3', 'left_foot', 'right_foot', 'neck', 'left_collar', 'right_collar', 'head',
  'left_shoulder', 'right_shoulder', 'left_elbow', 'right_elbow', 'left_wrist', 'right_wrist',
  'left_hand', 'right_hand',
] as const;
export type JointName = (typeof JOINT_NAMES)[number];
export const PARENTS = [-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 20, 21];
export const J = Object.fromEntries(JOINT_NAMES.map((n, i) => [n, i])) as Record<JointName, number>;

// smpl._REST_OFFSETS: each joint's offset from its parent in metres, 1.70 m adult, average build.
const REST_OFFSETS: Vec3[] = [
  [0, 0, 0], [0.09, -0.08, 0], [-0.09, -0.08, 0], [0, 0.11, -0.01], [0.01, -0.39, 0.01],
  [-0.01, -0.39, 0.01], [0, 0.13, 0.01], [0, -0.4, -0.03], [0, -0.4, -0.03], [0, 0.06, 0],
  [0, -0.05, 0.13], [0, -0.05, 0.13], [0, 0.21, -0.02], [0.07, 0.12, -0.01], [-0.07, 0.12, -0.01],
  [0, 0.09, 0.04], [0.11, 0.03, -0.01], [-0.11, 0.03, -0.01], [0.26, 0, 0], [-0.26, 0, 0],
  [0.25, 0, 0], [-0.25, 0, 0], [0.08, 0, 0], [-0.08, 0, 0],
];
const LEG = new Set([4, 5, 7, 8, 10, 11]);
const ARM = new Set([18, 19, 20, 21, 22, 23]);
const TORSO = new Set([3, 6, 9, 12]);

// -- rotations ------------------------------------------------------------------------------
export const IDENTITY: Mat3 = [1, 0, 0, 0, 1, 0, 0, 0, 1];

export function mul(a: Mat3, b: Mat3): Mat3 {
  const out = new Array<number>(9);
  for (let i = 0; i < 3; i++) {
    for (let j = 0; j < 3; j++) out[i * 3 + j] = a[i * 3] * b[j] + a[i * 3 + 1] * b[3 + j] + a[i * 3 + 2] * b[6 + j];
  }
  return out;
}

export function transpose(m: Mat3): Mat3 {
  return [m[0], m[3], m[6], m[1], m[4], m[7], m[2], m[5], m[8]];
}

export function apply(m: Mat3, v: Vec3): Vec3 {
  return [
    m[0] * v[0] + m[1] * v[1] + m[2] * v[2],
    m[3] * v[0] + m[4] * v[1] + m[5] * v[2],
    m[6] * v[0] + m[7] * v[1] + m[8] * v[2],
  ];
}

/** Rodrigues' formula: axis-angle (radians) -> rotation matrix. */
export function rodrigues(v: readonly number[]): Mat3 {
  const theta = Math.hypot(v[0], v[1], v[2]);
  if (theta < 1e-12) return [...IDENTITY];
  const [x, y, z] = [v[0] / theta, v[1] / theta, v[2] / theta];
  const s = Math.sin(theta);
  const c = 1 - Math.cos(theta);
  const k = [0, -z, y, z, 0, -x, -y, x, 0];
  const kk = mul(k, k);
  return IDENTITY.map((e, i) => e + s * k[i] + c * kk[i]);
}

/** Rotation matrix -> axis-angle (radians, angle in [0, pi]), through a quaternion (stable near pi). */
export function axisAngle(m: Mat3): Vec3 {
  const [m00, m01, m02, m10, m11, m12, m20, m21, m22] = m;
  const tr = m00 + m11 + m22;
  let w: number, x: number, y: number, z: number;
  if (tr > 0) {
    const s = Math.sqrt(tr + 1) * 2;
    w = 0.25 * s; x = (m21 - m12) / s; y = (m02 - m20) / s; z = (m10 - m01) / s;
  } else if (m00 > m11 && m00 > m22) {
    const s = Math.sqrt(1 + m00 - m11 - m22) * 2;
    w = (m21 - m12) / s; x = 0.25 * s; y = (m01 + m10) / s; z = (m02 + m20) / s;
  } else if (m11 > m22) {
    const s = Math.sqrt(1 + m11 - m00 - m22) * 2;
    w = (m02 - m20) / s; x = (m01 + m10) / s; y = 0.25 * s; z = (m12 + m21) / s;
  } else {
    const s = Math.sqrt(1 + m22 - m00 - m11) * 2;
    w = (m10 - m01) / s; x = (m02 + m20) / s; y = (m12 + m21) / s; z = 0.25 * s;
  }
  if (w < 0) { w = -w; x = -x; y = -y; z = -z; }
  const n = Math.hypot(x, y, z);
  if (n < 1e-12) return [0, 0, 0];
  const angle = 2 * Math.atan2(n, w);
  return [(x / n) * angle, (y / n) * angle, (z / n) * angle];
}

export function axisRotation(axis: 'x' | 'y' | 'z', degrees: number): Mat3 {
  const v: Vec3 = [0, 0, 0];
  v['xyz'.indexOf(axis)] = (degrees * Math.PI) / 180;
  return rodrigues(v);
}

/** smpl._compose: the axis-angle of rotations applied in order, each (axis, degrees). */
export function compose(...steps: ['x' | 'y' | 'z', number][]): Vec3 {
  let r = [...IDENTITY];
  for (const [axis, deg] of steps) r = mul(axisRotation(axis, deg), r);
  return axisAngle(r);
}

// -- presets (smpl.POSE_PRESETS) ------------------------------------------------------------
type Rotations = Partial<Record<JointName, Vec3>>;
const armsDown = (left = 0, right = 0): Rotations => ({
  left_shoulder: compose(['z', -75], ['x', -left]),
  right_shoulder: compose(['z', 75], ['x', -right]),
});

const PRESET_ROTATIONS: Record<string, () => Rotations> = {
  stand: () => armsDown(),
  t_pose: () => ({}),
  walk: () => ({
    left_hip: compose(['x', -25]), right_hip: compose(['x', 15]), right_knee: compose(['x', 25]),
    left_knee: compose(['x', 8]), ...armsDown(-20, 25), left_elbow: compose(['y', -15]),
    right_elbow: compose(['y', 25]),
  }),
  run: () => ({
    left_hip: compose(['x', -55]), right_hip: compose(['x', 25]), left_knee: compose(['x', 60]),
    right_knee: compose(['x', 85]), spine1: compose(['x', 12]), ...armsDown(-35, 45),
    left_elbow: compose(['y', -80]), right_elbow: compose(['y', 85]),
  }),
  wave: () => ({
    left_shoulder: compose(['z', -75]), right_shoulder: compose(['z', -30]), right_elbow: compose(['z', -85]),
    head: compose(['z', 8]),
  }),
  sit: () => ({
    left_hip: compose(['x', -90], ['z', 8]), right_hip: compose(['x', -90], ['z', -8]),
    left_knee: compose(['x', 20]), right_knee: compose(['x', 20]),
    left_shoulder: compose(['z', -70], ['x', -30]), right_shoulder: compose(['z', 70], ['x', -30]),
  }),
  arms_up: () => ({
    left_shoulder: compose(['z', 80]), right_shoulder: compose(['z', -80]), left_elbow: compose(['z', 10]),
    right_elbow: compose(['z', -10]),
  }),
  point: () => ({
    left_shoulder: compose(['z', -75]), right_shoulder: compose(['y', 85]), head: compose(['y', -20]),
  }),
  crouch: () => ({
    left_hip: compose(['x', -100], ['z', 15]), right_hip: compose(['x', -100], ['z', -15]),
    left_knee: compose(['x', 125]), right_knee: compose(['x', 125]), left_ankle: compose(['x', -25]),
    right_ankle: compose(['x', -25]), spine1: compose(['x', 25]), ...armsDown(-40, -40),
  }),
  kneel: () => ({
    left_hip: compose(['x', -90]), left_knee: compose(['x', 90]), right_hip: compose(['x', 5]),
    right_knee: compose(['x', 95]), ...armsDown(-10, -10),
  }),
  hands_on_hips: () => ({
    left_shoulder: compose(['z', -55]), right_shoulder: compose(['z', 55]), left_elbow: compose(['z', -95]),
    right_elbow: compose(['z', 95]),
  }),
  jump: () => ({
    left_shoulder: compose(['z', 65]), right_shoulder: compose(['z', -65]), left_hip: compose(['x', -35]),
    right_hip: compose(['x', -35]), left_knee: compose(['x', 70]), right_knee: compose(['x', 70]),
  }),
};
export const PRESET_NAMES = Object.keys(PRESET_ROTATIONS);

/** A named preset as SMPL parameters (betas zero, facing the camera). */
export function presetPose(name: string): SmplPose {
  const make = PRESET_ROTATIONS[name];
  if (!make) throw new Error(`unknown pose preset ${JSON.stringify(name)}; choose one of ${PRESET_NAMES.join(', ')}`);
  const body = new Array<number>(69).fill(0);
  for (const [joint, v] of Object.entries(make())) body.splice((J[joint as JointName] - 1) * 3, 3, ...(v as Vec3));
  return { body_pose: body, global_orient: [0, 0, 0], betas: new Array<number>(10).fill(0) };
}

// -- kinematics ----------------------------------------------------------------------------
/** smpl.rest_joints: the T-pose joints (24) for shape coefficients `betas`. */
export function restJoints(betas: readonly number[]): Vec3[] {
  const b = [...betas, ...new Array<number>(10).fill(0)].slice(0, 10);
  const height = 1 + 0.07 * b[0];
  const build = 1 + 0.1 * b[1];
  const rest: Vec3[] = [];
  REST_OFFSETS.forEach((o, j) => {
    let f = height;
    if (LEG.has(j)) f *= 1 + 0.04 * b[2];
    else if (TORSO.has(j)) f *= 1 - 0.03 * b[2];
    else if (ARM.has(j)) f *= 1 + 0.05 * b[3];
    const off: Vec3 = [o[0] * build * f, o[1] * f, o[2] * f];
    const p = PARENTS[j];
    rest.push(p < 0 ? [0, 0, 0] : [rest[p][0] + off[0], rest[p][1] + off[1], rest[p][2] + off[2]]);
  });
  return rest;
}

/** The 24 local rotations of a pose: row 0 global_orient, then body_pose's 23. */
export function localRotations(pose: SmplPose): Mat3[] {
  const out = [rodrigues(pose.global_orient)];
  for (let j = 1; j < 24; j++) out.push(rodrigues(pose.body_pose.slice((j - 1) * 3, j * 3)));
  return out;
}

/** smpl.forward_kinematics: posed joints (pelvis at the origin) and global rotations. */
export function forwardKinematics(pose: SmplPose): { joints: Vec3[]; rotations: Mat3[] } {
  const rest = restJoints(pose.betas);
  const local = localRotations(pose);
  const rotations: Mat3[] = [];
  const joints: Vec3[] = [];
  PARENTS.forEach((p, j) => {
    if (p < 0) {
      rotations.push(local[j]);
      joints.push([...rest[j]]);
    } else {
      rotations.push(mul(rotations[p], local[j]));
      const d = apply(rotations[p], [rest[j][0] - rest[p][0], rest[j][1] - rest[p][1], rest[j][2] - rest[p][2]]);
      joints.push([joints[p][0] + d[0], joints[p][1] + d[1], joints[p][2] + d[2]]);
    }
  });
  return { joints, rotations };
}

function setLocal(pose: SmplPose, joint: number, m: Mat3): SmplPose {
  const v = axisAngle(m);
  if (joint === 0) return { ...pose, global_orient: v };
  const body = [...pose.body_pose];
  body.splice((joint - 1) * 3, 3, ...v);
  return { ...pose, body_pose: body };
}

/** Turns joint `joint` (and so everything below it) by `degrees` about the view axis (+z, towards the viewer). */
export function turnInView(pose: SmplPose, joint: number, degrees: number): SmplPose {
  const { rotations } = forwardKinematics(pose);
  const turn = axisRotation('z', degrees);
  const parent = PARENTS[joint];
  const world = mul(turn, rotations[joint]);
  return setLocal(pose, joint, parent < 0 ? world : mul(transpose(rotations[parent]), world));
}

/**
 * Drag `joint` towards `target` (x, y in metres, front view, pelvis at the origin): cyclic coordinate
 * descent over up to `links` ancestors, each turned about the view axis so the joint swings towards
 * the target. Depth (z) is kept as the pose has it. Dragging the pelvis moves nothing (it is the root).
 */
export function dragJoint(pose: SmplPose, joint: number, target: [number, number], links = 2, iterations = 8): SmplPose {
  const chain: number[] = [];
  for (let a = PARENTS[joint]; a > 0 && chain.length < links; a = PARENTS[a]) chain.push(a);
  if (chain.length === 0) return pose;
  let out = pose;
  for (let it = 0; it < iterations; it++) {
    for (const a of chain) {
      const { joints } = forwardKinematics(out);
      const [ax, ay] = joints[a];
      const [jx, jy] = joints[joint];
      const from = Math.atan2(jy - ay, jx - ax);
      const to = Math.atan2(target[1] - ay, target[0] - ax);
      if (Math.hypot(jx - ax, jy - ay) < 1e-6) continue;
      let delta = ((to - from) * 180) / Math.PI;
      delta = ((delta + 540) % 360) - 180;
      if (Math.abs(delta) > 1e-4) out = turnInView(out, a, delta);
    }
  }
  return out;
}

/** The local rotation of one joint as degrees (x, y, z axis-angle components), for the sliders. */
export function jointDegrees(pose: SmplPose, joint: number): Vec3 {
  const v = joint === 0 ? pose.global_orient : pose.body_pose.slice((joint - 1) * 3, joint * 3);
  return v.map((r) => (r * 180) / Math.PI) as Vec3;
}

/** Sets one joint's axis-angle components from degrees (bounded to the API's +-6.3 rad). */
export function setJointDegrees(pose: SmplPose, joint: number, degrees: Vec3): SmplPose {
  const v = degrees.map((d) => Math.max(-6.28, Math.min(6.28, (d * Math.PI) / 180)));
  if (joint === 0) return { ...pose, global_orient: v };
  const body = [...pose.body_pose];
  body.splice((joint - 1) * 3, 3, ...v);
  return { ...pose, body_pose: body };
}

/** The pose rounded to 5 decimals, as sent to the API. */
export function poseForRequest(pose: SmplPose): SmplPose {
  const r = (x: number): number => Math.round(x * 1e5) / 1e5;
  return { body_pose: pose.body_pose.map(r), global_orient: pose.global_orient.map(r), betas: pose.betas.map(r) };
}

/** The bones to draw: (parent, child) pairs of the tree. */
export const BONES: [number, number][] = PARENTS.map((p, j) => [p, j] as [number, number]).filter(([p]) => p >= 0);
