// The queue and history panel's state: one view per job (from GET /v1/jobs, then its live events),
// what a reload needs to find a job again (its last event id and latest preview, in localStorage),
// and time estimates from measured seconds per step.

import type { JobPublic } from '../api';

export type JobStatus = 'queued' | 'running' | 'cancelling' | 'succeeded' | 'dead' | 'cancelled';

export interface JobView {
  id: string;
  params: Record<string, unknown>;
  status: JobStatus;
  step: number;
  total: number;
  assetId: string | null;
  error: string | null;
  createdAt: string;
  startedAt: string | null;
  position: number | null; // in the whole queue, 1 = next; null when not queued
  preview: string | null; // data: URL of the latest preview frame
  frames: number; // preview frames seen in this page's life
  strip: string[]; // the last STRIP of them, oldest first
  lastEventId: string | null;
}

export const STRIP = 48;
export const ACTIVE: ReadonlySet<JobStatus> = new Set(['queued', 'running', 'cancelling']);
export const isActive = (j: JobView): boolean => ACTIVE.has(j.status);

/** A job as the API returns it -> its view (keeping what only the page knew: preview, frames). */
export function fromPublic(j: JobPublic, known?: Pick<JobView, 'preview' | 'frames' | 'lastEventId'> & { strip?: string[] }): JobView {
  const status: JobStatus = j.status === 'running' && j.cancel_requested ? 'cancelling' : j.status;
  return {
    id: j.id, params: j.params, status, step: j.progress.step, total: j.progress.total || Number(j.params.steps ?? 0),
    assetId: j.asset_id, error: j.error, createdAt: j.created_at, startedAt: j.started_at,
    position: j.queue_position ?? null, preview: known?.preview ?? null, frames: known?.frames ?? 0,
    strip: known?.strip ?? [], lastEventId: known?.lastEventId ?? null,
  };
}

export type LiveEvent =
  | { kind: 'status'; status: string }
  | { kind: 'progress'; step: number; total: number }
  | { kind: 'preview'; step: number; total: number; jpeg: string }
  | { kind: 'done'; asset_id: string }
  | { kind: 'failed'; error: string }
  | { kind: 'cancelled' };

export const TERMINAL_EVENTS = new Set(['done', 'failed', 'cancelled']);

/** One live event applied to a job's view. A cancel asked for stays "cancelling" until it ends. */
export function applyEvent(j: JobView, e: LiveEvent, id: string | null): JobView {
  const next = { ...j, lastEventId: id ?? j.lastEventId };
  const running = (): JobStatus => (j.status === 'cancelling' ? 'cancelling' : 'running');
  switch (e.kind) {
    case 'status':
      if (e.status === 'cancelling') return { ...next, status: 'cancelling' };
      if (e.status === 'running') return { ...next, status: running(), position: null, startedAt: j.startedAt ?? new Date().toISOString() };
      if (e.status === 'queued') return { ...next, status: j.status === 'cancelling' ? 'cancelling' : 'queued' };
      return next;
    case 'progress':
      return { ...next, status: running(), step: e.step, total: e.total, position: null };
    case 'preview': {
      const url = `data:image/jpeg;base64,${e.jpeg}`;
      return {
        ...next, status: running(), step: e.step, total: e.total, position: null, preview: url, frames: j.frames + 1,
        strip: [...j.strip, url].slice(-STRIP),
      };
    }
    case 'done':
      return { ...next, status: 'succeeded', step: j.total, assetId: e.asset_id, position: null };
    case 'failed':
      return { ...next, status: 'dead', error: e.error, position: null };
    case 'cancelled':
      return { ...next, status: 'cancelled', position: null };
  }
}

// -- what survives a reload ----------------------------------------------------------------------
const RESUME_KEY = 'scenecraft.jobs.resume';
interface Resume { lastEventId: string | null; preview: string | null }

export function saveResume(storage: Storage, j: JobView): void {
  const all = loadAllResume(storage);
  if (isActive(j)) all[j.id] = { lastEventId: j.lastEventId, preview: j.preview };
  else delete all[j.id];
  try {
    storage.setItem(RESUME_KEY, JSON.stringify(all));
  } catch {
    /* full: the job is still found again, only from its first event */
  }
}

export function loadAllResume(storage: Storage): Record<string, Resume> {
  try {
    const v = JSON.parse(storage.getItem(RESUME_KEY) ?? '{}');
    return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, Resume>) : {};
  } catch {
    return {};
  }
}

// -- measured step times -------------------------------------------------------------------------
const TIMES_KEY = 'scenecraft.step-seconds';
export type StepTimes = Record<string, number>; // "model@size" -> seconds per step (running mean)

export const timeKey = (model: string, size: number): string => `${model}@${size}`;

export function loadTimes(storage: Storage): StepTimes {
  try {
    const v = JSON.parse(storage.getItem(TIMES_KEY) ?? '{}');
    return v && typeof v === 'object' ? (v as StepTimes) : {};
  } catch {
    return {};
  }
}

/** Folds one measurement into the running mean (weight 0.3 for the newest), and saves it. */
export function recordStepTime(storage: Storage, times: StepTimes, key: string, seconds: number): StepTimes {
  if (!(seconds > 0) || !Number.isFinite(seconds)) return times;
  const old = times[key];
  const next = { ...times, [key]: old === undefined ? seconds : 0.7 * old + 0.3 * seconds };
  storage.setItem(TIMES_KEY, JSON.stringify(next));
  return next;
}

/**
 * Seconds per step for a model at a size: measured there, or scaled from the nearest measured size
 * of the same model by the pixel count (attention makes it grow faster, so this is a lower bound).
 */
export function stepSeconds(times: StepTimes, model: string, size: number): { seconds: number; measured: boolean } | null {
  const exact = times[timeKey(model, size)];
  if (exact !== undefined) return { seconds: exact, measured: true };
  let best: [number, number] | null = null;
  for (const [k, v] of Object.entries(times)) {
    const [m, s] = k.split('@');
    if (m !== model) continue;
    const other = Number(s);
    if (!best || Math.abs(Math.log(other / size)) < Math.abs(Math.log(best[0] / size))) best = [other, v];
  }
  return best ? { seconds: best[1] * (size / best[0]) ** 2, measured: false } : null;
}

const jobSize = (j: JobView): number => Number(j.params.width ?? 64);
const jobModel = (j: JobView): string => String(j.params.model ?? '');

/** Seconds until each active job ends, in queue order; null where nothing was measured yet. */
export function etas(jobs: JobView[], times: StepTimes, now = Date.now()): Record<string, number | null> {
  const out: Record<string, number | null> = {};
  let ahead = 0;
  let known = true;
  const order = jobs.filter(isActive).sort((a, b) => rank(a) - rank(b) || a.createdAt.localeCompare(b.createdAt));
  for (const j of order) {
    const per = stepSeconds(times, jobModel(j), jobSize(j));
    let own: number | null = null;
    if (j.status !== 'queued' && j.step > 0 && j.startedAt) {
      const spent = (now - Date.parse(j.startedAt)) / 1000;
      own = Math.max(0, (spent / j.step) * (j.total - j.step)); // this run's own pace
    } else if (per) own = per.seconds * Math.max(0, j.total - j.step);
    if (own === null) known = false;
    out[j.id] = known && own !== null ? (j.status === 'queued' ? ahead : 0) + own : null;
    if (own !== null) ahead += own;
  }
  return out;
}

const rank = (j: JobView): number => (j.status === 'queued' ? 1 + (j.position ?? 1000) : 0);

/** "about 12 s", "about 3 min". */
export function formatSeconds(s: number): string {
  if (s < 1) return 'under a second';
  if (s < 90) return `about ${Math.round(s)} s`;
  return `about ${Math.round(s / 60)} min`;
}
