import { describe, expect, it } from 'vitest';
import { dimensions, loadModels, modelsFromOpenApi, preferredSize, sizeChoices, sizeWarning, type ModelInfo } from './models';

// The shape agreed for GET /v1/models (issue 14), one model as a server would list it.
const LISTED: ModelInfo = {
  id: 'pixart-sigma', family: 'pixart', default: true, params: 600_000_000, dtype: 'float16', native_size: [512, 512],
  size: { min: 256, max: 1024, multiple_of: 64 }, steps: { min: 1, max: 50, default: 20 }, samplers: ['dpm++', 'euler'],
  guidance: { default: 4.5 },
  capabilities: { text: true, negative_prompt: true, context_scene: true, inpaint: false, regional_subjects: true, pose: false, image_prompt: false },
  variants: [],
};

const OPENAPI = {
  components: { schemas: { JobCreate: { properties: {
    width: { type: 'integer', minimum: 32, maximum: 128, multipleOf: 8, default: 64 },
    steps: { type: 'integer', minimum: 1, maximum: 200, default: 20 },
    guidance: { default: 3.0 },
    sampler: { enum: ['ddim', 'ddpm', 'euler', 'heun'], default: 'euler' },
    model: { const: 'seed-12M', default: 'seed-12M' },
    subjects: {}, scene_asset_id: { anyOf: [{ type: 'string' }, { type: 'null' }] }, inpaint: {},
  } } } },
};

const respond = (routes: Record<string, [number, unknown]>) => async (path: string) => {
  const [status, body] = routes[path] ?? [404, { detail: 'Not Found' }];
  return new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } });
};

describe('the model catalogue', () => {
  it('comes from /v1/models where the server has it', async () => {
    const c = await loadModels(respond({ '/v1/models': [200, { models: [LISTED] }] }));
    expect(c.source).toBe('models');
    expect(c.models[0]).toEqual(LISTED);
    expect(sizeChoices(LISTED)).toEqual([256, 512, 1024]);
    expect(dimensions(1024, '16:9', LISTED)).toEqual([1024, 576]);
    expect(dimensions(512, '3:4', LISTED)).toEqual([384, 512]);
  });
  it('falls back to the request bounds in /openapi.json when /v1/models is 404', async () => {
    const c = await loadModels(respond({ '/openapi.json': [200, OPENAPI] }));
    expect(c.source).toBe('openapi');
    expect(c.squareOnly).toBe(true);
    const [m] = c.models;
    expect(m).toMatchObject({
      id: 'seed-12M', native_size: [64, 64], size: { min: 32, max: 128, multiple_of: 8 },
      steps: { min: 1, max: 200, default: 20 }, samplers: ['euler', 'ddim', 'ddpm', 'heun'], guidance: { default: 3 },
    });
    expect(m.capabilities.negative_prompt).toBe(false); // not claimed: the spec cannot say it is read
    expect(sizeChoices(m)).toEqual([32, 64, 128]);
    expect(sizeWarning(m, 128)).toMatch(/trained at 64×64/);
    expect(sizeWarning(m, 64)).toBeNull();
  });
  it('starts the bundled model at its upsampled default size and says what 64 px gives', () => {
    const m: ModelInfo = { ...LISTED, id: 'seed-12M', native_size: [64, 64], default_size: [128, 128], size: { min: 32, max: 128, multiple_of: 8 } };
    expect(preferredSize(m)).toBe(128);
    expect(preferredSize(LISTED)).toBe(512); // no default_size: the native one
    expect(sizeChoices(m)).toEqual([32, 64, 128]);
    expect(sizeWarning(m, 128)).toBeNull();
    expect(sizeWarning(m, 64)).toMatch(/upsamples its 64×64 images to 128×128/);
    expect(sizeWarning(m, 32)).toMatch(/smaller images lose detail/);
  });
  it('says what went wrong otherwise', async () => {
    await expect(loadModels(respond({ '/v1/models': [500, {}] }))).rejects.toThrow(/500/);
    await expect(loadModels(respond({ '/openapi.json': [200, { components: {} }] }))).rejects.toThrow(/JobCreate/);
  });
});
