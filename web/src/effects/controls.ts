// The effects panel's controls: which ops it offers, their sliders, and the chain they make, with
// every parameter written out as the renderer (index.ts) and the server (effects/chain.py) expect.

import type { Op } from './chain';

export interface Slider { key: string; label: string; min: number; max: number; step: number }
export interface Control { op: Op['op']; label: string; defaults: Op; sliders: Slider[] }

export const CONTROLS: Control[] = [
  { op: 'exposure', label: 'Exposure', defaults: { op: 'exposure', stops: 0 },
    sliders: [{ key: 'stops', label: 'stops', min: -3, max: 3, step: 0.05 }] },
  { op: 'contrast', label: 'Contrast', defaults: { op: 'contrast', amount: 1, pivot: 0.5 },
    sliders: [{ key: 'amount', label: 'amount', min: 0, max: 2, step: 0.01 }] },
  { op: 'saturation', label: 'Saturation', defaults: { op: 'saturation', amount: 1 },
    sliders: [{ key: 'amount', label: 'amount', min: 0, max: 2, step: 0.01 }] },
  { op: 'temperature', label: 'Temperature', defaults: { op: 'temperature', warmth: 0, tint: 0 },
    sliders: [{ key: 'warmth', label: 'warmth', min: -1, max: 1, step: 0.01 }, { key: 'tint', label: 'tint', min: -1, max: 1, step: 0.01 }] },
  { op: 'vignette', label: 'Vignette', defaults: { op: 'vignette', amount: 0.5, radius: 0.5, softness: 0.5 },
    sliders: [{ key: 'amount', label: 'amount', min: 0, max: 1, step: 0.01 }, { key: 'radius', label: 'radius', min: 0, max: 1.5, step: 0.01 }] },
  { op: 'bloom', label: 'Bloom', defaults: { op: 'bloom', strength: 0.6, threshold: 0.7, radius: 0.03 },
    sliders: [{ key: 'strength', label: 'strength', min: 0, max: 3, step: 0.01 }, { key: 'threshold', label: 'threshold', min: 0, max: 1, step: 0.01 }] },
  { op: 'grain', label: 'Grain', defaults: { op: 'grain', amount: 0.08, size: 1.5, seed: 0, animated: false },
    sliders: [{ key: 'amount', label: 'amount', min: 0, max: 0.5, step: 0.005 }] },
  { op: 'fog', label: 'Fog', defaults: { op: 'fog', density: 1.5, start: 0.2, colour: [0.8, 0.84, 0.9] },
    sliders: [{ key: 'density', label: 'density', min: 0, max: 10, step: 0.05 }, { key: 'start', label: 'start', min: 0, max: 1, step: 0.01 }] },
  { op: 'relight', label: 'Relight',
    defaults: { op: 'relight', azimuth: 45, elevation: 35, strength: 0.6, ambient: 0.3, colour: [1, 0.95, 0.85], normal_strength: 1 },
    sliders: [{ key: 'azimuth', label: 'azimuth', min: 0, max: 360, step: 1 }, { key: 'strength', label: 'strength', min: 0, max: 1, step: 0.01 }] },
];

export interface PanelState { enabled: Record<string, boolean>; values: Record<string, Op> }

export function initialPanel(): PanelState {
  return {
    enabled: Object.fromEntries(CONTROLS.map((c) => [c.op, false])),
    values: Object.fromEntries(CONTROLS.map((c) => [c.op, { ...c.defaults }])),
  };
}

/** The chain of the enabled ops, in the panel's order. */
export function panelChain(state: PanelState): Op[] {
  return CONTROLS.filter((c) => state.enabled[c.op]).map((c) => ({ ...state.values[c.op] }) as Op);
}

/** Sets one parameter, clamped to its slider's range. */
export function setParam(state: PanelState, op: string, key: string, value: number): PanelState {
  const control = CONTROLS.find((c) => c.op === op);
  const slider = control?.sliders.find((s) => s.key === key);
  if (!control || !slider || !Number.isFinite(value)) return state;
  const v = Math.min(slider.max, Math.max(slider.min, value));
  return { enabled: { ...state.enabled, [op]: true }, values: { ...state.values, [op]: { ...state.values[op], [key]: v } as Op } };
}
