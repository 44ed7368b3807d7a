// What the chosen model can do, so the studio only offers honest choices: sizes, steps, samplers,
// guidance, negative prompt. From `GET /v1/models` where the server has it; otherwise from the
// server's own request bounds in `/openapi.json` (JobCreate), which describe the one bundled model.

export interface ModelInfo {
  id: string;
  family: string;
  default: boolean;
  params: number;
  dtype: string;
  native_size: [number, number];
  default_size?: [number, number]; // a job's size when it names none (the bundled model: 2x native, upsampled)
  size: { min: number; max: number; multiple_of: number };
  square_only?: boolean; // added beside the agreed shape: width must equal height
  steps: { min: number; max: number; default: number };
  samplers: string[];
  guidance: { default: number };
  capabilities: {
    text: boolean; negative_prompt: boolean; context_scene: boolean; inpaint: boolean;
    regional_subjects: boolean; pose: boolean; image_prompt: boolean;
  };
  variants: { id: string; steps: number; passes_per_step: number; default: boolean }[];
}

export interface ModelCatalogue {
  models: ModelInfo[];
  source: 'models' | 'openapi'; // where the facts came from (shown to the user)
  squareOnly: boolean; // the server makes square images only
}

interface JsonSchema {
  minimum?: number; maximum?: number; multipleOf?: number; default?: unknown; enum?: unknown[];
  const?: unknown; anyOf?: JsonSchema[]; $ref?: string; description?: string;
}

const plain = (s: JsonSchema | undefined): JsonSchema => s?.anyOf?.find((x) => x.minimum !== undefined || x.enum) ?? s ?? {};

/** The models described by an OpenAPI document's JobCreate schema (a server without /v1/models). */
export function modelsFromOpenApi(spec: { components?: { schemas?: Record<string, { properties?: Record<string, JsonSchema> }> } }): ModelCatalogue {
  const props = spec.components?.schemas?.JobCreate?.properties;
  if (!props) throw new Error('The server describes no JobCreate request: is this a scenecraft server?');
  const width = plain(props.width);
  const steps = plain(props.steps);
  const model = plain(props.model);
  const sampler = plain(props.sampler);
  const ids = (model.enum as string[] | undefined) ?? (model.const ? [String(model.const)] : [String(props.model?.default ?? 'default')]);
  const samplers = (sampler.enum as string[] | undefined) ?? [String(props.sampler?.default ?? 'euler')];
  const preferred = String(props.sampler?.default ?? samplers[0]);
  const native = Number(props.width?.default ?? width.default ?? 64);
  const info = (id: string, i: number): ModelInfo => ({
    id, family: 'bundled', default: i === 0, params: 0, dtype: 'float32', native_size: [native, native],
    size: { min: width.minimum ?? 32, max: width.maximum ?? 1024, multiple_of: width.multipleOf ?? 8 },
    steps: { min: steps.minimum ?? 1, max: steps.maximum ?? 200, default: Number(props.steps?.default ?? 20) },
    // the preferred sampler first: it is the default the server uses
    samplers: [preferred, ...samplers.filter((s) => s !== preferred)],
    guidance: { default: Number(props.guidance?.default ?? 3) },
    capabilities: {
      text: true, negative_prompt: false, context_scene: 'scene_asset_id' in props, inpaint: 'inpaint' in props,
      regional_subjects: 'subjects' in props, pose: 'subjects' in props, image_prompt: false,
    },
    variants: [],
  });
  // a server without /v1/models is one whose engine makes square images only (JobCreate checks it)
  return { models: ids.map(info), source: 'openapi', squareOnly: true };
}

/** The long side the studio starts a model at: its default size (the server's), else its native one. */
export function preferredSize(m: ModelInfo): number {
  return (m.default_size ?? m.native_size)[0];
}

/** Sizes to offer: powers of two, the native and the default size inside the model's bounds. */
export function sizeChoices(m: ModelInfo): number[] {
  const out = new Set<number>();
  for (let s = 16; s <= m.size.max; s *= 2) if (s >= m.size.min && s % m.size.multiple_of === 0) out.add(s);
  out.add(m.native_size[0]);
  out.add(preferredSize(m));
  return [...out].sort((a, b) => a - b);
}

export const ASPECTS: { id: string; w: number; h: number }[] = [
  { id: '1:1', w: 1, h: 1 }, { id: '4:3', w: 4, h: 3 }, { id: '3:4', w: 3, h: 4 }, { id: '16:9', w: 16, h: 9 }, { id: '9:16', w: 9, h: 16 },
];

/** Width and height for a long side and an aspect, rounded to the model's multiple. */
export function dimensions(long: number, aspect: string, m: ModelInfo): [number, number] {
  const a = ASPECTS.find((x) => x.id === aspect) ?? ASPECTS[0];
  const round = (v: number) => Math.max(m.size.min, Math.round(v / m.size.multiple_of) * m.size.multiple_of);
  return a.w >= a.h ? [long, round((long * a.h) / a.w)] : [round((long * a.w) / a.h), long];
}

/** A warning when a size is far from what the model was trained at (or upsamples to), else null. */
export function sizeWarning(m: ModelInfo, size: number): string | null {
  const native = m.native_size[0];
  const best = preferredSize(m);
  if (best !== native && size === native) return `${m.id} upsamples its ${native}×${native} images to ${best}×${best} by default: ${native} px shows them as sampled.`;
  if (size > best * 1.5) return `${m.id} was trained at ${native}×${native}: bigger images take much longer and look worse.`;
  if (size < native / 1.5) return `${m.id} was trained at ${native}×${native}: smaller images lose detail.`;
  return null;
}

/** Loads the catalogue: /v1/models, or the OpenAPI bounds when that route is not there (404). */
export async function loadModels(fetcher: (path: string) => Promise<Response> = (p) => fetch(p, { credentials: 'same-origin' })): Promise<ModelCatalogue> {
  const r = await fetcher('/v1/models');
  if (r.ok) {
    const body = (await r.json()) as { models: ModelInfo[] };
    if (!Array.isArray(body.models) || body.models.length === 0) throw new Error('The server lists no models.');
    return { models: body.models, source: 'models', squareOnly: false };
  }
  if (r.status !== 404) throw new Error(`The model list could not be read (${r.status}).`);
  const spec = await fetcher('/openapi.json');
  if (!spec.ok) throw new Error(`The server's limits could not be read (${spec.status}).`);
  return modelsFromOpenApi(await spec.json());
}
