// WebGL2 plumbing for the effects passes: float textures, cached programs, one full-screen draw per pass.

import { SHADERS, VERTEX, type ShaderName } from './glsl';

export type Uniform =
  | { f: number | number[] }
  | { i: number | number[] }
  | { u: number }
  | { b: boolean };

/** A float RGBA texture with its size; freed by the pass runner when no longer referenced. */
export interface Tex {
  texture: WebGLTexture;
  width: number;
  height: number;
}

export class Gpu {
  readonly gl: WebGL2RenderingContext;
  private programs = new Map<ShaderName, WebGLProgram>();
  private framebuffer: WebGLFramebuffer;
  private vao: WebGLVertexArrayObject;

  constructor(gl: WebGL2RenderingContext) {
    this.gl = gl;
    if (!gl.getExtension('EXT_color_buffer_float')) {
      throw new Error('WebGL2 EXT_color_buffer_float is required (float render targets)');
    }
    this.framebuffer = gl.createFramebuffer()!;
    this.vao = gl.createVertexArray()!;
  }

  /** A float32 RGBA texture from data (length width * height * 4) or empty. */
  texture(width: number, height: number, data: Float32Array | null = null): Tex {
    const gl = this.gl;
    const texture = gl.createTexture()!;
    gl.bindTexture(gl.TEXTURE_2D, texture);
    gl.pixelStorei(gl.UNPACK_ALIGNMENT, 1);
    gl.texImage2D(gl.TEXTURE_2D, 0, gl.RGBA32F, width, height, 0, gl.RGBA, gl.FLOAT, data);
    for (const p of [gl.TEXTURE_MIN_FILTER, gl.TEXTURE_MAG_FILTER]) gl.texParameteri(gl.TEXTURE_2D, p, gl.NEAREST);
    for (const p of [gl.TEXTURE_WRAP_S, gl.TEXTURE_WRAP_T]) gl.texParameteri(gl.TEXTURE_2D, p, gl.CLAMP_TO_EDGE);
    return { texture, width, height };
  }

  /** A float32 RGBA 3-D texture of n³ texels (x fastest), for LUTs. */
  texture3d(n: number, data: Float32Array): WebGLTexture {
    const gl = this.gl;
    const texture = gl.createTexture()!;
    gl.bindTexture(gl.TEXTURE_3D, texture);
    gl.texImage3D(gl.TEXTURE_3D, 0, gl.RGBA32F, n, n, n, 0, gl.RGBA, gl.FLOAT, data);
    for (const p of [gl.TEXTURE_MIN_FILTER, gl.TEXTURE_MAG_FILTER]) gl.texParameteri(gl.TEXTURE_3D, p, gl.NEAREST);
    return texture;
  }

  free(tex: Tex | WebGLTexture): void {
    this.gl.deleteTexture('texture' in tex ? tex.texture : tex);
  }

  private program(name: ShaderName): WebGLProgram {
    const cached = this.programs.get(name);
    if (cached) return cached;
    const gl = this.gl;
    const compile = (type: number, source: string): WebGLShader => {
      const shader = gl.createShader(type)!;
      gl.shaderSource(shader, source);
      gl.compileShader(shader);
      if (!gl.getShaderParameter(shader, gl.COMPILE_STATUS)) {
        throw new Error(`shader ${name} failed to compile: ${gl.getShaderInfoLog(shader)}`);
      }
      return shader;
    };
    const program = gl.createProgram()!;
    gl.attachShader(program, compile(gl.VERTEX_SHADER, VERTEX));
    gl.attachShader(program, compile(gl.FRAGMENT_SHADER, SHADERS[name]));
    gl.linkProgram(program);
    if (!gl.getProgramParameter(program, gl.LINK_STATUS)) {
      throw new Error(`shader ${name} failed to link: ${gl.getProgramInfoLog(program)}`);
    }
    this.programs.set(name, program);
    return program;
  }

  /**
   * Run one pass into a new texture of the given size. `textures` binds sampler uniforms
   * (2-D textures, or raw WebGLTextures for 3-D samplers); `uniforms` sets the rest.
   */
  run(
    name: ShaderName,
    width: number,
    height: number,
    textures: Record<string, Tex | { texture3d: WebGLTexture }>,
    uniforms: Record<string, Uniform> = {},
  ): Tex {
    const gl = this.gl;
    const out = this.texture(width, height);
    const program = this.program(name);
    gl.useProgram(program);
    gl.bindFramebuffer(gl.FRAMEBUFFER, this.framebuffer);
    gl.framebufferTexture2D(gl.FRAMEBUFFER, gl.COLOR_ATTACHMENT0, gl.TEXTURE_2D, out.texture, 0);
    gl.viewport(0, 0, width, height);
    let unit = 0;
    for (const [uniform, tex] of Object.entries(textures)) {
      gl.activeTexture(gl.TEXTURE0 + unit);
      if ('texture3d' in tex) gl.bindTexture(gl.TEXTURE_3D, tex.texture3d);
      else gl.bindTexture(gl.TEXTURE_2D, tex.texture);
      gl.uniform1i(gl.getUniformLocation(program, uniform), unit);
      unit += 1;
    }
    for (const [uniform, value] of Object.entries(uniforms)) {
      const loc = gl.getUniformLocation(program, uniform);
      if (loc === null) throw new Error(`shader ${name} has no uniform ${uniform}`);
      if ('f' in value) {
        const v = typeof value.f === 'number' ? [value.f] : value.f;
        [gl.uniform1fv, gl.uniform2fv, gl.uniform3fv, gl.uniform4fv][v.length - 1].call(gl, loc, v);
      } else if ('i' in value) {
        const v = typeof value.i === 'number' ? [value.i] : value.i;
        [gl.uniform1iv, gl.uniform2iv, gl.uniform3iv, gl.uniform4iv][v.length - 1].call(gl, loc, v);
      } else if ('u' in value) {
        gl.uniform1ui(loc, value.u >>> 0);
      } else {
        gl.uniform1i(loc, value.b ? 1 : 0);
      }
    }
    gl.bindVertexArray(this.vao);
    gl.drawArrays(gl.TRIANGLES, 0, 3);
    return out;
  }

  /** Read a texture back as float32 RGBA, rows in image order (row 0 = top). */
  read(tex: Tex): Float32Array {
    const gl = this.gl;
    gl.bindFramebuffer(gl.FRAMEBUFFER, this.framebuffer);
    gl.framebufferTexture2D(gl.FRAMEBUFFER, gl.COLOR_ATTACHMENT0, gl.TEXTURE_2D, tex.texture, 0);
    const out = new Float32Array(tex.width * tex.height * 4);
    gl.readPixels(0, 0, tex.width, tex.height, gl.RGBA, gl.FLOAT, out);
    return out;
  }
}
