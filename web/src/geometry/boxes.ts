// Subject boxes on the canvas: [x0, y0, x1, y1] in 0..1 of the frame (y down), as the jobs API
// takes them. Every edit returns a new box that is ordered, inside the frame and at least MIN_SIZE
// on each side, so whatever the pointer does the request stays valid.

export type Box = [number, number, number, number];
export type Handle = 'nw' | 'n' | 'ne' | 'e' | 'se' | 's' | 'sw' | 'w';
export type Grip = Handle | 'move';

export const MIN_SIZE = 0.05;
export const HANDLES: readonly Handle[] = ['nw', 'n', 'ne', 'e', 'se', 's', 'sw', 'w'];

const clamp = (x: number, lo: number, hi: number): number => Math.min(hi, Math.max(lo, x));
const round = (x: number): number => Math.round(x * 10000) / 10000;

/** The box rounded to 4 decimals (what the request carries). */
export function tidy(box: Box): Box {
  return box.map(round) as Box;
}

/** Moves the box by (dx, dy), stopping at the frame's edges; its size never changes. */
export function moveBox(box: Box, dx: number, dy: number): Box {
  const [x0, y0, x1, y1] = box;
  const mx = clamp(dx, -x0, 1 - x1);
  const my = clamp(dy, -y0, 1 - y1);
  return tidy([x0 + mx, y0 + my, x1 + mx, y1 + my]);
}

/** Drags one handle by (dx, dy): the opposite edges stay; sides stop at MIN_SIZE and the frame. */
export function resizeBox(box: Box, handle: Handle, dx: number, dy: number): Box {
  let [x0, y0, x1, y1] = box;
  if (handle.includes('w')) x0 = clamp(x0 + dx, 0, x1 - MIN_SIZE);
  if (handle.includes('e')) x1 = clamp(x1 + dx, x0 + MIN_SIZE, 1);
  if (handle.startsWith('n')) y0 = clamp(y0 + dy, 0, y1 - MIN_SIZE);
  if (handle.startsWith('s')) y1 = clamp(y1 + dy, y0 + MIN_SIZE, 1);
  return tidy([x0, y0, x1, y1]);
}

/** Applies a drag of a grip: 'move' moves, a handle resizes. */
export function dragBox(box: Box, grip: Grip, dx: number, dy: number): Box {
  return grip === 'move' ? moveBox(box, dx, dy) : resizeBox(box, grip, dx, dy);
}

/** Where a handle sits, in frame units. */
export function handlePoint(box: Box, handle: Handle): [number, number] {
  const [x0, y0, x1, y1] = box;
  const x = handle.includes('w') ? x0 : handle.includes('e') ? x1 : (x0 + x1) / 2;
  const y = handle.startsWith('n') ? y0 : handle.startsWith('s') ? y1 : (y0 + y1) / 2;
  return [x, y];
}

/**
 * What the pointer at (x, y) grabs: the topmost box (the last drawn) whose handle is within
 * `reach` (frame units, per axis) or whose inside holds the point. The selected box is tested first,
 * so its handles stay reachable where boxes overlap.
 */
export function hitTest(
  boxes: readonly (Box | null)[], x: number, y: number, reach: [number, number], selected: number | null = null,
): { index: number; grip: Grip } | null {
  const order = boxes.map((_, i) => i).reverse();
  if (selected !== null && boxes[selected]) order.unshift(selected);
  for (const i of order) {
    const box = boxes[i];
    if (!box) continue;
    for (const h of HANDLES) {
      const [hx, hy] = handlePoint(box, h);
      if (Math.abs(hx - x) <= reach[0] && Math.abs(hy - y) <= reach[1]) return { index: i, grip: h };
    }
  }
  for (const i of order) {
    const box = boxes[i];
    if (box && x >= box[0] && x <= box[2] && y >= box[1] && y <= box[3]) return { index: i, grip: 'move' };
  }
  return null;
}

/** A fresh box for the n-th subject: side by side across the frame, then cascading. */
export function defaultBox(n: number): Box {
  const column = n % 3;
  const row = Math.floor(n / 3) % 3;
  const x0 = 0.06 + 0.31 * column;
  const y0 = 0.2 + 0.08 * row;
  return tidy([x0, y0, x0 + 0.26, y0 + 0.6]);
}

/** A keyboard step: arrows move the box, with Shift they grow or shrink its right/bottom edges. */
export function keyEdit(box: Box, key: string, shift: boolean, step = 0.01): Box | null {
  const d: Record<string, [number, number]> = {
    ArrowLeft: [-step, 0], ArrowRight: [step, 0], ArrowUp: [0, -step], ArrowDown: [0, step],
  };
  const v = d[key];
  if (!v) return null;
  return shift ? resizeBox(box, 'se', v[0], v[1]) : moveBox(box, v[0], v[1]);
}

/** Is it a box the API accepts (ordered, inside the frame)? */
export function isValidBox(box: Box): boolean {
  const [x0, y0, x1, y1] = box;
  return [x0, y0, x1, y1].every((v) => v >= 0 && v <= 1) && x0 < x1 && y0 < y1;
}
