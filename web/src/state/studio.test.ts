import { describe, expect, it } from 'vitest';
import { presetPose } from '../geometry/skeleton';
import { initialStudio, jobRequest, MAX_SUBJECTS, studioReducer, subjectPrompt, validateStudio, type StudioAction, type StudioState } from './studio';

const run = (...actions: StudioAction[]): StudioState => actions.reduce(studioReducer, initialStudio);

describe('studio state', () => {
  it('adds subjects with distinct boxes and selects the new one', () => {
    const s = run({ type: 'add' }, { type: 'add', person: true });
    expect(s.subjects).toHaveLength(2);
    expect(s.selected).toBe(1);
    expect(s.subjects[0].box).not.toEqual(s.subjects[1].box);
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
});

describe('the jobs request', () => {
  it('says what is missing', () => {
    expect(validateStudio(initialStudio)).toMatch(/prompt/);
    expect(validateStudio(run({ type: 'prompt', prompt: 'room' }, { type: 'add' }))).toBe('Subject 1 needs a prompt.');
    expect(validateStudio(run({ type: 'prompt', prompt: 'room' }, { type: 'settings', inpaint: true }))).toMatch(/context scene/);
    expect(validateStudio(run({ type: 'prompt', prompt: 'room' }, { type: 'scene', assetId: 'a'.repeat(32) },
      { type: 'settings', inpaint: true }))).toMatch(/needs a subject/);
  });
  it('carries boxes, hints in the subject prompt and SMPL parameters for people', () => {
    const s = run(
      { type: 'prompt', prompt: '  a sunlit room ' },
      { type: 'scene', assetId: 'a'.repeat(32) },
      { type: 'settings', size: 32, steps: 4, seed: 7 },
      { type: 'add' },
      { type: 'update', index: 0, patch: { prompt: 'a chair', colour: 'red', material: 'brushed_metal' } },
      { type: 'add', person: true },
      { type: 'pose', index: 1, pose: presetPose('wave') },
    );
    const body = jobRequest(s);
    expect(body).toMatchObject({ prompt: 'a sunlit room', width: 32, height: 32, steps: 4, seed: 7, guidance: 3, scene_asset_id: 'a'.repeat(32) });
    expect('inpaint' in body).toBe(false);
    expect(jobRequest(studioReducer(s, { type: 'settings', inpaint: true })).inpaint).toBe(true);
    expect('inpaint' in jobRequest(run({ type: 'prompt', prompt: 'x' }, { type: 'settings', inpaint: true }))).toBe(false);
    expect(body.subjects[0]).toEqual({ prompt: 'a chair, red, brushed metal', box: s.subjects[0].box });
    expect(body.subjects[1].pose!.body_pose).toHaveLength(69);
    expect(body.subjects[1].pose!.body_pose[(16 - 1) * 3 + 2]).toBeCloseTo(presetPose('wave').body_pose[(16 - 1) * 3 + 2], 4);
    expect(subjectPrompt({ ...s.subjects[0], colour: '', material: '' })).toBe('a chair');
    expect('seed' in jobRequest(run({ type: 'prompt', prompt: 'x' }))).toBe(false);
  });
});
