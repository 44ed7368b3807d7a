// The canvas: the current image (live preview, result, or the context scene) with the subjects'
// boxes over it, and each person's pose drawn inside its own box. Drag a box to move it, a handle
// to resize it; with the keyboard, focus a box and use the arrows (Shift + arrows resizes).

import { useRef, type KeyboardEvent, type PointerEvent } from 'react';
import { dragBox, HANDLES, handlePoint, hitTest, keyEdit, type Box, type Grip } from '../geometry/boxes';
import { BONES, forwardKinematics, type SmplPose } from '../geometry/skeleton';
import type { StudioSubject } from '../state/studio';

/** The skeleton's joints in the box's frame units: the figure fitted to the box, feet at its bottom. */
export function poseInBox(pose: SmplPose, box: Box, aspect = 1): [number, number][] {
  const { joints } = forwardKinematics(pose);
  const xs = joints.map((j) => j[0]);
  const ys = joints.map((j) => -j[1]);
  const [minX, maxX, minY, maxY] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
  const [x0, y0, x1, y1] = box;
  const pad = 0.06;
  const w = (x1 - x0) * (1 - 2 * pad);
  const h = (y1 - y0) * (1 - 2 * pad);
  // one scale for both axes (in screen terms, so the figure keeps its proportions)
  const scale = Math.min((w * aspect) / Math.max(maxX - minX, 1e-6), h / Math.max(maxY - minY, 1e-6));
  const cx = (x0 + x1) / 2;
  const bottom = y1 - (y1 - y0) * pad;
  return joints.map((_, i) => [cx + ((xs[i] - (minX + maxX) / 2) * scale) / aspect, bottom - (maxY - ys[i]) * scale]);
}

const HUES = [200, 20, 130, 280, 50, 330, 170, 90];
const HANDLE_PX = 12;

interface Props {
  subjects: StudioSubject[];
  selected: number | null;
  imageUrl: string | null;
  imageAlt: string;
  aspect?: number; // width / height of the frame
  onSelect: (index: number | null) => void;
  onBox: (index: number, box: Box) => void;
}

export function BoxCanvas({ subjects, selected, imageUrl, imageAlt, aspect = 1, onSelect, onBox }: Props) {
  const svg = useRef<SVGSVGElement>(null);
  const drag = useRef<{ index: number; grip: Grip; x: number; y: number; box: Box } | null>(null);

  const point = (e: PointerEvent): [number, number, number, number] => {
    const r = svg.current!.getBoundingClientRect();
    return [(e.clientX - r.left) / r.width, (e.clientY - r.top) / r.height, HANDLE_PX / r.width, HANDLE_PX / r.height];
  };
  const down = (e: PointerEvent<SVGSVGElement>) => {
    const [x, y, rx, ry] = point(e);
    const hit = hitTest(subjects.map((s) => s.box), x, y, [rx, ry], selected);
    if (!hit) {
      onSelect(null);
      return;
    }
    onSelect(hit.index);
    drag.current = { ...hit, x, y, box: subjects[hit.index].box };
    svg.current!.setPointerCapture(e.pointerId);
    e.preventDefault();
  };
  const move = (e: PointerEvent<SVGSVGElement>) => {
    const d = drag.current;
    if (!d) return;
    const [x, y] = point(e);
    onBox(d.index, dragBox(d.box, d.grip, x - d.x, y - d.y));
  };
  const up = () => {
    drag.current = null;
  };
  const key = (index: number) => (e: KeyboardEvent) => {
    const next = keyEdit(subjects[index].box, e.key, e.shiftKey);
    if (next) {
      e.preventDefault();
      onBox(index, next);
    }
  };

  return (
    <div className="stage" style={{ aspectRatio: String(aspect) }}>
      {imageUrl ? <img src={imageUrl} alt={imageAlt} /> : <div className="stage-empty" aria-hidden="true" />}
      <svg ref={svg} viewBox="0 0 100 100" preserveAspectRatio="none" role="group"
        aria-label="Subject layout: drag boxes to move, handles to resize; arrow keys move the focused box, Shift+arrows resize it"
        onPointerDown={down} onPointerMove={move} onPointerUp={up} onPointerCancel={up} data-testid="box-canvas">
        {subjects.map((s, i) => {
          const [x0, y0, x1, y1] = s.box;
          const hue = HUES[i % HUES.length];
          const on = i === selected;
          return (
            <g key={s.id} tabIndex={0} role="button" className={on ? 'box on' : 'box'} onKeyDown={key(i)}
              onFocus={() => onSelect(i)} data-testid={`box-${i}`}
              aria-label={`Subject ${i + 1} box${s.prompt ? ` (${s.prompt})` : ''}: from ${Math.round(x0 * 100)}%, ${Math.round(y0 * 100)}% to ${Math.round(x1 * 100)}%, ${Math.round(y1 * 100)}%`}>
              <rect x={x0 * 100} y={y0 * 100} width={(x1 - x0) * 100} height={(y1 - y0) * 100}
                fill={`hsla(${hue}, 80%, 55%, 0.18)`} stroke={`hsl(${hue}, 85%, ${on ? 70 : 55}%)`}
                strokeWidth={on ? 0.9 : 0.6} vectorEffect="non-scaling-stroke" />
              <text x={x0 * 100 + 1.2} y={y0 * 100 + 5} className="box-label">{i + 1}</text>
              {s.person && s.pose && (() => {
                const pts = poseInBox(s.pose, s.box, aspect);
                return (
                  <g className="box-pose" aria-hidden="true" data-testid={`box-pose-${i}`}>
                    {BONES.map(([a, b]) => (
                      <line key={`${a}-${b}`} x1={pts[a][0] * 100} y1={pts[a][1] * 100} x2={pts[b][0] * 100} y2={pts[b][1] * 100} />
                    ))}
                  </g>
                );
              })()}
              {on && HANDLES.map((h) => {
                const [hx, hy] = handlePoint(s.box, h);
                return <rect key={h} className="handle" x={hx * 100 - 1.5} y={hy * 100 - 1.5} width={3} height={3} />;
              })}
            </g>
          );
        })}
      </svg>
    </div>
  );
}
