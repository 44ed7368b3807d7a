import { describe, expect, it } from 'vitest';
import { defaultBox, dragBox, hitTest, isValidBox, keyEdit, MIN_SIZE, moveBox, resizeBox, type Box } from './boxes';

const box: Box = [0.2, 0.3, 0.5, 0.7];
const close = (a: number[], b: number[]) => a.forEach((v, i) => expect(v).toBeCloseTo(b[i], 4));

describe('moving a box', () => {
  it('moves by the drag', () => close(moveBox(box, 0.1, -0.1), [0.3, 0.2, 0.6, 0.6]));
  it('stops at the frame without changing size', () => {
    close(moveBox(box, 0.9, 0.9), [0.7, 0.6, 1.0, 1.0]);
    close(moveBox(box, -0.9, -0.9), [0.0, 0.0, 0.3, 0.4]);
  });
});

describe('resizing a box', () => {
  it('moves only the dragged edges', () => {
    close(resizeBox(box, 'se', 0.1, 0.1), [0.2, 0.3, 0.6, 0.8]);
    close(resizeBox(box, 'nw', -0.1, -0.1), [0.1, 0.2, 0.5, 0.7]);
    close(resizeBox(box, 'e', 0.1, 0.5), [0.2, 0.3, 0.6, 0.7]); // a side handle ignores the other axis
    close(resizeBox(box, 'n', 0.5, 0.1), [0.2, 0.4, 0.5, 0.7]);
  });
  it('never inverts and keeps the minimum size', () => {
    const r = resizeBox(box, 'se', -1, -1);
    expect(r[2] - r[0]).toBeCloseTo(MIN_SIZE, 6);
    expect(r[3] - r[1]).toBeCloseTo(MIN_SIZE, 6);
    const l = resizeBox(box, 'w', 1, 0);
    expect(l[2] - l[0]).toBeCloseTo(MIN_SIZE, 6);
    expect(isValidBox(r) && isValidBox(l)).toBe(true);
  });
  it('stays inside the frame', () => close(resizeBox(box, 'ne', 2, -2), [0.2, 0, 1, 0.7]));
  it('dragBox dispatches on the grip', () => {
    expect(dragBox(box, 'move', 0.1, 0)).toEqual(moveBox(box, 0.1, 0));
    expect(dragBox(box, 'sw', 0.1, 0)).toEqual(resizeBox(box, 'sw', 0.1, 0));
  });
});

describe('hit testing', () => {
  const boxes: Box[] = [[0.1, 0.1, 0.5, 0.5], [0.3, 0.3, 0.8, 0.8]];
  const reach: [number, number] = [0.02, 0.02];
  it('finds a corner handle before the inside', () => {
    expect(hitTest(boxes, 0.805, 0.795, reach)).toEqual({ index: 1, grip: 'se' });
    expect(hitTest(boxes, 0.3, 0.55, reach)).toEqual({ index: 1, grip: 'w' });
  });
  it('picks the topmost box where they overlap, unless one is selected', () => {
    expect(hitTest(boxes, 0.4, 0.4, reach)).toEqual({ index: 1, grip: 'move' });
    expect(hitTest(boxes, 0.4, 0.4, reach, 0)).toEqual({ index: 0, grip: 'move' });
  });
  it('misses outside every box', () => expect(hitTest(boxes, 0.95, 0.05, reach)).toBeNull());
});

describe('keyboard and defaults', () => {
  it('arrows move, shift+arrows resize, other keys do nothing', () => {
    close(keyEdit(box, 'ArrowRight', false)!, [0.21, 0.3, 0.51, 0.7]);
    close(keyEdit(box, 'ArrowDown', true)!, [0.2, 0.3, 0.5, 0.71]);
    expect(keyEdit(box, 'a', false)).toBeNull();
  });
  it('default boxes are valid and distinct for eight subjects', () => {
    const all = Array.from({ length: 8 }, (_, i) => defaultBox(i));
    expect(all.every(isValidBox)).toBe(true);
    expect(new Set(all.map((b) => b.join())).size).toBe(8);
  });
  it('rejects inverted and out-of-frame boxes', () => {
    expect(isValidBox([0.5, 0.1, 0.4, 0.2])).toBe(false);
    expect(isValidBox([0, 0, 1.1, 1])).toBe(false);
  });
});
