// scenecraft effects in the browser: a WebGL2 twin of the torch renderer (src/scenecraft/effects/).
//
//   const renderer = new EffectsRenderer(canvas.getContext('webgl2')!);
//   const rgba = renderer.render(chain, { width, height, data }, { time: 0.5 });
//
// `chain` is the server-normalised chain (`Chain.to_json()`: every parameter present); `data` is
// RGBA float32 in [0, 1], row 0 at the top. depth (H*W, 0 near .. 1 far) and normals (H*W*3) are
// optional and estimated from the image when a chain needs them, as on the server.

import { USES_DEPTH, USES_NORMALS, type Op } from './chain';
import { Gpu, type Tex } from './gl';
import { KERNELS, estimateDepth, estimateNormals, type Context } from './ops';

export type { Op } from './chain';

export interface RgbaImage {
  width: number;
  height: number;
  data: Float32Array; // width * height * 4, RGBA in [0, 1], row 0 at the top
}

export interface RenderOptions {
  time?: number;
  depth?: Float32Array; // width * height
  normals?: Float32Array; // width * height * 3
}

function expand(values: Float32Array, channels: number, count: number): Float32Array {
  const out = new Float32Array(count * 4);
  for (let i = 0; i < count; i++) {
    for (let c = 0; c < channels; c++) out[i * 4 + c] = values[i * channels + c];
    out[i * 4 + 3] = 1;
  }
  return out;
}

export class EffectsRenderer {
  readonly gpu: Gpu;

  constructor(gl: WebGL2RenderingContext) {
    this.gpu = new Gpu(gl);
  }

  /** Render a chain on an image; returns RGBA float32 (alpha 1), row 0 at the top. */
  render(chain: Op[], image: RgbaImage, options: RenderOptions = {}): Float32Array {
    const { width, height } = image;
    if (image.data.length !== width * height * 4) throw new Error('image.data must hold width * height * 4 floats');
    const gpu = this.gpu;
    const owned: Tex[] = [];
    const lazy = (make: () => Tex): (() => Tex) => {
      let tex: Tex | null = null;
      return () => {
        if (tex === null) {
          tex = make();
          owned.push(tex);
        }
        return tex;
      };
    };
    const source = gpu.texture(width, height, image.data);
    owned.push(source);
    const ctx: Context = {
      gpu, width, height, time: options.time ?? 0,
      depth: lazy(() => options.depth
        ? gpu.texture(width, height, expand(options.depth, 1, width * height))
        : estimateDepth(gpu, source)),
      normals: lazy(() => options.normals
        ? gpu.texture(width, height, expand(options.normals, 3, width * height))
        : estimateNormals(gpu, source)),
    };
    // Estimate from the chain's input, before any op runs (as the torch renderer does).
    if (chain.some((op) => USES_DEPTH.has(op.op))) ctx.depth();
    if (chain.some((op) => USES_NORMALS.has(op.op))) ctx.normals();
    let x = source;
    for (const op of chain) {
      const kernel = KERNELS[op.op] as (op: Op, src: Tex, ctx: Context) => Tex;
      if (!kernel) throw new Error(`unknown op ${JSON.stringify(op.op)}`);
      const next = kernel(op, x, ctx);
      if (x !== source) gpu.free(x);
      x = next;
    }
    const out = gpu.read(x);
    if (x !== source) gpu.free(x);
    owned.forEach((t) => gpu.free(t));
    return out;
  }
}
