import { describe, expect, it } from 'vitest';
import { presetPose } from '../geometry/skeleton';
import { modelsFromOpenApi, type ModelInfo } from './models';
import {
  buildRequests, initialStudio, MAX_SUBJECTS, stateFromRequest, studioReducer, subjectPrompt,
  type JobRequest, type StudioAction, type StudioState,
} from './studio';

const run = (...actions: StudioAction[]): StudioState => actions.reduce(studioReducer, initialStudio);
const MODEL: ModelInfo = modelsFromOpenApi({
  components: { schemas: { JobCreate: { properties: {
    width: { minimum: 32, maximum: 128, multipleOf: 8, default: 64 }, steps: { minimum: 1, maximum: 200, default: 20 },
    model: { enum: ['seed-12M'], default: 'seed-12M' }, sampler: { enum: ['ddim', 'euler'], default: 'euler' },
    guidance: { default: 3 }, subjects: {}, scene_asset_id: {}, inpaint: {},
  } } } },
}).models[0];
const ok = (s: StudioState): JobRequest[] => {
  const b = buildRequests(s, MODEL);
  if (!b.ok) throw new Error(JSON.stringify(b.errors));
  return b.requests;
};
const errs = (s: StudioState): Record<string, string> => {
  const b = buildRequests(s, MODEL);
  return b.ok ? {} : b.errors;
};

describe('studio state', () => {
  it('adds subjects with distinct boxes, people tall and things squarer, and selects the new one', () => {
    const s = run({ type: 'add' }, { type: 'add', person: true });
    expect(s.subjects).toHaveLength(2);
    expect(s.selected).toBe(1);
    const [thing, person] = s.subjects.map((x) => x.box);
    expect(thing).not.toEqual(person);
    expect((person[3] - person[1]) / (person[2] - person[0])).toBeGreaterThan(2);
    expect((thing[3] - thing[1]) / (thing[2] - thing[0])).toBeCloseTo(1.05, 1);
    expect(s.subjects[1].pose).toEqual(presetPose('stand'));
    expect(s.subjects[0].pose).toBeNull();
  });
  it('stops at the API limit of eight subjects', () => {
    const s = run(...Array.from({ length: 10 }, () => ({ type: 'add' }) as StudioAction));
    expect(s.subjects).toHaveLength(MAX_SUBJECTS);
  });
  it('removing keeps the selection on the same subject', () => {
    const s = run({ type: 'add' }, { type: 'add' }, { type: 'add' }, { type: 'select', index: 2 }, { type: 'remove', index: 0 });
    expect(s.subjects).toHaveLength(2);
    expect(s.selected).toBe(1);
    expect(studioReducer(s, { type: 'remove', index: 1 }).selected).toBeNull();
  });
  it('refuses invalid boxes and poses for non-people', () => {
    const s = run({ type: 'add' });
    expect(studioReducer(s, { type: 'box', index: 0, box: [0.5, 0.5, 0.4, 0.9] })).toBe(s);
    expect(studioReducer(s, { type: 'pose', index: 0, pose: presetPose('wave') })).toBe(s);
    const person = studioReducer(s, { type: 'update', index: 0, patch: { person: true } });
    expect(person.subjects[0].pose).not.toBeNull();
    expect(studioReducer(person, { type: 'update', index: 0, patch: { person: false } }).subjects[0].pose).toBeNull();
  });
  it('keeps typed settings as typed', () => {
    const s = run({ type: 'settings', patch: { steps: '' } }, { type: 'settings', patch: { steps: '5' } }, { type: 'settings', patch: { steps: '50' } });
    expect(s.settings.steps).toBe('50'); // never "150": an empty field stays empty
  });
});

describe('the jobs requests', () => {
  it('say what is missing, by field', () => {
    expect(errs(initialStudio).prompt).toMatch(/prompt/);
    expect(errs(run({ type: 'prompt', prompt: 'room' }, { type: 'add' })).subjects).toBe('Subject 1 needs a prompt.');
    expect(errs(run({ type: 'prompt', prompt: 'room' }, { type: 'inpaint', on: true })).inpaint).toMatch(/context scene/);
    expect(errs(run({ type: 'prompt', prompt: 'room' }, { type: 'scene', assetId: 'a'.repeat(32) },
      { type: 'inpaint', on: true })).inpaint).toMatch(/needs a subject/);
  });
  it('show bounds instead of clamping', () => {
    const s = run({ type: 'prompt', prompt: 'x' }, { type: 'settings', patch: { steps: '100000', seeds: '99999999999999999999', guidance: 'abc' } });
    const e = errs(s);
    expect(e.steps).toBe('Steps goes up to 200; 100000 is too big.');
    expect(e.seed).toMatch(/too big/);
    expect(e.guidance).toMatch(/must be a number/);
    expect(errs(run({ type: 'prompt', prompt: 'x' }, { type: 'settings', patch: { size: 256 } })).size).toMatch(/32 to 128/);
    expect(errs(run({ type: 'prompt', prompt: 'x' }, { type: 'settings', patch: { negative: 'blur' } })).negative).toMatch(/does not read/);
  });
  it('carry boxes, hints in the subject prompt and SMPL parameters for people', () => {
    const s = run(
      { type: 'prompt', prompt: '  a sunlit room ' },
      { type: 'scene', assetId: 'a'.repeat(32) },
      { type: 'settings', patch: { size: 32, steps: '4', seeds: '7' } },
      { type: 'add' },
      { type: 'update', index: 0, patch: { prompt: 'a chair', colour: 'red', material: 'brushed_metal' } },
      { type: 'add', person: true },
      { type: 'pose', index: 1, pose: presetPose('wave') },
    );
    const [body] = ok(s);
    expect(body).toMatchObject({ prompt: 'a sunlit room', width: 32, height: 32, steps: 4, seed: 7, guidance: 3, scene_asset_id: 'a'.repeat(32) });
    expect('inpaint' in body).toBe(false);
    expect(ok(studioReducer(s, { type: 'inpaint', on: true }))[0].inpaint).toBe(true);
    expect(body.subjects[0]).toEqual({ prompt: 'a chair, red, brushed metal', box: s.subjects[0].box });
    expect(body.subjects[1].pose!.body_pose).toHaveLength(69);
    expect(subjectPrompt({ ...s.subjects[0], colour: '', material: '' })).toBe('a chair');
    expect('seed' in ok(run({ type: 'prompt', prompt: 'x' }))[0]).toBe(false);
  });
  it('make one job per seed, or a batch with random seeds', () => {
    expect(ok(run({ type: 'prompt', prompt: 'x' }, { type: 'settings', patch: { seeds: '3, 4 5' } })).map((r) => r.seed)).toEqual([3, 4, 5]);
    const batch = ok(run({ type: 'prompt', prompt: 'x' }, { type: 'settings', patch: { batch: '3' } }));
    expect(batch).toHaveLength(3);
    expect(batch.every((r) => r.seed === undefined)).toBe(true);
    expect(errs(run({ type: 'prompt', prompt: 'x' }, { type: 'settings', patch: { batch: '9' } })).batch).toMatch(/up to 4/);
  });
  it('round-trip through a stored request: every setting comes back, the real seed included', () => {
    const s = run(
      { type: 'prompt', prompt: 'a hall' }, { type: 'settings', patch: { size: 32, steps: '6', seeds: '123456789', guidance: '2.5', sampler: 'ddim' } },
      { type: 'add', person: true }, { type: 'pose', index: 0, pose: presetPose('wave') },
    );
    const [req] = ok(s);
    const back = stateFromRequest({ ...req, model: 'seed-12M' } as unknown as Record<string, unknown>);
    expect(back.prompt).toBe('a hall');
    expect(back.settings).toMatchObject({ size: 32, steps: '6', seeds: '123456789', guidance: '2.5', sampler: 'ddim', model: 'seed-12M' });
    expect(back.subjects[0].person).toBe(true);
    expect(back.subjects[0].box).toEqual(s.subjects[0].box);
    expect(ok(back)[0]).toEqual({ ...req, model: 'seed-12M' });
  });
});

describe('square-only models', () => {
  it('make squares whatever aspect is left in the draft; others follow the aspect', () => {
    const s = run({ type: 'prompt', prompt: 'x' }, { type: 'settings', patch: { size: 64, aspect: '16:9' } });
    const square = buildRequests(s, { ...MODEL, square_only: true });
    expect(square.ok && [square.requests[0].width, square.requests[0].height]).toEqual([64, 64]);
    const wide = buildRequests(s, { ...MODEL, square_only: false });
    expect(wide.ok && [wide.requests[0].width, wide.requests[0].height]).toEqual([64, 40]); // 36 rounded to the multiple of 8
  });
});
