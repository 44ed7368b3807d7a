// The queue and history: the user's running and queued jobs (position, state, ETA from measured
// step times, Cancel; "cancelling…" until the worker stops), then the finished ones (thumbnail,
// prompt, seed) to show on the canvas or to reuse.

import { contentUrl } from '../api';
import { etas, formatSeconds, isActive, type JobView, type StepTimes } from '../state/jobs';

interface Props {
  jobs: JobView[];
  times: StepTimes;
  shown: string | null;
  onShow: (id: string) => void;
  onCancel: (id: string) => void;
  onReuse: (job: JobView) => void;
}

const LABEL: Record<string, string> = {
  queued: 'queued', running: 'running', cancelling: 'cancelling…', succeeded: 'done', dead: 'failed', cancelled: 'cancelled',
};

export function QueuePanel({ jobs, times, shown, onShow, onCancel, onReuse }: Props) {
  const active = jobs.filter(isActive);
  const done = jobs.filter((j) => !isActive(j)).slice(0, 20);
  const eta = etas(jobs, times);
  const row = (j: JobView) => {
    const prompt = String(j.params.prompt ?? '');
    const thumb = j.status === 'succeeded' && j.assetId ? contentUrl(j.assetId, 1) : j.preview;
    return (
      <li key={j.id} className={j.id === shown ? 'job on' : 'job'} data-testid="job" data-status={j.status} data-job={j.id}>
        <button type="button" className="job-show" onClick={() => onShow(j.id)} aria-pressed={j.id === shown}
          aria-label={`Show job: ${prompt}`}>
          {thumb ? <img src={thumb} alt="" width={48} height={48} /> : <span className="job-empty" aria-hidden="true" />}
        </button>
        <div className="job-text">
          <span className="job-prompt">{prompt}</span>
          <span className="meta">
            {LABEL[j.status]}
            {j.status === 'queued' && j.position ? ` · #${j.position} in the queue` : ''}
            {(j.status === 'running' || j.status === 'cancelling') ? ` · step ${j.step} of ${j.total}` : ''}
            {isActive(j) && eta[j.id] !== null && eta[j.id] !== undefined ? ` · ${formatSeconds(eta[j.id]!)} left` : ''}
            {` · seed ${String(j.params.seed ?? '?')}`}
          </span>
          {isActive(j) && <progress max={j.total || 1} value={j.step} aria-label={`Progress of ${prompt}`} />}
          {j.error && <span className="field-error">{j.error}</span>}
        </div>
        <div className="job-actions">
          {(j.status === 'queued' || j.status === 'running') && (
            <button type="button" className="quiet" onClick={() => onCancel(j.id)} aria-label={`Cancel job: ${prompt}`}>Cancel</button>
          )}
          {j.status === 'cancelling' && <span className="meta" role="status">cancelling…</span>}
          {!isActive(j) && <button type="button" className="quiet" onClick={() => onReuse(j)} aria-label={`Reuse settings of: ${prompt}`}>Reuse</button>}
        </div>
      </li>
    );
  };
  return (
    <aside className="bench-queue" aria-label="Queue and history">
      <h2>Queue</h2>
      {active.length ? <ol className="jobs" data-testid="queue">{active.map(row)}</ol> : <p className="hint">Nothing running.</p>}
      <h2>History</h2>
      {done.length ? <ol className="jobs" data-testid="history">{done.map(row)}</ol> : <p className="hint">No finished jobs yet.</p>}
    </aside>
  );
}
