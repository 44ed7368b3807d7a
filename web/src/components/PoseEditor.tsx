// The SMPL pose editor: the skeleton from the front. Drag a joint and its two parent joints turn to
// follow (inverse kinematics in the view plane); or pick a joint and set its rotation with sliders;
// or start from a preset. Keyboard: focus a joint, arrows move it.

import { useMemo, useRef, useState, type KeyboardEvent, type PointerEvent } from 'react';
import {
  BONES, dragJoint, forwardKinematics, J, JOINT_NAMES, jointDegrees, PRESET_NAMES, presetPose, setJointDegrees,
  type SmplPose, type Vec3,
} from '../geometry/skeleton';

const BASE_VIEW = { left: -1.0, top: -0.75, size: 2.0 }; // metres shown for a standing figure: x -1..1, y 0.75 (up) .. -1.25
const MARGIN = 0.15;

/** A square view holding every joint with a margin (a raised hand stays in view and grabbable). */
export function viewFor(joints: Vec3[]): { left: number; top: number; size: number } {
  const xs = joints.map((j) => j[0]);
  const ys = joints.map((j) => -j[1]);
  const left = Math.min(BASE_VIEW.left, Math.min(...xs) - MARGIN);
  const top = Math.min(BASE_VIEW.top, Math.min(...ys) - MARGIN);
  const right = Math.max(BASE_VIEW.left + BASE_VIEW.size, Math.max(...xs) + MARGIN);
  const bottom = Math.max(BASE_VIEW.top + BASE_VIEW.size, Math.max(...ys) + MARGIN);
  const size = Math.max(right - left, bottom - top);
  return { left: (left + right) / 2 - size / 2, top: (top + bottom) / 2 - size / 2, size };
}
const NUDGE = 0.03;
const label = (name: string): string => name.replace('_', ' ');

export function PoseEditor({ pose, onPose, title }: { pose: SmplPose; onPose: (p: SmplPose) => void; title: string }) {
  const svg = useRef<SVGSVGElement>(null);
  const [joint, setJoint] = useState<number>(J.right_wrist);
  const dragging = useRef<number | null>(null);
  const { joints } = useMemo(() => forwardKinematics(pose), [pose]);
  // the view follows the pose, except while dragging (the ground must not move under the pointer)
  const held = useRef<{ left: number; top: number; size: number } | null>(null);
  const fitted = useMemo(() => viewFor(joints), [joints]);
  const VIEW = dragging.current !== null && held.current ? held.current : fitted;
  const screen = (v: Vec3): [number, number] => [v[0], -v[1]];

  const toWorld = (e: PointerEvent): [number, number] => {
    const r = svg.current!.getBoundingClientRect();
    const x = VIEW.left + ((e.clientX - r.left) / r.width) * VIEW.size;
    const y = VIEW.top + ((e.clientY - r.top) / r.height) * VIEW.size;
    return [x, -y];
  };
  const down = (j: number) => (e: PointerEvent) => {
    setJoint(j);
    dragging.current = j;
    held.current = VIEW;
    svg.current!.setPointerCapture(e.pointerId);
    e.preventDefault();
    e.stopPropagation();
  };
  const move = (e: PointerEvent) => {
    if (dragging.current === null) return;
    onPose(dragJoint(pose, dragging.current, toWorld(e)));
  };
  const key = (j: number) => (e: KeyboardEvent) => {
    const d: Record<string, [number, number]> = {
      ArrowLeft: [-NUDGE, 0], ArrowRight: [NUDGE, 0], ArrowUp: [0, NUDGE], ArrowDown: [0, -NUDGE],
    };
    const v = d[e.key];
    if (!v) return;
    e.preventDefault();
    onPose(dragJoint(pose, j, [joints[j][0] + v[0], joints[j][1] + v[1]]));
  };
  const degrees = jointDegrees(pose, joint);

  return (
    <fieldset className="pose">
      <legend>{title}</legend>
      <div className="pose-row">
        <label htmlFor="preset">Preset</label>
        <select id="preset" defaultValue="" onChange={(e) => e.target.value && onPose({ ...presetPose(e.target.value), betas: pose.betas })}>
          <option value="">Choose…</option>
          {PRESET_NAMES.map((p) => <option key={p} value={p}>{label(p)}</option>)}
        </select>
        <label htmlFor="height">Height</label>
        <input id="height" type="range" min={-3} max={3} step={0.1} value={pose.betas[0]}
          onChange={(e) => onPose({ ...pose, betas: [Number(e.target.value), ...pose.betas.slice(1)] })} />
      </div>
      <svg ref={svg} className="skeleton" viewBox={`${VIEW.left} ${VIEW.top} ${VIEW.size} ${VIEW.size}`}
        onPointerMove={move} onPointerUp={() => (dragging.current = null)} onPointerCancel={() => (dragging.current = null)}
        role="group" aria-label="Skeleton: drag a joint, or focus it and use the arrow keys" data-testid="skeleton">
        {BONES.map(([a, b]) => {
          const [x1, y1] = screen(joints[a]);
          const [x2, y2] = screen(joints[b]);
          return <line key={`${a}-${b}`} x1={x1} y1={y1} x2={x2} y2={y2} className="bone" />;
        })}
        {joints.map((p, j) => {
          const [x, y] = screen(p);
          return (
            <circle key={j} cx={x} cy={y} r={j === joint ? 0.045 : 0.032} tabIndex={0} role="button"
              className={j === joint ? 'joint on' : 'joint'} aria-label={`${label(JOINT_NAMES[j])} joint`}
              data-joint={JOINT_NAMES[j]} onPointerDown={down(j)} onKeyDown={key(j)} onFocus={() => setJoint(j)} />
          );
        })}
      </svg>
      <div className="joint-sliders" aria-label={`Rotation of the ${label(JOINT_NAMES[joint])}`} role="group">
        <p>{label(JOINT_NAMES[joint])} rotation (axis-angle, degrees)</p>
        {(['x', 'y', 'z'] as const).map((axis, k) => (
          <label key={axis}>
            {axis}
            <input type="range" min={-180} max={180} step={1} value={Math.round(degrees[k])}
              onChange={(e) => {
                const next = [...degrees] as Vec3;
                next[k] = Number(e.target.value);
                onPose(setJointDegrees(pose, joint, next));
              }} />
            <output>{Math.round(degrees[k])}°</output>
          </label>
        ))}
      </div>
    </fieldset>
  );
}
