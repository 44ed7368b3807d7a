// Renders effects chains with the WebGL2 renderer (web/src/effects/) in headless Chromium.
//
//   node tests/effects_parity.mjs JOB_DIR
//
// JOB_DIR/job.json: {"width": W, "height": H, "input": "input.f32", "depth": "depth.f32",
// "normals": "normals.f32", "cases": [{"name", "chain", "time", "scene"}]} where input.f32 is the image as
// float32 RGBA, row 0 at the top, and depth (H*W) and normals (H*W*3) are float32 scene maps that the
// cases with "scene": true pass to the renderer instead of letting it estimate them. Writes JOB_DIR/<name>.f32 (float32
// RGBA, same layout) per case and JOB_DIR/webgl.json (renderer string, per-case milliseconds).
// Driven by tests/effects/test_webgl_parity.py and benchmarks/effects_parity.py, which compare the
// outputs with the torch renderer's.

import { readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
const jobDir = process.argv[2];
if (!jobDir) {
  console.error('usage: node tests/effects_parity.mjs JOB_DIR');
  process.exit(2);
}
const job = JSON.parse(await readFile(join(jobDir, 'job.json'), 'utf8'));
const input = await readFile(join(jobDir, job.input));
const depth = job.depth ? await readFile(join(jobDir, job.depth)) : Buffer.alloc(0);
const normals = job.normals ? await readFile(join(jobDir, job.normals)) : Buffer.alloc(0);

const bundle = await build({
  entryPoints: [join(here, '..', 'src', 'effects', 'index.ts')],
  bundle: true,
  format: 'iife',
  globalName: 'ScenecraftEffects',
  write: false,
  logLevel: 'silent',
});

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
  // --disable-gpu: WebGL2 then runs on SwiftShader (software), which newer Chromium only allows
  // with --enable-unsafe-swiftshader.
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
    '--enable-unsafe-swiftshader'],
});
try {
  const page = await browser.newPage();
  page.on('pageerror', (err) => console.error('page error:', err.message));
  await page.setContent('<!doctype html><canvas id="c" width="1" height="1"></canvas>');
  await page.addScriptTag({ content: bundle.outputFiles[0].text });
  const renderer = await page.evaluate(({ b64, depthB64, normalsB64, width, height }) => {
    const floats = (s) => new Float32Array(Uint8Array.from(atob(s), (c) => c.charCodeAt(0)).buffer);
    const gl = document.getElementById('c').getContext('webgl2');
    if (!gl) throw new Error('no WebGL2 context');
    window.job = { width, height, data: floats(b64) };
    window.scene = { depth: floats(depthB64), normals: floats(normalsB64) };
    window.renderer = new ScenecraftEffects.EffectsRenderer(gl);
    const info = gl.getExtension('WEBGL_debug_renderer_info');
    return info ? gl.getParameter(info.UNMASKED_RENDERER_WEBGL) : gl.getParameter(gl.RENDERER);
  }, {
    b64: input.toString('base64'), depthB64: depth.toString('base64'), normalsB64: normals.toString('base64'),
    width: job.width, height: job.height,
  });

  const timings = {};
  for (const c of job.cases) {
    const result = await page.evaluate(({ chain, time, scene }) => {
      const start = performance.now();
      const options = scene ? { time, ...window.scene } : { time };
      const out = window.renderer.render(chain, window.job, options);
      const ms = performance.now() - start;
      const bytes = new Uint8Array(out.buffer);
      let s = '';
      for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
      return { b64: btoa(s), ms };
    }, { chain: c.chain, time: c.time ?? 0, scene: Boolean(c.scene) });
    await writeFile(join(jobDir, `${c.name}.f32`), Buffer.from(result.b64, 'base64'));
    timings[c.name] = result.ms;
  }
  await writeFile(join(jobDir, 'webgl.json'), JSON.stringify({ renderer, ms: timings }, null, 2));
  console.log(`rendered ${job.cases.length} cases on ${renderer}`);
} finally {
  await browser.close();
}
