// The studio's draft in localStorage, per user: prompt, scene, subjects with their boxes and poses,
// and the settings as typed. Saved on every change (debounced by the caller), read back on load,
// so a reload, a visit to the gallery or a closed tab loses nothing. What is read back is checked
// field by field: a damaged or older draft keeps what is still valid and drops the rest.

import { isValidBox, type Box } from '../geometry/boxes';
import type { SmplPose } from '../geometry/skeleton';
import { initialSettings, initialStudio, MAX_SUBJECTS, type StudioSettings, type StudioState, type StudioSubject } from './studio';

export const DRAFT_VERSION = 2;
export const draftKey = (userId: string): string => `scenecraft.draft.${userId}`;

export function saveDraft(storage: Storage, userId: string, state: StudioState): boolean {
  try {
    storage.setItem(draftKey(userId), JSON.stringify({ version: DRAFT_VERSION, savedAt: Date.now(), state }));
    return true;
  } catch {
    return false; // storage full or off: the draft lives on in memory
  }
}

export function clearDraft(storage: Storage, userId: string): void {
  storage.removeItem(draftKey(userId));
}

const isNumbers = (a: unknown, n: number): a is number[] =>
  Array.isArray(a) && a.length === n && a.every((x) => typeof x === 'number' && Number.isFinite(x));

function subjectOf(raw: unknown, id: number): StudioSubject | null {
  if (!raw || typeof raw !== 'object') return null;
  const r = raw as Record<string, unknown>;
  if (typeof r.prompt !== 'string' || !isNumbers(r.box, 4) || !isValidBox(r.box as Box)) return null;
  const p = r.pose as Partial<SmplPose> | null | undefined;
  const pose = p && isNumbers(p.body_pose, 69) && isNumbers(p.global_orient, 3) && isNumbers(p.betas, 10)
    ? { body_pose: p.body_pose, global_orient: p.global_orient, betas: p.betas } : null;
  const person = r.person === true && pose !== null;
  return {
    id,
    prompt: r.prompt.slice(0, 400),
    material: typeof r.material === 'string' ? r.material : '',
    colour: typeof r.colour === 'string' ? r.colour : '',
    box: r.box as Box,
    person,
    pose: person ? pose : null,
  };
}

function settingsOf(raw: unknown): StudioSettings {
  const out: StudioSettings = { ...initialSettings };
  if (!raw || typeof raw !== 'object') return out;
  const r = raw as Record<string, unknown>;
  for (const k of Object.keys(initialSettings) as (keyof StudioSettings)[]) {
    const v = r[k];
    if (k === 'size') {
      if (typeof v === 'number' && Number.isInteger(v) && v > 0 && v <= 4096) out.size = v;
    } else if (typeof v === 'string' && v.length <= 2000) out[k] = v;
  }
  return out;
}

/** The saved draft for the user, checked; null when there is none or it is unreadable. */
export function loadDraft(storage: Storage, userId: string): StudioState | null {
  let parsed: unknown;
  try {
    parsed = JSON.parse(storage.getItem(draftKey(userId)) ?? 'null');
  } catch {
    return null;
  }
  if (!parsed || typeof parsed !== 'object') return null;
  const raw = (parsed as { state?: unknown }).state;
  if (!raw || typeof raw !== 'object') return null;
  const r = raw as Record<string, unknown>;
  const subjects = (Array.isArray(r.subjects) ? r.subjects : [])
    .slice(0, MAX_SUBJECTS)
    .map((s, i) => subjectOf(s, i + 1))
    .filter((s): s is StudioSubject => s !== null);
  const selected = typeof r.selected === 'number' && r.selected >= 0 && r.selected < subjects.length ? r.selected : null;
  const scene = typeof r.sceneAssetId === 'string' && /^[0-9a-f]{32}$/.test(r.sceneAssetId) ? r.sceneAssetId : null;
  return {
    ...initialStudio,
    prompt: typeof r.prompt === 'string' ? r.prompt.slice(0, 2000) : '',
    sceneAssetId: scene,
    subjects,
    selected,
    nextId: subjects.length + 1,
    settings: settingsOf(r.settings),
    inpaint: r.inpaint === true && scene !== null,
  };
}

/** A pending "use these settings" hand-over from the gallery to the studio: peeked while the studio
 * builds its first state (React may do that twice), dropped once it is shown. */
const HANDOVER_KEY = 'scenecraft.handover';
export function handOver(storage: Storage, request: Record<string, unknown>): void {
  storage.setItem(HANDOVER_KEY, JSON.stringify(request));
}
export function dropHandOver(storage: Storage): void {
  storage.removeItem(HANDOVER_KEY);
}
export function takeHandOver(storage: Storage, keep = false): Record<string, unknown> | null {
  const v = storage.getItem(HANDOVER_KEY);
  if (!keep) storage.removeItem(HANDOVER_KEY);
  try {
    const r = JSON.parse(v ?? 'null');
    return r && typeof r === 'object' && !Array.isArray(r) ? (r as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}
