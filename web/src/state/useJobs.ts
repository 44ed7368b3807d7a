// The user's jobs, live: loaded from GET /v1/jobs when the studio opens (so a reload finds running
// and queued jobs again), each active one followed over SSE from its saved Last-Event-ID, queue
// positions refreshed while anything waits, and step times measured from the progress events.

import { useCallback, useEffect, useRef, useState } from 'react';
import { api, followJob, type JobPublic } from '../api';
import {
  applyEvent, fromPublic, isActive, loadAllResume, loadTimes, recordStepTime, saveResume, timeKey,
  type JobView, type LiveEvent, type StepTimes,
} from './jobs';
import type { JobRequest } from './studio';

const POLL_MS = 4000;
const isGeneration = (j: JobPublic): boolean => j.params.kind === undefined || j.params.kind === 'generate';

export interface Jobs {
  jobs: JobView[]; // newest first
  times: StepTimes;
  loaded: boolean;
  error: string | null;
  submit: (requests: JobRequest[]) => Promise<JobView[]>;
  cancel: (id: string) => Promise<void>;
}

export function useJobs(): Jobs {
  const [jobs, setJobs] = useState<JobView[]>([]);
  const [times, setTimes] = useState<StepTimes>(() => loadTimes(localStorage));
  const [loaded, setLoaded] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const followers = useRef(new Map<string, () => void>());
  const lastStep = useRef(new Map<string, { step: number; at: number }>());
  const current = useRef<JobView[]>([]);
  current.current = jobs;

  const onEvent = useCallback((id: string) => (e: LiveEvent, eventId: string | null) => {
    if (e.kind === 'progress') {
      const prev = lastStep.current.get(id);
      const now = performance.now();
      lastStep.current.set(id, { step: e.step, at: now });
      const j = current.current.find((x) => x.id === id);
      if (prev && j && e.step > prev.step) {
        const key = timeKey(String(j.params.model), Number(j.params.width));
        setTimes((t) => recordStepTime(localStorage, t, key, (now - prev.at) / 1000 / (e.step - prev.step)));
      }
    }
    setJobs((all) => all.map((j) => {
      if (j.id !== id) return j;
      const next = applyEvent(j, e, eventId);
      saveResume(localStorage, next);
      if (!isActive(next)) {
        followers.current.get(id)?.();
        followers.current.delete(id);
      }
      return next;
    }));
  }, []);

  const follow = useCallback((j: JobView) => {
    if (followers.current.has(j.id) || !isActive(j)) return;
    followers.current.set(j.id, followJob(j.id, onEvent(j.id), j.lastEventId));
  }, [onEvent]);

  const refresh = useCallback(async () => {
    try {
      const page = await api.get<{ items: JobPublic[] }>('/v1/jobs?limit=40');
      const resume = loadAllResume(localStorage);
      setJobs((known) => {
        const byId = new Map(known.map((j) => [j.id, j]));
        return page.items.filter(isGeneration).map((p) => {
          const old = byId.get(p.id);
          const saved = resume[p.id];
          const view = fromPublic(p, old ?? (saved ? { preview: saved.preview, frames: 0, lastEventId: saved.lastEventId } : undefined));
          // the live stream knows better than a poll that raced it
          if (old && !isActive(old)) return old;
          if (old && old.status === 'cancelling' && view.status === 'running') return { ...view, status: 'cancelling' };
          if (old && (old.step > view.step)) return { ...view, step: old.step, preview: old.preview, lastEventId: old.lastEventId };
          return view;
        });
      });
      setError(null);
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
    } finally {
      setLoaded(true);
    }
  }, []);

  useEffect(() => {
    void refresh();
    const all = followers.current;
    return () => {
      all.forEach((stop) => stop());
      all.clear();
    };
  }, [refresh]);

  useEffect(() => {
    jobs.forEach(follow);
    if (!jobs.some((j) => j.status === 'queued' || j.status === 'cancelling')) return;
    const t = setTimeout(() => void refresh(), POLL_MS);
    return () => clearTimeout(t);
  }, [jobs, follow, refresh]);

  const submit = useCallback(async (requests: JobRequest[]) => {
    const made: JobView[] = [];
    for (const body of requests) {
      const accepted = await api.post<{ id: string }>('/v1/jobs', body, { 'Idempotency-Key': crypto.randomUUID() });
      const job = await api.get<JobPublic>(`/v1/jobs/${accepted.id}`);
      const view = fromPublic(job);
      made.push(view);
      setJobs((all) => [view, ...all.filter((j) => j.id !== view.id)]);
    }
    return made;
  }, []);

  const cancel = useCallback(async (id: string) => {
    const job = await api.post<JobPublic>(`/v1/jobs/${id}/cancel`);
    setJobs((all) => all.map((j) => (j.id === id ? { ...fromPublic(job, j), lastEventId: j.lastEventId } : j)));
  }, []);

  return { jobs, times, loaded, error, submit, cancel };
}
