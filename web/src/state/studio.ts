// The studio's state: the prompt, the context scene, the subjects and the settings, as a pure
// reducer; the jobs requests built from it (src/scenecraft/api/schemas.py: JobCreate, Subject,
// Pose); and the way back, from a stored request (gallery, dropped PNG) to a state.
// Number settings are kept as the user typed them (see fields.ts) and parsed when sent.

import { defaultBox, isValidBox, tidy, type Box } from '../geometry/boxes';
import { poseForRequest, presetPose, type SmplPose } from '../geometry/skeleton';
import { parseDecimal, parseInteger, parseSeeds } from './fields';
import { dimensions, type ModelInfo } from './models';

export const MATERIALS = [
  'wood', 'marble', 'brushed_metal', 'chrome', 'brick', 'grass', 'sand', 'fabric', 'rubber', 'glass', 'plastic',
] as const; // world/spec.py OBJECT_MATERIALS
export const COLOURS = [
  'red', 'orange', 'yellow', 'green', 'blue', 'purple', 'pink', 'white', 'black', 'gray', 'brown', 'cyan',
] as const; // world/spec.py COLOUR_NAMES
export const MAX_SUBJECTS = 8;
export const MAX_BATCH = 4;

export interface StudioSubject {
  id: number;
  prompt: string;
  material: string; // '' = no hint
  colour: string; // '' = no hint
  box: Box;
  person: boolean;
  pose: SmplPose | null; // set when person
}

/** The settings as typed: text for number fields, so nothing typed is ever rewritten. */
export interface StudioSettings {
  model: string; // '' = the server's default
  sampler: string; // '' = the model's first
  size: number; // the long side
  aspect: string; // '1:1', '4:3', ...
  steps: string;
  guidance: string;
  seeds: string; // '' = random; '7' or '7, 8, 9'
  batch: string; // images per Generate when no seeds are given
  negative: string;
}

export interface StudioState {
  prompt: string;
  sceneAssetId: string | null;
  subjects: StudioSubject[];
  selected: number | null; // index into subjects
  nextId: number;
  settings: StudioSettings;
  inpaint: boolean; // paint the subjects into the scene, inside their boxes
}

export const initialSettings: StudioSettings = {
  model: '', sampler: '', size: 128, aspect: '1:1', steps: '20', guidance: '3', seeds: '', batch: '1', negative: '',
};

export const initialStudio: StudioState = {
  prompt: '', sceneAssetId: null, subjects: [], selected: null, nextId: 1, settings: initialSettings, inpaint: false,
};

export type StudioAction =
  | { type: 'prompt'; prompt: string }
  | { type: 'scene'; assetId: string | null }
  | { type: 'settings'; patch: Partial<StudioSettings> }
  | { type: 'inpaint'; on: boolean }
  | { type: 'add'; person?: boolean }
  | { type: 'remove'; index: number }
  | { type: 'select'; index: number | null }
  | { type: 'update'; index: number; patch: Partial<Omit<StudioSubject, 'id'>> }
  | { type: 'box'; index: number; box: Box }
  | { type: 'pose'; index: number; pose: SmplPose }
  | { type: 'load'; state: StudioState };

/** A fresh box: people stand (tall), things sit lower and squarer. */
export function subjectBox(n: number, person: boolean): Box {
  const b = defaultBox(n);
  if (person) return b;
  return tidy([b[0], b[1] + 0.25, b[2], b[1] + 0.25 + (b[2] - b[0]) * 1.05]);
}

export function studioReducer(state: StudioState, action: StudioAction): StudioState {
  const subjects = state.subjects;
  const at = (i: number): boolean => i >= 0 && i < subjects.length;
  switch (action.type) {
    case 'prompt':
      return { ...state, prompt: action.prompt };
    case 'scene':
      return { ...state, sceneAssetId: action.assetId, inpaint: action.assetId ? state.inpaint : false };
    case 'settings':
      return { ...state, settings: { ...state.settings, ...action.patch } };
    case 'inpaint':
      return { ...state, inpaint: action.on };
    case 'add': {
      if (subjects.length >= MAX_SUBJECTS) return state;
      const person = action.person ?? false;
      const subject: StudioSubject = {
        id: state.nextId, prompt: person ? 'a person' : '', material: '', colour: '',
        box: subjectBox(subjects.length, person), person, pose: person ? presetPose('stand') : null,
      };
      return { ...state, subjects: [...subjects, subject], selected: subjects.length, nextId: state.nextId + 1 };
    }
    case 'remove': {
      if (!at(action.index)) return state;
      const rest = subjects.filter((_, i) => i !== action.index);
      let selected = state.selected;
      if (selected !== null) selected = selected === action.index ? null : selected > action.index ? selected - 1 : selected;
      return { ...state, subjects: rest, selected };
    }
    case 'select':
      return { ...state, selected: action.index !== null && at(action.index) ? action.index : null };
    case 'update': {
      if (!at(action.index)) return state;
      const patch = { ...action.patch };
      if (patch.person === true && !subjects[action.index].pose && !patch.pose) patch.pose = presetPose('stand');
      if (patch.person === false) patch.pose = null;
      return { ...state, subjects: subjects.map((s, i) => (i === action.index ? { ...s, ...patch } : s)) };
    }
    case 'box':
      if (!at(action.index) || !isValidBox(action.box)) return state;
      return { ...state, subjects: subjects.map((s, i) => (i === action.index ? { ...s, box: action.box } : s)) };
    case 'pose':
      if (!at(action.index) || !subjects[action.index].person) return state;
      return { ...state, subjects: subjects.map((s, i) => (i === action.index ? { ...s, pose: action.pose } : s)) };
    case 'load':
      return action.state;
  }
}

/** A subject's prompt with its hints: "a chair, red, wood". */
export function subjectPrompt(s: StudioSubject): string {
  const hints = [s.colour, s.material.replace('_', ' ')].filter(Boolean);
  return [s.prompt.trim(), ...hints].join(', ');
}

export interface JobRequest {
  prompt: string;
  negative_prompt?: string;
  width: number;
  height: number;
  steps: number;
  guidance: number;
  sampler?: string;
  model?: string;
  seed?: number;
  scene_asset_id?: string;
  inpaint?: boolean;
  subjects: { prompt: string; box: Box; pose?: SmplPose }[];
}

export type Built = { ok: true; requests: JobRequest[] } | { ok: false; errors: Record<string, string> };

/**
 * The POST /v1/jobs bodies for the state and the chosen model: one per seed (or `batch` with
 * random seeds), or the errors by field ("steps": "Steps goes up to 50; 100000 is too big.").
 */
export function buildRequests(state: StudioState, model: ModelInfo | null): Built {
  const errors: Record<string, string> = {};
  const s = state.settings;
  if (!state.prompt.trim()) errors.prompt = 'Write a prompt first.';
  const blank = state.subjects.findIndex((x) => !x.prompt.trim());
  if (blank >= 0) errors.subjects = `Subject ${blank + 1} needs a prompt.`;
  if (state.inpaint && !state.sceneAssetId) errors.inpaint = 'Painting into the scene needs a context scene.';
  else if (state.inpaint && state.subjects.length === 0) errors.inpaint = 'Painting into the scene needs a subject: its box is where it paints.';
  const stepBounds = model ? { min: model.steps.min, max: model.steps.max } : { min: 1, max: 200 };
  const steps = parseInteger(s.steps, 'Steps', stepBounds);
  if (!steps.ok) errors.steps = steps.error;
  const guidance = parseDecimal(s.guidance, 'Guidance', 0, 30);
  if (!guidance.ok) errors.guidance = guidance.error;
  const seeds = parseSeeds(s.seeds);
  if (!seeds.ok) errors.seed = seeds.error;
  const batch = parseInteger(s.batch, 'Images', { min: 1, max: MAX_BATCH });
  if (!batch.ok) errors.batch = batch.error;
  if (model && (s.size < model.size.min || s.size > model.size.max)) {
    errors.size = `${model.id} makes sizes from ${model.size.min} to ${model.size.max} px.`;
  }
  if (s.negative.trim() && model && !model.capabilities.negative_prompt) {
    errors.negative = `${model.id} does not read a negative prompt: clear it, or pick a model that does.`;
  }
  if (!steps.ok || !guidance.ok || !seeds.ok || !batch.ok || Object.keys(errors).length) return { ok: false, errors };
  const aspect = model?.square_only ? '1:1' : s.aspect; // a square-only model ignores a leftover aspect
  const [width, height] = model ? dimensions(s.size, aspect, model) : [s.size, s.size];
  const base: JobRequest = {
    prompt: state.prompt.trim(),
    width,
    height,
    steps: steps.value,
    guidance: guidance.value,
    subjects: state.subjects.map((x) => ({
      prompt: subjectPrompt(x),
      box: x.box,
      ...(x.person && x.pose ? { pose: poseForRequest(x.pose) } : {}),
    })),
  };
  if (s.model) base.model = s.model;
  if (s.sampler) base.sampler = s.sampler;
  if (s.negative.trim()) base.negative_prompt = s.negative.trim();
  if (state.sceneAssetId) base.scene_asset_id = state.sceneAssetId;
  if (state.sceneAssetId && state.inpaint) base.inpaint = true;
  const requests = seeds.value.length
    ? seeds.value.map((seed) => ({ ...base, seed }))
    : Array.from({ length: batch.value }, () => ({ ...base }));
  return { ok: true, requests };
}

const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);
const str = (v: unknown): string => (typeof v === 'string' ? v : '');

function poseOf(v: unknown): SmplPose | null {
  const p = v as Partial<SmplPose> | null;
  const ok = (a: unknown, n: number) => Array.isArray(a) && a.length === n && a.every((x) => typeof x === 'number' && Number.isFinite(x));
  return p && ok(p.body_pose, 69) && ok(p.global_orient, 3) && ok(p.betas, 10)
    ? { body_pose: [...p.body_pose!], global_orient: [...p.global_orient!], betas: [...p.betas!] }
    : null;
}

/**
 * A stored request (a job's params, a PNG's `scenecraft` chunk) as a studio state: every setting
 * it names, the real seed included. Subjects keep their full prompt (hints were merged into it).
 */
export function stateFromRequest(req: Record<string, unknown>, base: StudioState = initialStudio): StudioState {
  const rawSubjects = Array.isArray(req.subjects) ? req.subjects.slice(0, MAX_SUBJECTS) : [];
  const subjects: StudioSubject[] = rawSubjects.map((raw, i) => {
    const r = raw as Record<string, unknown>;
    const pose = poseOf(r.pose);
    const box = Array.isArray(r.box) && r.box.length === 4 && isValidBox(r.box as Box) ? tidy(r.box as Box) : subjectBox(i, pose !== null);
    return { id: i + 1, prompt: str(r.prompt), material: '', colour: '', box, person: pose !== null, pose };
  });
  const width = num(req.width) ?? 64;
  const height = num(req.height) ?? width;
  const seed = num(req.seed);
  const guidance = num(req.guidance);
  const steps = num(req.steps);
  return {
    ...base,
    prompt: str(req.prompt),
    sceneAssetId: typeof req.scene_asset_id === 'string' && /^[0-9a-f]{32}$/.test(req.scene_asset_id) ? req.scene_asset_id : null,
    subjects,
    selected: subjects.length ? 0 : null,
    nextId: subjects.length + 1,
    inpaint: req.inpaint === true && typeof req.scene_asset_id === 'string',
    settings: {
      ...base.settings,
      model: str(req.model),
      sampler: str(req.sampler),
      size: Math.max(width, height),
      aspect: aspectOf(width, height),
      steps: steps !== null ? String(steps) : base.settings.steps,
      guidance: guidance !== null ? String(guidance) : base.settings.guidance,
      seeds: seed !== null ? String(seed) : '',
      batch: '1',
      negative: str(req.negative_prompt),
    },
  };
}

function aspectOf(w: number, h: number): string {
  const r = w / h;
  const known: [string, number][] = [['1:1', 1], ['4:3', 4 / 3], ['3:4', 3 / 4], ['16:9', 16 / 9], ['9:16', 9 / 16]];
  return known.reduce((best, k) => (Math.abs(k[1] - r) < Math.abs(best[1] - r) ? k : best))[0];
}
