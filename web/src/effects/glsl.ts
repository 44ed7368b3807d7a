// GLSL ES 3.00 sources of the effects passes. Every pass reads float textures with texelFetch and
// does its own bilinear filtering, so the arithmetic is the torch renderer's (src/scenecraft/effects/):
// positions in pixel-index units (pixel i's centre at i), clamped to the image, y counted from the top
// (texture row 0 holds image row 0; nothing here depends on GL's bottom-up window convention).

export const VERTEX = `#version 300 es
// One full-screen triangle; the fragment shaders use gl_FragCoord only.
void main() {
  vec2 p = vec2(float((gl_VertexID << 1) & 2), float(gl_VertexID & 2));
  gl_Position = vec4(p * 2.0 - 1.0, 0.0, 1.0);
}`;

const PRELUDE = `#version 300 es
precision highp float;
precision highp int;
precision highp sampler2D;
precision highp sampler3D;
out vec4 outColor;

ivec2 pixel() { return ivec2(gl_FragCoord.xy); }

vec4 fetch(sampler2D t, ivec2 p) {
  ivec2 s = textureSize(t, 0);
  return texelFetch(t, clamp(p, ivec2(0), s - 1), 0);
}

// Bilinear sample at a pixel-index position, clamped to the texture (= clamp-to-edge).
vec4 bilinear(sampler2D t, vec2 pos) {
  ivec2 s = textureSize(t, 0);
  pos = clamp(pos, vec2(0.0), vec2(s - 1));
  vec2 i0 = floor(pos);
  vec2 f = pos - i0;
  ivec2 a = ivec2(i0);
  ivec2 b = min(a + 1, s - 1);
  vec4 c00 = texelFetch(t, a, 0);
  vec4 c10 = texelFetch(t, ivec2(b.x, a.y), 0);
  vec4 c01 = texelFetch(t, ivec2(a.x, b.y), 0);
  vec4 c11 = texelFetch(t, b, 0);
  return mix(mix(c00, c10, f.x), mix(c01, c11, f.x), f.y);
}

vec3 srgbToLinear(vec3 x) {
  vec3 hi = pow((max(x, 0.0) + 0.055) / 1.055, vec3(2.4));
  return mix(hi, x / 12.92, vec3(lessThanEqual(x, vec3(0.04045))));
}

vec3 linearToSrgb(vec3 x) {
  x = clamp(x, 0.0, 1.0);
  vec3 hi = 1.055 * pow(x, vec3(1.0 / 2.4)) - 0.055;
  return mix(hi, x * 12.92, vec3(lessThanEqual(x, vec3(0.0031308))));
}

float luma(vec3 c) { return 0.2126 * c.r + 0.7152 * c.g + 0.0722 * c.b; }

// lowbias32 (noise.py): the same integer hash as the torch renderer, so grain and particles match.
uint lowbias32(uint x) {
  x ^= x >> 16u;
  x *= 0x7feb352du;
  x ^= x >> 15u;
  x *= 0x846ca68bu;
  x ^= x >> 16u;
  return x;
}
uint hashCell(uint seed, int cx, int cy) {
  uint h = lowbias32(seed);
  h = lowbias32(h + uint(cx));
  return lowbias32(h + uint(cy));
}
float uniformOf(uint h, uint stream) { return float(lowbias32(h + stream) >> 8u) * (1.0 / 16777216.0); }
`;

const pass = (body: string): string => PRELUDE + body;

export const SHADERS = {
  exposure: pass(`
uniform sampler2D uSrc; uniform float uGain;
void main() {
  vec4 c = texelFetch(uSrc, pixel(), 0);
  outColor = vec4(linearToSrgb(srgbToLinear(c.rgb) * uGain), 1.0);
}`),

  contrast: pass(`
uniform sampler2D uSrc; uniform float uAmount; uniform float uPivot;
void main() {
  vec4 c = texelFetch(uSrc, pixel(), 0);
  outColor = vec4(clamp((c.rgb - uPivot) * uAmount + uPivot, 0.0, 1.0), 1.0);
}`),

  saturation: pass(`
uniform sampler2D uSrc; uniform float uAmount;
void main() {
  vec3 c = texelFetch(uSrc, pixel(), 0).rgb;
  float y = luma(c);
  outColor = vec4(clamp(y + (c - y) * uAmount, 0.0, 1.0), 1.0);
}`),

  temperature: pass(`
uniform sampler2D uSrc; uniform vec3 uGains;
void main() {
  vec3 c = texelFetch(uSrc, pixel(), 0).rgb;
  outColor = vec4(linearToSrgb(srgbToLinear(c) * uGains), 1.0);
}`),

  lut: pass(`
uniform sampler2D uSrc; uniform sampler3D uLut; uniform float uStrength;
vec3 lutAt(ivec3 i) { return texelFetch(uLut, i, 0).rgb; }
void main() {
  vec3 c = texelFetch(uSrc, pixel(), 0).rgb;
  int n = textureSize(uLut, 0).x;
  vec3 pos = clamp(c, 0.0, 1.0) * float(n - 1);  // (r, g, b) -> (x, y, z) texel coordinates
  vec3 i0 = floor(pos);
  vec3 f = pos - i0;
  ivec3 a = ivec3(i0);
  ivec3 b = min(a + 1, n - 1);
  vec3 c00 = mix(lutAt(a), lutAt(ivec3(b.x, a.y, a.z)), f.x);
  vec3 c10 = mix(lutAt(ivec3(a.x, b.y, a.z)), lutAt(ivec3(b.x, b.y, a.z)), f.x);
  vec3 c01 = mix(lutAt(ivec3(a.x, a.y, b.z)), lutAt(ivec3(b.x, a.y, b.z)), f.x);
  vec3 c11 = mix(lutAt(ivec3(a.x, b.y, b.z)), lutAt(b), f.x);
  vec3 graded = mix(mix(c00, c10, f.y), mix(c01, c11, f.y), f.z);
  outColor = vec4(mix(c, graded, uStrength), 1.0);
}`),

  vignette: pass(`
uniform sampler2D uSrc; uniform vec2 uSize; uniform float uAmount; uniform float uRadius; uniform float uSoftness;
void main() {
  ivec2 p = pixel();
  vec4 c = texelFetch(uSrc, p, 0);
  float aspect = uSize.x / uSize.y;
  float u = ((float(p.x) + 0.5) / uSize.x - 0.5) * aspect;
  float v = (float(p.y) + 0.5) / uSize.y - 0.5;
  float d = sqrt(u * u + v * v) / (0.5 * sqrt(aspect * aspect + 1.0));
  outColor = vec4(c.rgb * (1.0 - uAmount * smoothstep(uRadius, uRadius + uSoftness, d)), 1.0);
}`),

  grain: pass(`
uniform sampler2D uSrc; uniform float uAmount; uniform float uCell; uniform uint uSeed;
float latticeValue(int i, int j) {
  uint h = hashCell(uSeed, i, j);
  return uniformOf(h, 0u) + uniformOf(h, 1u) - 1.0;
}
void main() {
  ivec2 p = pixel();
  vec4 c = texelFetch(uSrc, p, 0);
  vec2 g = vec2(p) / uCell;
  vec2 i = floor(g);
  vec2 w = smoothstep(0.0, 1.0, g - i);
  ivec2 a = ivec2(i);
  float top = mix(latticeValue(a.x, a.y), latticeValue(a.x + 1, a.y), w.x);
  float bottom = mix(latticeValue(a.x, a.y + 1), latticeValue(a.x + 1, a.y + 1), w.x);
  outColor = vec4(clamp(c.rgb + uAmount * mix(top, bottom, w.y), 0.0, 1.0), 1.0);
}`),

  chromatic_aberration: pass(`
uniform sampler2D uSrc; uniform float uAmount;
void main() {
  ivec2 p = pixel();
  vec2 s = vec2(textureSize(uSrc, 0));
  vec2 centre = (s - 1.0) / 2.0;
  vec4 c = texelFetch(uSrc, p, 0);
  float r = bilinear(uSrc, centre + (vec2(p) - centre) / (1.0 + uAmount)).r;
  float b = bilinear(uSrc, centre + (vec2(p) - centre) / (1.0 - uAmount)).b;
  outColor = vec4(r, c.g, b, 1.0);
}`),

  // Bloom's bright pass and composite.
  threshold: pass(`
uniform sampler2D uSrc; uniform float uThreshold;
void main() { outColor = vec4(max(texelFetch(uSrc, pixel(), 0).rgb - uThreshold, 0.0), 1.0); }`),

  add_scaled: pass(`
uniform sampler2D uSrc; uniform sampler2D uAdd; uniform float uScale;
void main() {
  ivec2 p = pixel();
  outColor = vec4(clamp(texelFetch(uSrc, p, 0).rgb + uScale * texelFetch(uAdd, p, 0).rgb, 0.0, 1.0), 1.0);
}`),

  // Bilinear resize with half-pixel centres (torch's interpolate(align_corners=False)).
  resize: pass(`
uniform sampler2D uSrc; uniform ivec2 uOutSize;
void main() {
  vec2 scale = vec2(textureSize(uSrc, 0)) / vec2(uOutSize);
  vec2 pos = max((vec2(pixel()) + 0.5) * scale - 0.5, 0.0);
  outColor = bilinear(uSrc, pos);
}`),

  // One axis of a separable Gaussian (weights exp(-i²/2σ²), radius ceil(3σ), normalised), edges replicated.
  gaussian: pass(`
uniform sampler2D uSrc; uniform ivec2 uAxis; uniform float uSigma;
void main() {
  ivec2 p = pixel();
  int radius = max(1, int(ceil(3.0 * uSigma)));
  vec4 sum = vec4(0.0);
  float total = 0.0;
  for (int i = -radius; i <= radius; i++) {
    float w = exp(-float(i * i) / (2.0 * uSigma * uSigma));
    sum += w * fetch(uSrc, p + i * uAxis);
    total += w;
  }
  outColor = sum / total;
}`),

  motion_pass: pass(`
uniform sampler2D uSrc; uniform vec2 uD1; uniform vec2 uD2;
void main() {
  vec2 p = vec2(pixel());
  outColor = 0.5 * (bilinear(uSrc, p + uD1) + bilinear(uSrc, p + uD2));
}`),

  depth_of_field: pass(`
uniform sampler2D uSrc; uniform sampler2D uDepth;
uniform sampler2D uBlur1; uniform sampler2D uBlur2; uniform sampler2D uBlur3;
uniform float uFocus; uniform float uRange; uniform float uTransition;
void main() {
  ivec2 p = pixel();
  float d = texelFetch(uDepth, p, 0).r;
  float coc = clamp((abs(d - uFocus) - uRange) / uTransition, 0.0, 1.0) * 3.0;
  vec3 c = texelFetch(uSrc, p, 0).rgb * max(1.0 - coc, 0.0);
  c += max(1.0 - abs(coc - 1.0), 0.0) * texelFetch(uBlur1, p, 0).rgb;
  c += max(1.0 - abs(coc - 2.0), 0.0) * texelFetch(uBlur2, p, 0).rgb;
  c += max(1.0 - abs(coc - 3.0), 0.0) * texelFetch(uBlur3, p, 0).rgb;
  outColor = vec4(clamp(c, 0.0, 1.0), 1.0);
}`),

  relight: pass(`
uniform sampler2D uSrc; uniform sampler2D uNormals;
uniform vec3 uLight; uniform float uStrength; uniform float uAmbient; uniform vec3 uColour; uniform float uNormalStrength;
void main() {
  ivec2 p = pixel();
  vec3 n = texelFetch(uNormals, p, 0).xyz;
  n = vec3(n.xy * uNormalStrength, n.z);
  n = n / max(length(n), 1e-6);
  float lambert = max(dot(n, uLight), 0.0);
  vec3 gain = 1.0 + uStrength * (uColour * (uAmbient + (1.0 - uAmbient) * 2.0 * lambert) - 1.0);
  outColor = vec4(clamp(texelFetch(uSrc, p, 0).rgb * gain, 0.0, 1.0), 1.0);
}`),

  fog: pass(`
uniform sampler2D uSrc; uniform sampler2D uDepth; uniform float uDensity; uniform float uStart; uniform vec3 uColour;
void main() {
  ivec2 p = pixel();
  float t = 1.0 - exp(-uDensity * max(texelFetch(uDepth, p, 0).r - uStart, 0.0));
  outColor = vec4(mix(texelFetch(uSrc, p, 0).rgb, uColour, t), 1.0);
}`),

  // Depth and normal estimates (estimate.py): inputs, then the maps from their blurred versions.
  haze: pass(`
uniform sampler2D uSrc;
void main() {
  vec3 c = texelFetch(uSrc, pixel(), 0).rgb;
  float chroma = max(c.r, max(c.g, c.b)) - min(c.r, min(c.g, c.b));
  outColor = vec4(vec3(1.0 - chroma), 1.0);
}`),

  depth_from_haze: pass(`
uniform sampler2D uHaze;
void main() {
  ivec2 p = pixel();
  float v = (float(p.y) + 0.5) / float(textureSize(uHaze, 0).y);
  outColor = vec4(vec3(clamp(0.7 * (1.0 - v) + 0.3 * texelFetch(uHaze, p, 0).r, 0.0, 1.0)), 1.0);
}`),

  luma: pass(`
uniform sampler2D uSrc;
void main() { outColor = vec4(vec3(luma(texelFetch(uSrc, pixel(), 0).rgb)), 1.0); }`),

  normals_from_height: pass(`
uniform sampler2D uHeight; uniform float uK;
void main() {
  ivec2 p = pixel();
  float gx = 0.5 * (fetch(uHeight, p + ivec2(1, 0)).r - fetch(uHeight, p - ivec2(1, 0)).r);
  float gy = 0.5 * (fetch(uHeight, p + ivec2(0, 1)).r - fetch(uHeight, p - ivec2(0, 1)).r);
  outColor = vec4(normalize(vec3(-uK * gx, uK * gy, 1.0)), 1.0);
}`),

  // One parallax layer of particles (particles.py), composited over the source.
  particles: pass(`
uniform sampler2D uSrc;
uniform float uFullHeight; uniform float uCell; uniform vec2 uShift;
uniform uint uSeed; uniform float uDensity; uniform float uMargin;
uniform float uSway; uniform float uSwayT; uniform float uFlicker; uniform float uFlickerT;
uniform bool uStreak; uniform float uSAlong; uniform float uSAcross; uniform vec2 uDir; uniform vec2 uBox;
uniform float uAlpha; uniform vec3 uColour; uniform bool uAdditive;
const float TAU = 6.283185307179586;
void main() {
  ivec2 p = pixel();
  vec3 c = texelFetch(uSrc, p, 0).rgb;
  vec2 g = ((vec2(p) + 0.5) / uFullHeight - uShift) / uCell;
  vec2 cell = floor(g);
  vec2 f = g - cell;
  ivec2 own = ivec2(cell);
  ivec2 side = ivec2(f.x < 0.5 ? -1 : 1, f.y < 0.5 ? -1 : 1);
  float total = 0.0;
  for (int k = 0; k < 4; k++) {
    ivec2 o = ivec2(k & 1, k >> 1) * side;
    uint h = hashCell(uSeed, own.x + o.x, own.y + o.y);
    float exists = uniformOf(h, 0u) < uDensity ? 1.0 : 0.0;
    float phase = uniformOf(h, 3u);
    float px = uMargin + (1.0 - 2.0 * uMargin) * uniformOf(h, 1u) + uSway * sin(TAU * (uSwayT + phase));
    float py = uMargin + (1.0 - 2.0 * uMargin) * uniformOf(h, 2u);
    float weight = exists * (1.0 - uFlicker * (0.5 + 0.5 * sin(TAU * (uFlickerT + phase))));
    float dx = (f.x - float(o.x)) - px;
    float dy = (f.y - float(o.y)) - py;
    float e;
    if (uStreak) {
      float along = dx * uDir.x + dy * uDir.y;
      float across = dy * uDir.x - dx * uDir.y;
      e = (along / uSAlong) * (along / uSAlong) + (across / uSAcross) * (across / uSAcross);
    } else {
      e = (dx * dx + dy * dy) / (uSAlong * uSAlong);
    }
    if (abs(dx) <= uBox.x && abs(dy) <= uBox.y) total += weight * exp(-0.5 * e);  // 3.5-sigma box
  }
  float a = min(total, 1.0) * uAlpha;
  outColor = vec4(uAdditive ? c + a * uColour : mix(c, uColour, a), 1.0);
}`),

  clamp01: pass(`
uniform sampler2D uSrc;
void main() { outColor = vec4(clamp(texelFetch(uSrc, pixel(), 0).rgb, 0.0, 1.0), 1.0); }`),
};

export type ShaderName = keyof typeof SHADERS;
