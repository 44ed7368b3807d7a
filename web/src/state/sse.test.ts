import { describe, expect, it } from 'vitest';
import { followSse, parseSse, type SseEvent } from './sse';

describe('the event-stream parser', () => {
  it('splits events, joins data lines, keeps ids, skips comments and keeps the unfinished rest', () => {
    const text = 'retry: 2000\n\nid: 1\nevent: progress\ndata: {"step":1}\n\n: keep-alive\n\nid: 2\r\nevent: preview\r\ndata: a\r\ndata: b\r\n\r\nid: 3\nevent: do';
    const { events, rest, retry } = parseSse(text);
    expect(retry).toBe(2000);
    expect(events).toEqual([
      { id: '1', event: 'progress', data: '{"step":1}' },
      { id: '2', event: 'preview', data: 'a\nb' },
    ]);
    expect(rest).toBe('id: 3\nevent: do');
    expect(parseSse('data:x\n\n').events).toEqual([{ id: null, event: 'message', data: 'x' }]);
  });
});

/** A fetch that answers each connection with the next script, chunked, and records the headers. */
function fakeFetch(scripts: string[][]) {
  const seen: (string | null)[] = [];
  const fetcher = (async (_url: string, init?: RequestInit) => {
    const headers = (init?.headers ?? {}) as Record<string, string>;
    seen.push(headers['Last-Event-ID'] ?? null);
    const chunks = scripts.shift();
    if (!chunks) return new Response('gone', { status: 404 });
    const body = new ReadableStream<Uint8Array>({
      start(c) {
        for (const chunk of chunks) c.enqueue(new TextEncoder().encode(chunk));
        c.close(); // the connection drops here
      },
    });
    return new Response(body, { status: 200, headers: { 'Content-Type': 'text/event-stream' } });
  }) as typeof fetch;
  return { fetcher, seen };
}

function collect(scripts: string[][], lastEventId: string | null = null): Promise<{ events: SseEvent[]; seen: (string | null)[]; error?: string }> {
  const { fetcher, seen } = fakeFetch(scripts);
  const events: SseEvent[] = [];
  return new Promise((resolve) => {
    followSse('/v1/jobs/x/events', {
      lastEventId, fetcher,
      onEvent: (e) => {
        events.push(e);
        if (e.event === 'done') resolve({ events, seen });
      },
      onError: (error) => resolve({ events, seen, error }),
      isTerminal: (e) => e.event === 'done',
    });
  });
}

describe('following a job', () => {
  it('resumes after a dropped connection with Last-Event-ID, losing and repeating nothing', async () => {
    const got = await collect([
      ['retry: 1\n\n', 'id: 1\nevent: progress\ndata: {"step":1}\n\nid: 2\nevent: pro', 'gress\ndata: {"step":2}\n\nid: 3\nevent: progress\ndata: {"st'],
      ['retry: 1\n\nid: 3\nevent: progress\ndata: {"step":3}\n\nid: 4\nevent: done\ndata: {}\n\n'],
    ]);
    expect(got.events.map((e) => e.id)).toEqual(['1', '2', '3', '4']);
    expect(got.seen).toEqual([null, '2']); // the half-received event 3 is asked for again
  });
  it('starts after the id saved before a reload', async () => {
    const got = await collect([['id: 8\nevent: done\ndata: {}\n\n']], '7');
    expect(got.seen).toEqual(['7']);
    expect(got.events.map((e) => e.id)).toEqual(['8']);
  });
  it('stops with a reason when the job is gone', async () => {
    const got = await collect([]);
    expect(got.error).toBe('This job is gone.');
  });
});
