import { describe, expect, it } from 'vitest';
import { CONTROLS, initialPanel, panelChain, setParam } from './controls';

describe('effects panel state', () => {
  it('starts with no effect on', () => expect(panelChain(initialPanel())).toEqual([]));
  it('moving a slider turns its op on, clamps, and writes every parameter', () => {
    let p = setParam(initialPanel(), 'exposure', 'stops', 9);
    p = setParam(p, 'vignette', 'amount', 0.4);
    expect(panelChain(p)).toEqual([
      { op: 'exposure', stops: 3 },
      { op: 'vignette', amount: 0.4, radius: 0.5, softness: 0.5 },
    ]);
    expect(setParam(p, 'exposure', 'nonsense', 1)).toBe(p);
  });
  it('offers each op once, with defaults inside its sliders', () => {
    expect(new Set(CONTROLS.map((c) => c.op)).size).toBe(CONTROLS.length);
    for (const c of CONTROLS) {
      for (const s of c.sliders) {
        const v = (c.defaults as unknown as Record<string, number>)[s.key];
        expect(v).toBeGreaterThanOrEqual(s.min);
        expect(v).toBeLessThanOrEqual(s.max);
      }
    }
  });
});
