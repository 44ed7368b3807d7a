// Number fields that edit like text: what the user typed is kept as typed (clearing a field leaves
// it empty, it never snaps back to "1"), and is parsed only when it is used. A value out of bounds
// is an error shown next to its field, never silently clamped. Server 422s are mapped back to the
// field they name, in plain words.

export interface IntBounds { min: number; max: number; multipleOf?: number }

export type Parsed<T> = { ok: true; value: T } | { ok: false; error: string };

const INTEGER = /^[+]?\d+$/;
const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)$/;

/** An integer field: digits only, inside [min, max] and a multiple of `multipleOf` when given. */
export function parseInteger(text: string, label: string, b: IntBounds): Parsed<number> {
  const t = text.trim();
  if (t === '') return { ok: false, error: `${label} is empty: give a whole number from ${b.min} to ${b.max}.` };
  if (!INTEGER.test(t)) return { ok: false, error: `${label} must be a whole number, not "${t}".` };
  const value = Number(t);
  if (!Number.isSafeInteger(value) || value > b.max) return { ok: false, error: `${label} goes up to ${b.max}; ${t} is too big.` };
  if (value < b.min) return { ok: false, error: `${label} starts at ${b.min}; ${t} is too small.` };
  if (b.multipleOf && value % b.multipleOf !== 0) {
    return { ok: false, error: `${label} must be a multiple of ${b.multipleOf}, not ${t}.` };
  }
  return { ok: true, value };
}

/** A decimal field inside [min, max]. */
export function parseDecimal(text: string, label: string, min: number, max: number): Parsed<number> {
  const t = text.trim();
  if (t === '') return { ok: false, error: `${label} is empty: give a number from ${min} to ${max}.` };
  if (!DECIMAL.test(t)) return { ok: false, error: `${label} must be a number, not "${t}".` };
  const value = Number(t);
  if (value > max) return { ok: false, error: `${label} goes up to ${max}; ${t} is too big.` };
  if (value < min) return { ok: false, error: `${label} starts at ${min}; ${t} is too small.` };
  return { ok: true, value };
}

export const SEED_MAX = 2 ** 53 - 1; // the largest integer a browser's number holds exactly (server: 2^63 - 1)

/**
 * The seed field: empty means random; otherwise one seed or several separated by commas or spaces
 * (one image per seed). Each is a whole number from 0 to SEED_MAX.
 */
export function parseSeeds(text: string): Parsed<number[]> {
  const parts = text.split(/[\s,]+/).filter(Boolean);
  if (parts.length === 0) return { ok: true, value: [] };
  if (parts.length > 16) return { ok: false, error: `At most 16 seeds at once, got ${parts.length}.` };
  const seeds: number[] = [];
  for (const p of parts) {
    const r = parseInteger(p, 'A seed', { min: 0, max: SEED_MAX });
    if (!r.ok) return r;
    seeds.push(r.value);
  }
  return { ok: true, value: seeds };
}

/** A pydantic 422 `detail` item, as the API returns it. */
export interface ValidationItem { loc: (string | number)[]; msg: string; type?: string }

/** Request fields -> the studio field that edits them. */
export const FIELD_OF: Record<string, string> = {
  prompt: 'prompt', negative_prompt: 'negative', width: 'size', height: 'size', steps: 'steps',
  guidance: 'guidance', seed: 'seed', sampler: 'sampler', model: 'model', scene_asset_id: 'scene',
  subjects: 'subjects', inpaint: 'inpaint', effects: 'effects', variant: 'model',
};

const LABEL: Record<string, string> = {
  prompt: 'Prompt', negative: 'Negative prompt', size: 'Size', steps: 'Steps', guidance: 'Guidance',
  seed: 'Seed', sampler: 'Sampler', model: 'Model', scene: 'Context scene', subjects: 'Subjects',
  inpaint: 'Paint into the scene', effects: 'Effects', form: 'Request',
};

/** Pydantic's words made plain: "Input should be less than or equal to 128" -> "must be at most 128". */
export function plainWords(msg: string): string {
  return msg
    .replace(/^Value error, /, '')
    .replace(/Input should be less than or equal to (\S+)/, 'must be at most $1')
    .replace(/Input should be greater than or equal to (\S+)/, 'must be at least $1')
    .replace(/Input should be a multiple of (\S+)/, 'must be a multiple of $1')
    .replace(/Input should be a valid integer.*/, 'must be a whole number')
    .replace(/Input should be a valid number.*/, 'must be a number')
    .replace(/String should have at most (\d+) characters?/, 'must be at most $1 characters')
    .replace(/String should have at least (\d+) characters?/, 'must not be empty')
    .replace(/Input should be (.*)/, 'must be $1')
    .replace(/Extra inputs are not permitted/, 'is not accepted by this server');
}

/** Groups 422 items by studio field: {steps: 'Steps must be at most 50.'}; unknown ones go to 'form'. */
export function fieldErrors(items: ValidationItem[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of items) {
    const loc = item.loc[0] === 'body' ? item.loc.slice(1) : item.loc;
    // a check across fields has no field in its loc: the field it names comes first in its message
    const named = /^(?:Value error, )?(\w+)/.exec(item.msg)?.[1] ?? '';
    const name = typeof loc[0] === 'string' ? loc[0] : named;
    const field = FIELD_OF[name] ?? 'form';
    let where = LABEL[field];
    if (field === 'subjects' && typeof loc[1] === 'number') where = `Subject ${loc[1] + 1}${loc[2] ? ` ${loc[2]}` : ''}`;
    const text = `${where} ${plainWords(item.msg)}`.replace(/\s+/g, ' ').trim();
    out[field] = out[field] ? `${out[field]} ${text}.` : `${text}.`;
  }
  return out;
}
