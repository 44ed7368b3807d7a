// The browser's client of the scenecraft API: same origin, session cookie, and the CSRF token
// (from the login response, kept in sessionStorage) on every write. Errors carry the server's message.

export class ApiError extends Error {
  constructor(readonly status: number, message: string) {
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

/** The server's words for a failed response: `message` (422), else `detail`, else the status text. */
export async function errorMessage(r: Response): Promise<string> {
  try {
    const body = await r.json();
    if (typeof body.message === 'string') return body.message;
    if (typeof body.detail === 'string') return body.detail;
    if (Array.isArray(body.detail)) return body.detail.map((d: { msg?: string }) => d.msg ?? '').join('; ');
  } catch {
    /* not JSON */
  }
  return `${r.status} ${r.statusText || 'request failed'}`;
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
  if (!r.ok) throw new ApiError(r.status, await errorMessage(r));
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
export interface SessionRow { id: string; created_at: string; last_seen_at: string; current: boolean }
export interface Job { id: string; status: string; progress: { step: number; total: number }; error: string | null; asset_id: string | null }

export const contentUrl = (assetId: string, version: number): string => `/v1/assets/${assetId}/versions/${version}/content`;

export type JobEvent =
  | { kind: 'status'; status: string }
  | { kind: 'progress'; step: number; total: number }
  | { kind: 'preview'; step: number; total: number; jpeg: string }
  | { kind: 'done'; asset_id: string }
  | { kind: 'failed'; error: string }
  | { kind: 'cancelled' };

/** Follows a job's Server-Sent Events until it ends; returns a function that stops listening. */
export function followJob(jobId: string, on: (e: JobEvent) => void): () => void {
  const source = new EventSource(`/v1/jobs/${jobId}/events`);
  const listen = (kind: JobEvent['kind']): void => {
    source.addEventListener(kind, (ev) => {
      const data = JSON.parse((ev as MessageEvent).data || '{}');
      on({ kind, ...data } as JobEvent);
      if (kind === 'done' || kind === 'failed' || kind === 'cancelled') source.close();
    });
  };
  (['status', 'progress', 'preview', 'done', 'failed', 'cancelled'] as const).forEach(listen);
  // A refused stream (logged out, job gone) is closed for good; a dropped one reconnects by itself.
  source.onerror = () => {
    if (source.readyState === EventSource.CLOSED) {
      on({ kind: 'failed', error: 'The live progress stream was refused: log in again, then look in the gallery.' });
    }
  };
  return () => source.close();
}
