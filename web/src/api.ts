import type { ValidationItem } from './state/fields';
import { TERMINAL_EVENTS, type LiveEvent } from './state/jobs';
import { followSse } from './state/sse';

// The browser's client of the scenecraft API: same origin, session cookie, and the CSRF token
// (from the login response, kept in sessionStorage) on every write. Errors carry the server's message.

/** A failed request: the HTTP status, the server's words, and for a 422 the fields it names. */
export class ApiError extends Error {
  constructor(readonly status: number, message: string, readonly items: ValidationItem[] = [], readonly code?: string) {
    super(message);
  }
}

const CSRF_KEY = 'scenecraft.csrf';
export const csrf = {
  get: (): string | null => sessionStorage.getItem(CSRF_KEY),
  set: (token: string | null): void => {
    if (token) sessionStorage.setItem(CSRF_KEY, token);
    else sessionStorage.removeItem(CSRF_KEY);
  },
};

/**
 * The server's words for a failed response. Every error is {detail, code, errors?}
 * (src/scenecraft/api/errors.py): `detail` in words, `errors` one item per bad field on a 422.
 * Older servers sent a 422's items as `detail` itself, with a `message`: both are read.
 */
export async function errorOf(r: Response): Promise<ApiError> {
  try {
    const body = await r.json();
    const items: ValidationItem[] = Array.isArray(body.errors) ? body.errors : Array.isArray(body.detail) ? body.detail : [];
    const words = typeof body.detail === 'string' ? body.detail : typeof body.message === 'string' ? body.message : null;
    if (words) return new ApiError(r.status, words, items, typeof body.code === 'string' ? body.code : undefined);
    if (items.length) return new ApiError(r.status, items.map((d) => d.msg ?? '').join('; '), items);
  } catch {
    /* not JSON */
  }
  return new ApiError(r.status, `${r.status} ${r.statusText || 'request failed'}`);
}

export async function request<T>(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<T> {
  const h: Record<string, string> = { ...headers };
  let payload: BodyInit | undefined;
  if (body instanceof FormData) payload = body;
  else if (body !== undefined) {
    payload = JSON.stringify(body);
    h['Content-Type'] = 'application/json';
  }
  if (method !== 'GET') {
    const token = csrf.get();
    if (token) h['X-CSRF-Token'] = token;
  }
  let r: Response;
  try {
    r = await fetch(path, { method, headers: h, body: payload, credentials: 'same-origin' });
  } catch {
    throw new ApiError(0, 'The server cannot be reached (offline?).');
  }
  if (!r.ok) throw await errorOf(r);
  if (r.status === 204) return undefined as T;
  return (await r.json()) as T;
}

export const api = {
  get: <T>(path: string) => request<T>('GET', path),
  post: <T>(path: string, body?: unknown, headers?: Record<string, string>) => request<T>('POST', path, body, headers),
  del: (path: string) => request<void>('DELETE', path),
};

// -- response shapes (src/scenecraft/api/schemas.py) ----------------------------------------
export interface User { id: string; username: string; role: 'user' | 'admin'; mfa_enabled: boolean; created_at: string }
export interface Asset { id: string; kind: string; name: string; latest_version: number; source_job_id: string | null; created_at: string }
export interface AssetVersion {
  number: number; parent_number: number | null; content_type: string; width: number; height: number;
  sha256: string; operation: Record<string, unknown>; created_at: string;
}
export interface Key {
  id: string; name: string; prefix: string; scopes: string[]; signed: boolean; created_at: string;
  last_used_at: string | null; revoked_at: string | null;
}
export interface SessionRow { id: string; created_at: string; last_seen_at: string; current: boolean; device: string }
export interface JobPublic {
  id: string; status: 'queued' | 'running' | 'succeeded' | 'dead' | 'cancelled'; priority: number;
  params: Record<string, unknown>; attempts: number; max_attempts: number; cancel_requested: boolean;
  progress: { step: number; total: number }; error: string | null; asset_id: string | null;
  created_at: string; started_at: string | null; finished_at: string | null; queue_position?: number | null;
}

export const contentUrl = (assetId: string, version: number): string => `/v1/assets/${assetId}/versions/${version}/content`;

/** Follows a job's events (resuming after `lastEventId`) until it ends; returns a stop function. */
export function followJob(
  jobId: string, on: (e: LiveEvent, id: string | null) => void, lastEventId: string | null = null,
): () => void {
  return followSse(`/v1/jobs/${jobId}/events`, {
    lastEventId,
    isTerminal: (e) => TERMINAL_EVENTS.has(e.event),
    onEvent: (e) => {
      let data: Record<string, unknown> = {};
      try {
        data = JSON.parse(e.data || '{}');
      } catch {
        return;
      }
      on({ kind: e.event, ...data } as LiveEvent, e.id);
    },
    onError: (message) => on({ kind: 'failed', error: `${message} Look for the result in the gallery.` }, null),
  });
}
