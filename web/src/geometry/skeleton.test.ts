import { describe, expect, it } from 'vitest';
import {
  axisAngle, compose, dragJoint, forwardKinematics, J, jointDegrees, mul, presetPose, PRESET_NAMES, restJoints,
  rodrigues, setJointDegrees, turnInView, type SmplPose,
} from './skeleton';

const zero = (): SmplPose => ({ body_pose: new Array(69).fill(0), global_orient: [0, 0, 0], betas: new Array(10).fill(0) });
const dist2 = (a: number[], b: number[]) => Math.hypot(a[0] - b[0], a[1] - b[1]);

describe('rotations', () => {
  it('rodrigues and axisAngle invert each other, also near pi', () => {
    for (const v of [[0.3, -0.2, 0.5], [0, 0, 3.1], [Math.PI - 1e-4, 0, 0], [1, 1, 1], [0, 0, 0]]) {
      const back = axisAngle(rodrigues(v));
      const m1 = rodrigues(v);
      const m2 = rodrigues(back);
      m1.forEach((e, i) => expect(m2[i]).toBeCloseTo(e, 6));
    }
  });
  it('rodrigues of 90 degrees about z turns x into y', () => {
    const m = rodrigues([0, 0, Math.PI / 2]);
    expect(m[3]).toBeCloseTo(1); // (R x)_y
    expect(m[0]).toBeCloseTo(0);
  });
  it('compose applies steps in order (later steps on the left), like scipy', () => {
    const v = compose(['z', 90], ['x', 90]);
    const expected = mul(rodrigues([Math.PI / 2, 0, 0]), rodrigues([0, 0, Math.PI / 2]));
    rodrigues(v).forEach((e, i) => expect(e).toBeCloseTo(expected[i], 6));
  });
});

describe('forward kinematics', () => {
  it('T-pose left hand is the sum of the arm offsets (smpl.py _REST_OFFSETS)', () => {
    const { joints } = forwardKinematics(zero());
    // spine1 + spine2 + spine3 + left_collar + left_shoulder + elbow + wrist + hand, in x and y
    expect(joints[J.left_hand][0]).toBeCloseTo(0.07 + 0.11 + 0.26 + 0.25 + 0.08, 6);
    expect(joints[J.left_hand][1]).toBeCloseTo(0.11 + 0.13 + 0.06 + 0.12 + 0.03, 6);
    expect(joints[J.right_hand][0]).toBeCloseTo(-joints[J.left_hand][0], 6);
  });
  it('betas[0] scales the whole body', () => {
    const tall = restJoints([3, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    const base = restJoints(new Array(10).fill(0));
    expect(tall[J.head][1] / base[J.head][1]).toBeCloseTo(1.21, 6);
  });
  it('the stand preset lowers the arms by 75 degrees and keeps bone lengths', () => {
    const { joints } = forwardKinematics(presetPose('stand'));
    const t = forwardKinematics(zero()).joints;
    const arm = (js: number[][]) => dist2(js[J.left_shoulder], js[J.left_wrist]);
    expect(arm(joints)).toBeCloseTo(arm(t), 6);
    const d = [joints[J.left_wrist][0] - joints[J.left_shoulder][0], joints[J.left_wrist][1] - joints[J.left_shoulder][1]];
    expect((Math.atan2(d[1], d[0]) * 180) / Math.PI).toBeCloseTo(-75, 4);
  });
  it('every preset is a full SMPL parameter set within the API bounds', () => {
    for (const name of PRESET_NAMES) {
      const p = presetPose(name);
      expect(p.body_pose).toHaveLength(69);
      expect(p.global_orient).toHaveLength(3);
      expect(p.betas).toHaveLength(10);
      expect(p.body_pose.every((x) => Number.isFinite(x) && Math.abs(x) <= 6.3)).toBe(true);
    }
    expect(() => presetPose('moonwalk')).toThrow(/unknown pose preset/);
  });
});

describe('inverse kinematics and joint rotation', () => {
  it('dragging the wrist brings it to a reachable target', () => {
    const pose = presetPose('stand');
    const { joints } = forwardKinematics(pose);
    const target: [number, number] = [joints[J.right_shoulder][0] - 0.2, joints[J.right_shoulder][1] + 0.35];
    const before = dist2(joints[J.right_wrist], target);
    const moved = forwardKinematics(dragJoint(pose, J.right_wrist, target)).joints;
    expect(before).toBeGreaterThan(0.3);
    expect(dist2(moved[J.right_wrist], target)).toBeLessThan(0.01);
    // only the arm moved
    expect(dist2(moved[J.left_wrist], joints[J.left_wrist])).toBeLessThan(1e-9);
    expect(dist2(moved[J.head], joints[J.head])).toBeLessThan(1e-9);
  });
  it('an unreachable target stretches the arm straight towards it', () => {
    const pose = presetPose('stand');
    const s = forwardKinematics(pose).joints[J.right_shoulder];
    const moved = forwardKinematics(dragJoint(pose, J.right_wrist, [s[0] - 5, s[1]], 2, 30)).joints;
    const reach = dist2(moved[J.right_wrist], s);
    const arm = dist2(forwardKinematics(pose).joints[J.right_wrist], forwardKinematics(pose).joints[J.right_elbow])
      + dist2(forwardKinematics(pose).joints[J.right_elbow], s);
    expect(reach).toBeCloseTo(arm, 2);
    expect(moved[J.right_wrist][0]).toBeLessThan(s[0]);
  });
  it('dragging the pelvis changes nothing (it is the root)', () => {
    const pose = presetPose('walk');
    expect(dragJoint(pose, J.pelvis, [1, 1])).toBe(pose);
  });
  it('turnInView turns the bone below a joint about the view axis', () => {
    const pose = zero();
    const turned = forwardKinematics(turnInView(pose, J.left_elbow, 90)).joints;
    const d = [turned[J.left_wrist][0] - turned[J.left_elbow][0], turned[J.left_wrist][1] - turned[J.left_elbow][1]];
    expect(d[0]).toBeCloseTo(0, 6);
    expect(d[1]).toBeCloseTo(0.25, 6);
  });
  it('per-joint degrees round-trip and are bounded', () => {
    const p = setJointDegrees(zero(), J.left_knee, [45, 0, -10]);
    jointDegrees(p, J.left_knee).forEach((v, i) => expect(v).toBeCloseTo([45, 0, -10][i], 6));
    expect(p.body_pose.filter((v, i) => v !== 0 && (i < 9 || i > 11))).toEqual([]); // only the knee's slots
    const big = setJointDegrees(zero(), 0, [1000, 0, 0]);
    expect(big.global_orient[0]).toBeLessThanOrEqual(6.3);
  });
});
