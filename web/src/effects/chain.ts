// The effects chain as the browser receives it: every op with all its parameters written out, as
// the server's `Chain.to_json()` (src/scenecraft/effects/chain.py) returns it. Bounds and meanings
// are documented there and in docs/effects.md; the server validates, the browser renders.

export type Colour = [number, number, number];

export interface Exposure { op: 'exposure'; stops: number }
export interface Contrast { op: 'contrast'; amount: number; pivot: number }
export interface Saturation { op: 'saturation'; amount: number }
export interface Temperature { op: 'temperature'; warmth: number; tint: number }
export type LutPreset = 'teal_orange' | 'sepia' | 'bleach_bypass' | 'cross_process';
export interface Lut {
  op: 'lut';
  preset: LutPreset | null;
  size: number | null;
  table: number[][] | null;
  strength: number;
}
export interface Vignette { op: 'vignette'; amount: number; radius: number; softness: number }
export interface Grain { op: 'grain'; amount: number; size: number; seed: number; animated: boolean }
export interface ChromaticAberration { op: 'chromatic_aberration'; amount: number }
export interface Bloom { op: 'bloom'; strength: number; threshold: number; radius: number }
export interface MotionBlur { op: 'motion_blur'; angle: number; length: number }
export interface DepthOfField {
  op: 'depth_of_field';
  focus: number;
  range: number;
  transition: number;
  max_blur: number;
}
export interface Relight {
  op: 'relight';
  azimuth: number;
  elevation: number;
  strength: number;
  ambient: number;
  colour: Colour;
  normal_strength: number;
}
export interface Fog { op: 'fog'; density: number; start: number; colour: Colour }
export type ParticleKindName = 'rain' | 'snow' | 'sparks' | 'dust';
export interface Particles {
  op: 'particles';
  kind: ParticleKindName;
  density: number;
  speed: number;
  size: number;
  wind: number;
  opacity: number;
  colour: Colour | null;
  seed: number;
}

export type Op =
  | Exposure | Contrast | Saturation | Temperature | Lut
  | Vignette | Grain | ChromaticAberration | Bloom | MotionBlur | DepthOfField
  | Relight | Fog | Particles;

export const USES_DEPTH: ReadonlySet<Op['op']> = new Set(['depth_of_field', 'fog']);
export const USES_NORMALS: ReadonlySet<Op['op']> = new Set(['relight']);
