// The studio: prompt, context scene, subjects with boxes (and poses for people), then Generate:
// a progress bar and the live preview frames over SSE, cancellable; the result goes to the gallery.

import { useEffect, useReducer, useRef, useState } from 'react';
import { api, contentUrl, followJob, type Asset } from '../api';
import { BoxCanvas } from '../components/BoxCanvas';
import { ErrorNote, messageOf } from '../components/ErrorNote';
import { PoseEditor } from '../components/PoseEditor';
import {
  COLOURS, initialStudio, jobRequest, MATERIALS, MAX_SUBJECTS, studioReducer, validateStudio,
} from '../state/studio';

interface Run {
  jobId: string;
  step: number;
  total: number;
  frames: string[]; // data: URLs of the preview JPEGs, oldest first
  status: 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled';
  assetId: string | null;
  error: string | null;
}

function ContextScene({ assetId, onScene }: { assetId: string | null; onScene: (id: string | null) => void }) {
  const [assets, setAssets] = useState<Asset[]>([]);
  const [ground, setGround] = useState('wood');
  const [background, setBackground] = useState('brick');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const load = () => api.get<{ items: Asset[] }>('/v1/assets?limit=50').then((p) => setAssets(p.items), () => undefined);
  useEffect(() => {
    load();
  }, []);
  const run = async (make: () => Promise<Asset>) => {
    setBusy(true);
    setError(null);
    try {
      const asset = await make();
      await load();
      onScene(asset.id);
    } catch (e) {
      setError(messageOf(e));
    } finally {
      setBusy(false);
    }
  };
  const upload = (file: File | undefined) => {
    if (!file) return;
    const form = new FormData();
    form.append('file', file);
    run(() => api.post<Asset>('/v1/assets', form));
  };
  return (
    <fieldset className="scene">
      <legend>Context scene</legend>
      <div className="scene-options">
        <label>Upload an image
          <input type="file" accept="image/png,image/jpeg,image/webp" onChange={(e) => upload(e.target.files?.[0])} disabled={busy} />
        </label>
        <label>Or pick an earlier asset
          <select value={assetId ?? ''} onChange={(e) => onScene(e.target.value || null)}>
            <option value="">None</option>
            {assets.map((a) => <option key={a.id} value={a.id}>{a.name || a.id.slice(0, 8)} (v{a.latest_version})</option>)}
          </select>
        </label>
        <div className="world">
          <span>Or make one from the scene world</span>
          <label>Floor
            <select value={ground} onChange={(e) => setGround(e.target.value)}>
              {MATERIALS.map((m) => <option key={m} value={m}>{m.replace('_', ' ')}</option>)}
            </select>
          </label>
          <label>Wall
            <select value={background} onChange={(e) => setBackground(e.target.value)}>
              {MATERIALS.map((m) => <option key={m} value={m}>{m.replace('_', ' ')}</option>)}
            </select>
          </label>
          <button type="button" disabled={busy}
            onClick={() => run(() => api.post<Asset>('/v1/scenes/world', { ground, background, size: 128 }))}>
            Make scene
          </button>
        </div>
      </div>
      <ErrorNote error={error} />
    </fieldset>
  );
}

export function Studio() {
  const [state, dispatch] = useReducer(studioReducer, initialStudio);
  const [run, setRun] = useState<Run | null>(null);
  const [error, setError] = useState<string | null>(null);
  const stop = useRef<(() => void) | null>(null);
  useEffect(() => () => stop.current?.(), []);

  const selected = state.selected !== null ? state.subjects[state.selected] : null;
  const active = run !== null && (run.status === 'queued' || run.status === 'running');

  const generate = async () => {
    const problem = validateStudio(state);
    if (problem) {
      setError(problem);
      return;
    }
    setError(null);
    try {
      const job = await api.post<{ id: string }>('/v1/jobs', jobRequest(state), { 'Idempotency-Key': crypto.randomUUID() });
      setRun({ jobId: job.id, step: 0, total: state.steps, frames: [], status: 'queued', assetId: null, error: null });
      stop.current?.();
      stop.current = followJob(job.id, (e) => {
        setRun((r) => {
          if (!r) return r;
          switch (e.kind) {
            case 'status': return { ...r, status: e.status === 'running' ? 'running' : r.status };
            case 'progress': return { ...r, status: 'running', step: e.step, total: e.total };
            case 'preview': return { ...r, status: 'running', step: e.step, total: e.total, frames: [...r.frames, `data:image/jpeg;base64,${e.jpeg}`] };
            case 'done': return { ...r, status: 'succeeded', step: r.total, assetId: e.asset_id };
            case 'failed': return { ...r, status: 'failed', error: e.error };
            case 'cancelled': return { ...r, status: 'cancelled' };
          }
        });
      });
    } catch (e) {
      setError(messageOf(e));
    }
  };
  const cancel = async () => {
    if (!run) return;
    try {
      await api.post(`/v1/jobs/${run.jobId}/cancel`);
    } catch (e) {
      setError(messageOf(e));
    }
  };

  return (
    <div className="studio">
      <h1>Studio</h1>
      <section className="compose" aria-label="Compose">
        <label htmlFor="prompt">Prompt</label>
        <textarea id="prompt" rows={2} maxLength={2000} value={state.prompt} placeholder="a sunlit room with a red chair"
          onChange={(e) => dispatch({ type: 'prompt', prompt: e.target.value })} />
        <ContextScene assetId={state.sceneAssetId} onScene={(id) => dispatch({ type: 'scene', assetId: id })} />
      </section>

      <section className="layout" aria-label="Subjects">
        <div className="canvas-col">
          <h2>Layout</h2>
          <BoxCanvas subjects={state.subjects} selected={state.selected}
            sceneUrl={state.sceneAssetId ? contentUrl(state.sceneAssetId, 1) : null}
            onSelect={(index) => dispatch({ type: 'select', index })}
            onBox={(index, box) => dispatch({ type: 'box', index, box })} />
        </div>
        <div className="subjects-col">
          <h2>Subjects</h2>
          <div className="row">
            <button type="button" onClick={() => dispatch({ type: 'add' })} disabled={state.subjects.length >= MAX_SUBJECTS}>Add subject</button>
            <button type="button" onClick={() => dispatch({ type: 'add', person: true })} disabled={state.subjects.length >= MAX_SUBJECTS}>Add person</button>
          </div>
          <ol className="subjects">
            {state.subjects.map((s, i) => (
              <li key={s.id} className={i === state.selected ? 'on' : ''} data-testid={`subject-${i}`}>
                <label htmlFor={`sp-${s.id}`}>Subject {i + 1} prompt</label>
                <input id={`sp-${s.id}`} value={s.prompt} maxLength={400} onFocus={() => dispatch({ type: 'select', index: i })}
                  onChange={(e) => dispatch({ type: 'update', index: i, patch: { prompt: e.target.value } })} />
                <div className="row">
                  <label>Material
                    <select value={s.material} onChange={(e) => dispatch({ type: 'update', index: i, patch: { material: e.target.value } })}>
                      <option value="">any</option>
                      {MATERIALS.map((m) => <option key={m} value={m}>{m.replace('_', ' ')}</option>)}
                    </select>
                  </label>
                  <label>Colour
                    <select value={s.colour} onChange={(e) => dispatch({ type: 'update', index: i, patch: { colour: e.target.value } })}>
                      <option value="">any</option>
                      {COLOURS.map((c) => <option key={c} value={c}>{c}</option>)}
                    </select>
                  </label>
                  <label className="check">
                    <input type="checkbox" checked={s.person} onChange={(e) => dispatch({ type: 'update', index: i, patch: { person: e.target.checked } })} />
                    Person (pose)
                  </label>
                  <button type="button" className="quiet" onClick={() => dispatch({ type: 'remove', index: i })}
                    aria-label={`Remove subject ${i + 1}`}>Remove</button>
                </div>
              </li>
            ))}
          </ol>
          {state.subjects.length === 0 && <p className="hint">No subjects yet: the prompt alone makes the picture.</p>}
          {selected?.person && selected.pose && state.selected !== null && (
            <PoseEditor title={`Pose of subject ${state.selected + 1}`} pose={selected.pose}
              onPose={(pose) => dispatch({ type: 'pose', index: state.selected!, pose })} />
          )}
        </div>
      </section>

      <section className="generate" aria-label="Generate">
        <div className="row">
          <div className="field">
            <label htmlFor="size">Size</label>
            <select id="size" value={state.size} onChange={(e) => dispatch({ type: 'settings', size: Number(e.target.value) })}>
              {[32, 64, 128, 256].map((s) => <option key={s} value={s}>{s}×{s}</option>)}
            </select>
          </div>
          <div className="field">
            <label htmlFor="steps">Steps</label>
            <input id="steps" type="number" min={1} max={200} value={state.steps}
              onChange={(e) => dispatch({ type: 'settings', steps: Math.max(1, Math.min(200, Number(e.target.value) || 1)) })} />
          </div>
          <div className="field">
            <label htmlFor="guidance">Guidance</label>
            <input id="guidance" type="number" min={0} max={30} step={0.5} value={state.guidance}
              onChange={(e) => dispatch({ type: 'settings', guidance: Math.max(0, Math.min(30, Number(e.target.value) || 0)) })} />
          </div>
          <div className="field">
            <label htmlFor="seed">Seed</label>
            <input id="seed" type="number" min={0} placeholder="random" value={state.seed ?? ''}
              onChange={(e) => dispatch({ type: 'settings', seed: e.target.value === '' ? null : Math.max(0, Number(e.target.value)) })} />
          </div>
          <label className="check">
            <input type="checkbox" checked={state.inpaint} disabled={!state.sceneAssetId}
              onChange={(e) => dispatch({ type: 'settings', inpaint: e.target.checked })} />
            Paint into the scene (inside the boxes only)
          </label>
          <button type="button" className="primary" onClick={generate} disabled={active}>Generate</button>
          {active && <button type="button" onClick={cancel}>Cancel</button>}
        </div>
        <ErrorNote error={error} />
        {run && (
          <div className="run" data-status={run.status} data-frames={run.frames.length} data-testid="run">
            <label htmlFor="progress">{run.status === 'queued' ? 'Queued…' : `Step ${run.step} of ${run.total}`}</label>
            <progress id="progress" max={run.total || 1} value={run.step} />
            <p role="status" className="run-status">
              {run.status === 'succeeded' && <>Done. <a href={`#/gallery/${run.assetId}`}>Open in the gallery</a></>}
              {run.status === 'cancelled' && 'Cancelled.'}
              {run.status === 'running' && `${run.frames.length} preview frame${run.frames.length === 1 ? '' : 's'}`}
            </p>
            <ErrorNote error={run.error} />
            <div className="frames">
              {run.frames.length > 0 && <img className="live" src={run.frames[run.frames.length - 1]} alt={`Live preview, step ${run.step}`} />}
              {run.status === 'succeeded' && run.assetId && <img className="live" src={contentUrl(run.assetId, 1)} alt="Result" />}
              <ol className="strip" aria-label="Preview frames">
                {run.frames.map((f, i) => <li key={i}><img src={f} alt={`Preview frame ${i + 1}`} /></li>)}
              </ol>
            </div>
          </div>
        )}
      </section>
    </div>
  );
}
