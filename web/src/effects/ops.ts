// The ops as WebGL2 passes, step for step the torch kernels of src/scenecraft/effects/
// (grading.py, lens.py, light.py, particles.py, estimate.py, filters.py).

import type {
  Bloom, ChromaticAberration, Contrast, DepthOfField, Exposure, Fog, Grain, Lut, MotionBlur, Op,
  ParticleKindName, Particles, Relight, Saturation, Temperature, Vignette,
} from './chain';
import type { Gpu, Tex } from './gl';
import { presetLattice } from './presets';

export interface Context {
  gpu: Gpu;
  width: number;
  height: number;
  time: number;
  depth: () => Tex; // (r = depth) 0 near .. 1 far
  normals: () => Tex; // xyz = unit normal (x right, y up, z towards the viewer)
}

const MAX_LEVEL_SIGMA = 3.0;

/** filters.pyramid_levels: halve (ceil) while the blur left exceeds 3 px and a side exceeds 8 px. */
export function pyramidLevels(height: number, width: number, sigma: number): [number, number][] {
  const sizes: [number, number][] = [[height, width]];
  while (sigma / 2 ** (sizes.length - 1) > MAX_LEVEL_SIGMA && Math.max(...sizes[sizes.length - 1]) > 8) {
    const [h, w] = sizes[sizes.length - 1];
    sizes.push([Math.ceil(h / 2), Math.ceil(w / 2)]);
  }
  return sizes;
}

/** filters.pyramid_blur: halving pyramid, separable Gaussian at the coarse level, bilinear upsample. */
export function pyramidBlur(gpu: Gpu, src: Tex, sigma: number): Tex {
  const { width, height } = src;
  if (sigma < 0.05) return gpu.run('resize', width, height, { uSrc: src }, { uOutSize: { i: [width, height] } });
  const sizes = pyramidLevels(height, width, sigma);
  let x = src;
  const step = (next: Tex): void => {
    if (x !== src) gpu.free(x);
    x = next;
  };
  for (const [h, w] of sizes.slice(1)) step(gpu.run('resize', w, h, { uSrc: x }, { uOutSize: { i: [w, h] } }));
  const [h, w] = sizes[sizes.length - 1];
  const sx = (sigma * w) / width;
  const sy = (sigma * h) / height;
  if (sx >= 0.05) step(gpu.run('gaussian', w, h, { uSrc: x }, { uAxis: { i: [1, 0] }, uSigma: { f: sx } }));
  if (sy >= 0.05) step(gpu.run('gaussian', w, h, { uSrc: x }, { uAxis: { i: [0, 1] }, uSigma: { f: sy } }));
  step(gpu.run('resize', width, height, { uSrc: x }, { uOutSize: { i: [width, height] } }));
  return x;
}

function temperatureGains(op: Temperature): number[] {
  const r = 1 + 0.3 * op.warmth;
  const g = 1 - 0.2 * op.tint;
  const b = 1 - 0.3 * op.warmth;
  const norm = 0.2126 * r + 0.7152 * g + 0.0722 * b;
  return [r / norm, g / norm, b / norm];
}

function lutLattice(op: Lut): [number, Float32Array] {
  if (op.preset !== null) {
    const data = presetLattice(op.preset);
    return [Math.round(Math.cbrt(data.length / 4)), data];
  }
  const n = op.size!;
  const data = new Float32Array(n * n * n * 4);
  op.table!.forEach((rgb, i) => data.set([rgb[0], rgb[1], rgb[2], 1], i * 4));
  return [n, data];
}

/** lens.MotionBlur.passes: (dx1, dy1, dx2, dy2) per pass, 2^k taps over [-L/2, L/2]. */
export function motionPasses(op: MotionBlur, height: number, width: number): number[][] {
  const length = op.length * Math.max(height, width);
  if (length < 0.5) return [];
  const k = Math.min(7, Math.max(1, Math.ceil(Math.log2(length + 1))));
  const step = length / (2 ** k - 1);
  const rad = (op.angle * Math.PI) / 180;
  const ux = Math.cos(rad);
  const uy = -Math.sin(rad);
  const start = -0.5 * length;
  const out = [[start * ux, start * uy, (start + step) * ux, (start + step) * uy]];
  for (let j = 1; j < k; j++) out.push([0, 0, 2 ** j * step * ux, 2 ** j * step * uy]);
  return out;
}

// particles.KINDS
interface Kind {
  id: number; cell: number; velocity: [number, number]; windGain: number; streak: boolean;
  sigmaAlong: number; sigmaAcross: number; minWidthPx: number; sway: number; swayHz: number;
  flicker: number; flickerHz: number; additive: boolean; alpha: number; colour: [number, number, number];
}
const KINDS: Record<ParticleKindName, Kind> = {
  rain: {
    id: 0, cell: 0.06, velocity: [0.0, 2.0], windGain: 0.5,
    streak: true, sigmaAlong: 0.15, sigmaAcross: 0.012, minWidthPx: 0.6,
    sway: 0.0, swayHz: 0.0, flicker: 0.0, flickerHz: 0.0,
    additive: false, alpha: 0.6, colour: [0.75, 0.8, 0.9],
  },
  snow: {
    id: 1, cell: 0.05, velocity: [0.0, 0.12], windGain: 0.3,
    streak: false, sigmaAlong: 0.07, sigmaAcross: 0.07, minWidthPx: 0.7,
    sway: 0.12, swayHz: 0.5, flicker: 0.0, flickerHz: 0.0,
    additive: false, alpha: 0.9, colour: [1.0, 1.0, 1.0],
  },
  sparks: {
    id: 2, cell: 0.07, velocity: [0.0, -0.35], windGain: 0.3,
    streak: true, sigmaAlong: 0.1, sigmaAcross: 0.02, minWidthPx: 0.6,
    sway: 0.05, swayHz: 2.0, flicker: 0.5, flickerHz: 3.0,
    additive: true, alpha: 1.0, colour: [1.0, 0.6, 0.2],
  },
  dust: {
    id: 3, cell: 0.04, velocity: [0.02, -0.01], windGain: 0.05,
    streak: false, sigmaAlong: 0.04, sigmaAcross: 0.04, minWidthPx: 0.6,
    sway: 0.1, swayHz: 0.2, flicker: 0.4, flickerHz: 0.7,
    additive: true, alpha: 0.5, colour: [1.0, 0.95, 0.85],
  },
};
const LAYERS = 3;
const MAX_SIGMA = 0.14;
const BOX_SIGMAS = 3.5;
const MAX_BOX = 0.49;

function particles(op: Particles, src: Tex, ctx: Context): Tex {
  const spec = KINDS[op.kind];
  const t = ctx.time;
  let x = src;
  for (let layer = 0; layer < LAYERS; layer++) {
    const scale = 0.6 + 0.4 * layer;
    const cell = spec.cell * op.size * scale;
    const vx = (spec.velocity[0] + spec.windGain * op.wind) * op.speed * scale;
    const vy = spec.velocity[1] * op.speed * scale;
    const cellPx = cell * ctx.height;
    const norm = Math.hypot(vx, vy);
    const [ux, uy] = norm > 0 ? [vx / norm, vy / norm] : [0, 1];
    const sAlong = Math.min(MAX_SIGMA, Math.max(spec.sigmaAlong, spec.minWidthPx / cellPx));
    const sAcross = Math.min(MAX_SIGMA, Math.max(spec.sigmaAcross, spec.minWidthPx / cellPx));
    // particles.layer_geometry: the footprint's 3.5-sigma box
    const box = spec.streak
      ? [BOX_SIGMAS * Math.hypot(sAlong * ux, sAcross * uy), BOX_SIGMAS * Math.hypot(sAlong * uy, sAcross * ux)]
      : [BOX_SIGMAS * sAlong, BOX_SIGMAS * sAlong];
    const next = ctx.gpu.run('particles', ctx.width, ctx.height, { uSrc: x }, {
      uFullHeight: { f: ctx.height },
      uCell: { f: cell },
      uShift: { f: [vx * t, vy * t] },
      uSeed: { u: (op.seed + 1013 * layer + 7919 * spec.id) % 2 ** 32 },
      uDensity: { f: op.density },
      uMargin: { f: spec.sway + 0.05 },
      uSway: { f: spec.sway },
      uSwayT: { f: spec.swayHz * t },
      uFlicker: { f: spec.flicker },
      uFlickerT: { f: spec.flickerHz * t },
      uStreak: { b: spec.streak },
      uSAlong: { f: sAlong },
      uSAcross: { f: sAcross },
      uDir: { f: [ux, uy] },
      uBox: { f: box.map((b) => Math.min(MAX_BOX, b)) },
      uAlpha: { f: spec.alpha * op.opacity * (0.5 + 0.25 * layer) },
      uColour: { f: op.colour ?? spec.colour },
      uAdditive: { b: spec.additive },
    });
    if (x !== src) ctx.gpu.free(x);
    x = next;
  }
  const out = ctx.gpu.run('clamp01', ctx.width, ctx.height, { uSrc: x });
  ctx.gpu.free(x);
  return out;
}

type Kernel<T> = (op: T, src: Tex, ctx: Context) => Tex;

export const KERNELS: { [K in Op['op']]: Kernel<Extract<Op, { op: K }>> } = {
  exposure: (op: Exposure, src, { gpu, width, height }) =>
    gpu.run('exposure', width, height, { uSrc: src }, { uGain: { f: 2 ** op.stops } }),
  contrast: (op: Contrast, src, { gpu, width, height }) =>
    gpu.run('contrast', width, height, { uSrc: src }, { uAmount: { f: op.amount }, uPivot: { f: op.pivot } }),
  saturation: (op: Saturation, src, { gpu, width, height }) =>
    gpu.run('saturation', width, height, { uSrc: src }, { uAmount: { f: op.amount } }),
  temperature: (op: Temperature, src, { gpu, width, height }) =>
    gpu.run('temperature', width, height, { uSrc: src }, { uGains: { f: temperatureGains(op) } }),
  lut: (op: Lut, src, { gpu, width, height }) => {
    const [n, data] = lutLattice(op);
    const lattice = gpu.texture3d(n, data);
    const out = gpu.run('lut', width, height, { uSrc: src, uLut: { texture3d: lattice } },
      { uStrength: { f: op.strength } });
    gpu.free(lattice);
    return out;
  },
  vignette: (op: Vignette, src, { gpu, width, height }) =>
    gpu.run('vignette', width, height, { uSrc: src }, {
      uSize: { f: [width, height] }, uAmount: { f: op.amount }, uRadius: { f: op.radius },
      uSoftness: { f: op.softness },
    }),
  grain: (op: Grain, src, { gpu, width, height, time }) => {
    const frame = op.animated ? Math.floor(time * 24) : 0;
    const seed = (op.seed + frame * 0x9e3779b9) % 2 ** 32;
    return gpu.run('grain', width, height, { uSrc: src }, {
      uAmount: { f: op.amount }, uCell: { f: op.size }, uSeed: { u: seed },
    });
  },
  chromatic_aberration: (op: ChromaticAberration, src, { gpu, width, height }) =>
    gpu.run('chromatic_aberration', width, height, { uSrc: src }, { uAmount: { f: op.amount } }),
  bloom: (op: Bloom, src, { gpu, width, height }) => {
    const bright = gpu.run('threshold', width, height, { uSrc: src }, { uThreshold: { f: op.threshold } });
    const glow = pyramidBlur(gpu, bright, op.radius * Math.max(width, height));
    gpu.free(bright);
    const out = gpu.run('add_scaled', width, height, { uSrc: src, uAdd: glow }, { uScale: { f: op.strength } });
    gpu.free(glow);
    return out;
  },
  motion_blur: (op: MotionBlur, src, { gpu, width, height }) => {
    let x = src;
    for (const [dx1, dy1, dx2, dy2] of motionPasses(op, height, width)) {
      const next = gpu.run('motion_pass', width, height, { uSrc: x }, { uD1: { f: [dx1, dy1] }, uD2: { f: [dx2, dy2] } });
      if (x !== src) gpu.free(x);
      x = next;
    }
    return x === src ? gpu.run('clamp01', width, height, { uSrc: src }) : x;
  },
  depth_of_field: (op: DepthOfField, src, ctx) => {
    const { gpu, width, height } = ctx;
    const sigma = op.max_blur * Math.max(width, height);
    const blurs = [1, 2, 3].map((level) => pyramidBlur(gpu, src, (sigma * level) / 3));
    const out = gpu.run('depth_of_field', width, height,
      { uSrc: src, uDepth: ctx.depth(), uBlur1: blurs[0], uBlur2: blurs[1], uBlur3: blurs[2] },
      { uFocus: { f: op.focus }, uRange: { f: op.range }, uTransition: { f: op.transition } });
    blurs.forEach((b) => gpu.free(b));
    return out;
  },
  relight: (op: Relight, src, ctx) => {
    const a = (op.azimuth * Math.PI) / 180;
    const e = (op.elevation * Math.PI) / 180;
    return ctx.gpu.run('relight', ctx.width, ctx.height, { uSrc: src, uNormals: ctx.normals() }, {
      uLight: { f: [Math.cos(e) * Math.cos(a), Math.cos(e) * Math.sin(a), Math.sin(e)] },
      uStrength: { f: op.strength }, uAmbient: { f: op.ambient }, uColour: { f: op.colour },
      uNormalStrength: { f: op.normal_strength },
    });
  },
  fog: (op: Fog, src, ctx) =>
    ctx.gpu.run('fog', ctx.width, ctx.height, { uSrc: src, uDepth: ctx.depth() }, {
      uDensity: { f: op.density }, uStart: { f: op.start }, uColour: { f: op.colour },
    }),
  particles,
};

/** estimate.estimate_depth: 0.7 (1 - v) + 0.3 blur(1 - chroma, max(H, W) / 64). */
export function estimateDepth(gpu: Gpu, src: Tex): Tex {
  const haze = gpu.run('haze', src.width, src.height, { uSrc: src });
  const blurred = pyramidBlur(gpu, haze, Math.max(src.width, src.height) / 64);
  gpu.free(haze);
  const depth = gpu.run('depth_from_haze', src.width, src.height, { uHaze: blurred });
  gpu.free(blurred);
  return depth;
}

/** estimate.estimate_normals: blurred luma as a height field, k = max(H, W) / 64, after a blur of max(H, W) / 256 px. */
export function estimateNormals(gpu: Gpu, src: Tex): Tex {
  const size = Math.max(src.width, src.height);
  const y = gpu.run('luma', src.width, src.height, { uSrc: src });
  const h = pyramidBlur(gpu, y, Math.max(1, size / 256));
  gpu.free(y);
  const normals = gpu.run('normals_from_height', src.width, src.height, { uHeight: h }, { uK: { f: size / 64 } });
  gpu.free(h);
  return normals;
}
