// The subjects' boxes over the context scene: drag a box to move it, a handle to resize it; with the
// keyboard, focus a box and use the arrows (Shift + arrows resizes).

import { useRef, type KeyboardEvent, type PointerEvent } from 'react';
import { dragBox, HANDLES, handlePoint, hitTest, keyEdit, type Box, type Grip } from '../geometry/boxes';
import type { StudioSubject } from '../state/studio';

const HUES = [200, 20, 130, 280, 50, 330, 170, 90];
const HANDLE_PX = 12;

interface Props {
  subjects: StudioSubject[];
  selected: number | null;
  sceneUrl: string | null;
  onSelect: (index: number | null) => void;
  onBox: (index: number, box: Box) => void;
}

export function BoxCanvas({ subjects, selected, sceneUrl, onSelect, onBox }: Props) {
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
    <div className="stage">
      {sceneUrl ? <img src={sceneUrl} alt="Context scene" /> : <div className="stage-empty" aria-hidden="true" />}
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
