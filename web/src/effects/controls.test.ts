import { describe, expect, it } from 'vitest';
import { CONTROLS, initialPanel, panelChain, setChoice, setParam } from './controls';

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
  it('offers all fourteen ops of the server (effects/chain.py OP_TYPES)', () => {
    expect(CONTROLS.map((c) => c.op).sort()).toEqual([
      'bloom', 'chromatic_aberration', 'contrast', 'depth_of_field', 'exposure', 'fog', 'grain', 'lut', 'motion_blur',
      'particles', 'relight', 'saturation', 'temperature', 'vignette',
    ]);
  });
  it('choices turn their op on and refuse what the server would', () => {
    const p = setChoice(initialPanel(), 'lut', 'preset', 'sepia');
    expect(panelChain(p)).toEqual([{ op: 'lut', preset: 'sepia', size: null, table: null, strength: 1 }]);
    expect(setChoice(p, 'lut', 'preset', 'neon')).toBe(p);
  });
});
