import { describe, expect, it } from 'vitest';
import type { JobPublic } from '../api';
import {
  applyEvent, etas, fromPublic, loadAllResume, loadTimes, recordStepTime, saveResume, stepSeconds, timeKey, type JobView,
} from './jobs';
import { MemoryStorage } from './memoryStorage.test-helper';

const pub = (over: Partial<JobPublic> = {}): JobPublic => ({
  id: 'a'.repeat(32), status: 'queued', priority: 0, params: { model: 'seed-12M', width: 64, steps: 10, prompt: 'p', seed: 3 },
  attempts: 0, max_attempts: 3, cancel_requested: false, progress: { step: 0, total: 10 }, error: null, asset_id: null,
  created_at: '2026-12-01T10:00:00Z', started_at: null, finished_at: null, queue_position: 2, ...over,
});

describe('a job followed live', () => {
  it('goes queued -> running -> done, keeping the latest preview and the event id', () => {
    let j = fromPublic(pub());
    expect(j.position).toBe(2);
    j = applyEvent(j, { kind: 'status', status: 'running' }, '5');
    expect(j).toMatchObject({ status: 'running', position: null, lastEventId: '5' });
    j = applyEvent(j, { kind: 'preview', step: 1, total: 10, jpeg: 'AAAA' }, '7');
    expect(j).toMatchObject({ step: 1, frames: 1, preview: 'data:image/jpeg;base64,AAAA', lastEventId: '7' });
    j = applyEvent(j, { kind: 'done', asset_id: 'b'.repeat(32) }, '9');
    expect(j).toMatchObject({ status: 'succeeded', assetId: 'b'.repeat(32), step: 10 });
  });
  it('shows "cancelling" from the request until the worker stops, even while steps still arrive', () => {
    let j = fromPublic(pub({ status: 'running', cancel_requested: true, started_at: '2026-12-01T10:00:01Z' }));
    expect(j.status).toBe('cancelling');
    j = applyEvent(j, { kind: 'progress', step: 3, total: 10 }, '12');
    expect(j.status).toBe('cancelling');
    j = applyEvent(fromPublic(pub({ status: 'running' })), { kind: 'status', status: 'cancelling' }, '13');
    expect(j.status).toBe('cancelling');
    expect(applyEvent(j, { kind: 'cancelled' }, '14').status).toBe('cancelled');
  });
  it('saves what a reload needs for active jobs only', () => {
    const s = new MemoryStorage();
    const running = { ...fromPublic(pub({ status: 'running' })), lastEventId: '40', preview: 'data:x' };
    saveResume(s, running);
    expect(loadAllResume(s)).toEqual({ [running.id]: { lastEventId: '40', preview: 'data:x' } });
    saveResume(s, { ...running, status: 'succeeded' });
    expect(loadAllResume(s)).toEqual({});
  });
});

describe('time estimates', () => {
  it('average measured step times and scale them to other sizes', () => {
    const s = new MemoryStorage();
    let t = recordStepTime(s, {}, timeKey('seed-12M', 64), 1.0);
    t = recordStepTime(s, t, timeKey('seed-12M', 64), 2.0);
    expect(t['seed-12M@64']).toBeCloseTo(1.3, 10); // 0.7 * 1 + 0.3 * 2
    expect(loadTimes(s)).toEqual(t);
    expect(stepSeconds(t, 'seed-12M', 64)).toEqual({ seconds: t['seed-12M@64'], measured: true });
    expect(stepSeconds(t, 'seed-12M', 128)!.seconds).toBeCloseTo(1.3 * 4, 10);
    expect(stepSeconds(t, 'seed-12M', 128)!.measured).toBe(false);
    expect(stepSeconds(t, 'other', 64)).toBeNull();
  });
  it('give each job the time left: its own pace when running, the queue ahead when waiting', () => {
    const now = Date.parse('2026-12-01T10:00:10Z');
    const running: JobView = { ...fromPublic(pub({ id: 'r'.repeat(32), status: 'running', started_at: '2026-12-01T10:00:00Z' })), step: 5 };
    const waiting = fromPublic(pub({ id: 'w'.repeat(32), queue_position: 1 }));
    const e = etas([waiting, running], { 'seed-12M@64': 1.5 }, now);
    expect(e['r'.repeat(32)]).toBeCloseTo(10, 10); // 10 s for 5 steps: 2 s a step, 5 left
    expect(e['w'.repeat(32)]).toBeCloseTo(10 + 15, 10); // after it, 10 steps at the measured 1.5 s
    expect(etas([waiting], {}, now)['w'.repeat(32)]).toBeNull(); // nothing measured: no guess
  });
});
