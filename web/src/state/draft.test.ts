import { describe, expect, it } from 'vitest';
import { presetPose } from '../geometry/skeleton';
import { draftKey, handOver, loadDraft, saveDraft, takeHandOver } from './draft';
import { MemoryStorage } from './memoryStorage.test-helper';
import { initialSettings, initialStudio, studioReducer, type StudioAction, type StudioState } from './studio';

const run = (...actions: StudioAction[]): StudioState => actions.reduce(studioReducer, initialStudio);
const full = run(
  { type: 'prompt', prompt: 'a hall with a lamp' }, { type: 'scene', assetId: 'b'.repeat(32) }, { type: 'inpaint', on: true },
  { type: 'settings', patch: { steps: '', seeds: '1, 2', size: 32, negative: 'fog', aspect: '4:3' } },
  { type: 'add' }, { type: 'update', index: 0, patch: { prompt: 'a lamp', colour: 'red' } },
  { type: 'add', person: true }, { type: 'pose', index: 1, pose: presetPose('wave') }, { type: 'select', index: 1 },
);

describe('the draft store', () => {
  it('gives back exactly what was saved: prompt, scene, subjects, poses, settings as typed', () => {
    const storage = new MemoryStorage();
    expect(saveDraft(storage, 'u1', full)).toBe(true);
    const back = loadDraft(storage, 'u1');
    expect(back).toEqual({ ...full, nextId: 3 });
    expect(back!.settings.steps).toBe(''); // an empty field stays empty
    expect(loadDraft(storage, 'u2')).toBeNull(); // drafts are per user
  });
  it('keeps the valid parts of a damaged draft and drops the rest', () => {
    const storage = new MemoryStorage();
    saveDraft(storage, 'u1', full);
    const raw = JSON.parse(storage.getItem(draftKey('u1'))!);
    raw.state.subjects[0].box = [0.9, 0.1, 0.2, 0.5]; // inverted
    raw.state.subjects[1].pose.body_pose = [1, 2]; // wrong length: not a person any more
    raw.state.settings.size = 'huge';
    raw.state.sceneAssetId = '../etc/passwd';
    raw.state.selected = 7;
    storage.setItem(draftKey('u1'), JSON.stringify(raw));
    const back = loadDraft(storage, 'u1')!;
    expect(back.prompt).toBe('a hall with a lamp');
    expect(back.subjects).toHaveLength(1);
    expect(back.subjects[0]).toMatchObject({ prompt: 'a person', person: false, pose: null });
    expect(back.settings.size).toBe(initialSettings.size); // the bad value dropped: the default (128)
    expect(back.settings.seeds).toBe('1, 2');
    expect(back.sceneAssetId).toBeNull();
    expect(back.inpaint).toBe(false);
    expect(back.selected).toBeNull();
  });
  it('survives unreadable JSON and a full storage', () => {
    const storage = new MemoryStorage(10);
    expect(saveDraft(storage, 'u1', full)).toBe(false);
    const other = new MemoryStorage();
    other.setItem(draftKey('u1'), '{not json');
    expect(loadDraft(other, 'u1')).toBeNull();
  });
  it('hands settings over from the gallery once', () => {
    const storage = new MemoryStorage();
    handOver(storage, { prompt: 'x', seed: 5 });
    expect(takeHandOver(storage)).toEqual({ prompt: 'x', seed: 5 });
    expect(takeHandOver(storage)).toBeNull();
  });
});
