// Built-in LUT presets, the same functions as grading.py's LUT_PRESETS, sampled on a 17³ lattice.

import type { LutPreset } from './chain';

export const PRESET_LUT_SIZE = 17;
const LUMA = [0.2126, 0.7152, 0.0722];
type Rgb = [number, number, number];
const smooth = (x: number): number => x * x * (3 - 2 * x);
const y709 = (r: number, g: number, b: number): number => LUMA[0] * r + LUMA[1] * g + LUMA[2] * b;

const PRESETS: Record<LutPreset, (r: number, g: number, b: number) => Rgb> = {
  teal_orange: (r, g, b) => {
    const shift = (y709(r, g, b) - 0.5) * 0.25; // + in highlights, - in shadows
    return [r + shift, g + 0.1 * shift, b - 0.9 * shift];
  },
  sepia: (r, g, b) => [
    0.393 * r + 0.769 * g + 0.189 * b,
    0.349 * r + 0.686 * g + 0.168 * b,
    0.272 * r + 0.534 * g + 0.131 * b,
  ],
  bleach_bypass: (r, g, b) => {
    const y = y709(r, g, b);
    return [r, g, b].map((c) => (c + (y - c) * 0.6 - 0.5) * 1.2 + 0.5) as Rgb;
  },
  cross_process: (r, g, b) => [smooth(r), g * 0.9 + 0.1 * smooth(g), 0.1 + 0.8 * b],
};

/** The preset's lattice as RGBA float32 texels, red fastest, then green, then blue. */
export function presetLattice(name: LutPreset, n: number = PRESET_LUT_SIZE): Float32Array {
  const out = new Float32Array(n * n * n * 4);
  const clamp = (x: number): number => Math.min(1, Math.max(0, Math.fround(x)));
  for (let b = 0; b < n; b++) {
    for (let g = 0; g < n; g++) {
      for (let r = 0; r < n; r++) {
        const rgb = PRESETS[name](r / (n - 1), g / (n - 1), b / (n - 1));
        const i = ((b * n + g) * n + r) * 4;
        out.set([clamp(rgb[0]), clamp(rgb[1]), clamp(rgb[2]), 1], i);
      }
    }
  }
  return out;
}
