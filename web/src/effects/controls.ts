// The effects panel's controls: which ops it offers, their sliders, and the chain they make, with
// every parameter written out as the renderer (index.ts) and the server (effects/chain.py) expect.

import type { Op } from './chain';

export interface Slider { key: string; label: string; min: number; max: number; step: number }
export interface Choice { key: string; label: string; options: string[] }
export interface Control { op: Op['op']; label: string; defaults: Op; sliders: Slider[]; choices?: Choice[] }

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
  { op: 'lut', label: 'Colour look', defaults: { op: 'lut', preset: 'teal_orange', size: null, table: null, strength: 1 },
    sliders: [{ key: 'strength', label: 'strength', min: 0, max: 1, step: 0.01 }],
    choices: [{ key: 'preset', label: 'look', options: ['teal_orange', 'sepia', 'bleach_bypass', 'cross_process'] }] },
  { op: 'chromatic_aberration', label: 'Chromatic aberration', defaults: { op: 'chromatic_aberration', amount: 0.005 },
    sliders: [{ key: 'amount', label: 'amount', min: 0, max: 0.03, step: 0.0005 }] },
  { op: 'motion_blur', label: 'Motion blur', defaults: { op: 'motion_blur', angle: 0, length: 0.02 },
    sliders: [{ key: 'angle', label: 'angle', min: 0, max: 360, step: 1 }, { key: 'length', label: 'length', min: 0, max: 0.1, step: 0.001 }] },
  { op: 'depth_of_field', label: 'Depth of field', defaults: { op: 'depth_of_field', focus: 0.3, range: 0.1, transition: 0.3, max_blur: 0.01 },
    sliders: [{ key: 'focus', label: 'focus', min: 0, max: 1, step: 0.01 }, { key: 'max_blur', label: 'blur', min: 0, max: 0.05, step: 0.001 }] },
  { op: 'particles', label: 'Particles',
    defaults: { op: 'particles', kind: 'rain', density: 0.5, speed: 1, size: 1, wind: 0, opacity: 0.8, colour: null, seed: 0 },
    sliders: [{ key: 'density', label: 'density', min: 0, max: 1, step: 0.01 }, { key: 'wind', label: 'wind', min: -1, max: 1, step: 0.01 }],
    choices: [{ key: 'kind', label: 'kind', options: ['rain', 'snow', 'sparks', 'dust'] }] },
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

/** Sets one choice (a LUT preset, a particle kind), turning its op on. */
export function setChoice(state: PanelState, op: string, key: string, value: string): PanelState {
  const choice = CONTROLS.find((c) => c.op === op)?.choices?.find((c) => c.key === key);
  if (!choice || !choice.options.includes(value)) return state;
  return { enabled: { ...state.enabled, [op]: true }, values: { ...state.values, [op]: { ...state.values[op], [key]: value } as Op } };
}

/** Sets one parameter, clamped to its slider's range. */
export function setParam(state: PanelState, op: string, key: string, value: number): PanelState {
  const control = CONTROLS.find((c) => c.op === op);
  const slider = control?.sliders.find((s) => s.key === key);
  if (!control || !slider || !Number.isFinite(value)) return state;
  const v = Math.min(slider.max, Math.max(slider.min, value));
  return { enabled: { ...state.enabled, [op]: true }, values: { ...state.values, [op]: { ...state.values[op], [key]: v } as Op } };
}
