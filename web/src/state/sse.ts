// Server-Sent Events over fetch, resumable: every event's id is remembered, and a reconnect (after
// a dropped connection, or after a page reload, from the id saved with the job) sends it as
// `Last-Event-ID`, so the server replays only what was missed (src/scenecraft/api/routes/jobs.py).
// The browser's EventSource cannot start from a saved id, hence this small client.

export interface SseEvent { id: string | null; event: string; data: string }

/**
 * Parses complete events out of `buffer` (the text received so far); returns them and the
 * unfinished rest. Follows the WHATWG event-stream rules: lines end in \n, \r\n or \r; a blank
 * line ends an event; `:` starts a comment; data lines join with \n; `retry:` sets the delay.
 */
export function parseSse(buffer: string): { events: SseEvent[]; rest: string; retry: number | null } {
  const events: SseEvent[] = [];
  let retry: number | null = null;
  const blocks = buffer.split(/\r\n\r\n|\n\n|\r\r/);
  const rest = blocks.pop() ?? '';
  for (const block of blocks) {
    let id: string | null = null;
    let event = 'message';
    const data: string[] = [];
    for (const line of block.split(/\r\n|\n|\r/)) {
      if (line === '' || line.startsWith(':')) continue;
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      let value = colon < 0 ? '' : line.slice(colon + 1);
      if (value.startsWith(' ')) value = value.slice(1);
      if (field === 'id' && !value.includes('\0')) id = value;
      else if (field === 'event') event = value;
      else if (field === 'data') data.push(value);
      else if (field === 'retry' && /^\d+$/.test(value)) retry = Number(value);
    }
    if (data.length > 0 || id !== null) events.push({ id, event, data: data.join('\n') });
  }
  return { events, rest, retry };
}

export interface FollowOptions {
  lastEventId?: string | null; // resume after this event
  onEvent: (e: SseEvent) => void;
  onError?: (message: string) => void; // the stream was refused for good
  isTerminal?: (e: SseEvent) => boolean; // stop after such an event
  fetcher?: typeof fetch;
  maxRetries?: number;
}

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => { clearTimeout(t); resolve(); }, { once: true });
  });

/** Follows `url` until a terminal event, a refusal or `stop()`; reconnects with Last-Event-ID. */
export function followSse(url: string, opts: FollowOptions): () => void {
  const controller = new AbortController();
  const signal = controller.signal;
  const fetcher = opts.fetcher ?? fetch.bind(globalThis);
  let last = opts.lastEventId ?? null;
  let delay = 2000;
  const run = async () => {
    let failures = 0;
    while (!signal.aborted) {
      try {
        const headers: Record<string, string> = { Accept: 'text/event-stream' };
        if (last) headers['Last-Event-ID'] = last;
        const r = await fetcher(url, { headers, credentials: 'same-origin', signal });
        if (r.status === 401 || r.status === 403 || r.status === 404) {
          opts.onError?.(r.status === 404 ? 'This job is gone.' : 'The live stream was refused: log in again.');
          return;
        }
        if (!r.ok || !r.body) throw new Error(`stream answered ${r.status}`);
        failures = 0;
        const reader = r.body.getReader();
        const decoder = new TextDecoder();
        let buffer = '';
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += decoder.decode(value, { stream: true });
          const parsed = parseSse(buffer);
          buffer = parsed.rest;
          if (parsed.retry !== null) delay = parsed.retry;
          for (const e of parsed.events) {
            if (e.id !== null) last = e.id;
            opts.onEvent(e);
            if (opts.isTerminal?.(e)) {
              controller.abort();
              return;
            }
          }
        }
      } catch {
        if (signal.aborted) return;
        failures += 1;
        if (failures > (opts.maxRetries ?? 1000)) {
          opts.onError?.('The live stream keeps dropping.');
          return;
        }
      }
      await sleep(delay, signal); // the server closed or dropped the stream: resume after `last`
    }
  };
  void run();
  return () => controller.abort();
}
