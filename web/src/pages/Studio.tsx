// The studio, a workbench: prompt and controls on the left with Generate always in view, the canvas
// in the middle (the live preview or the result, with the subjects' boxes and poses drawn over it),
// the queue and history on the right. One column on a phone: canvas, prompt, Generate, then the rest.
// The draft is saved as it changes (state/draft.ts); jobs are found again after a reload
// (state/useJobs.ts); dropping a scenecraft PNG loads its settings.

import { useCallback, useEffect, useMemo, useReducer, useState, type DragEvent } from 'react';
import { api, ApiError, contentUrl, type Asset, type User } from '../api';
import { BoxCanvas } from '../components/BoxCanvas';
import { ContextScene } from '../components/ContextScene';
import { ErrorNote, messageOf } from '../components/ErrorNote';
import { PoseEditor } from '../components/PoseEditor';
import { QueuePanel } from '../components/QueuePanel';
import { SettingsPanel } from '../components/SettingsPanel';
import { SubjectsPanel } from '../components/SubjectsPanel';
import { dropHandOver, loadDraft, saveDraft, takeHandOver } from '../state/draft';
import { fieldErrors } from '../state/fields';
import { isActive, type JobView } from '../state/jobs';
import { ASPECTS, loadModels, type ModelCatalogue } from '../state/models';
import { NotPng, scenecraftRequest } from '../state/pngMeta';
import { buildRequests, initialStudio, stateFromRequest, studioReducer, type StudioState } from '../state/studio';
import { useJobs } from '../state/useJobs';

const SAVE_MS = 300;

function startState(user: User): StudioState {
  const handed = takeHandOver(localStorage, true); // dropped in an effect, once the studio shows it
  const draft = loadDraft(localStorage, user.id) ?? initialStudio;
  return handed ? stateFromRequest(handed, draft) : draft;
}

export function Studio({ user }: { user: User }) {
  const [state, dispatch] = useReducer(studioReducer, user, startState);
  const [catalogue, setCatalogue] = useState<ModelCatalogue | null>(null);
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [notice, setNotice] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [shown, setShown] = useState<string | null>(null);
  const jobs = useJobs();

  useEffect(() => dropHandOver(localStorage), []);
  useEffect(() => {
    loadModels().then(setCatalogue, (e) => setErrors((x) => ({ ...x, model: messageOf(e) })));
  }, []);
  useEffect(() => {
    const t = setTimeout(() => saveDraft(localStorage, user.id, state), SAVE_MS);
    return () => clearTimeout(t);
  }, [state, user.id]);
  useEffect(() => {
    // after a reload, show the job that is running (or the newest one)
    if (shown === null && jobs.jobs.length) setShown((jobs.jobs.find(isActive) ?? jobs.jobs[0]).id);
  }, [jobs.jobs, shown]);

  const model = useMemo(() => {
    const ms = catalogue?.models ?? [];
    return ms.find((m) => m.id === state.settings.model) ?? ms.find((m) => m.default) ?? ms[0] ?? null;
  }, [catalogue, state.settings.model]);

  const generate = useCallback(async () => {
    const built = buildRequests(state, model);
    if (!built.ok) {
      setErrors(built.errors);
      return;
    }
    setErrors({});
    setNotice(null);
    setBusy(true);
    try {
      const made = await jobs.submit(built.requests);
      if (made.length) setShown(made[0].id);
    } catch (e) {
      if (e instanceof ApiError && e.items.length) setErrors(fieldErrors(e.items));
      else setErrors({ form: messageOf(e) });
    } finally {
      setBusy(false);
    }
  }, [state, model, jobs]);

  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) {
        e.preventDefault();
        void generate();
      }
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [generate]);

  const reuse = (job: JobView) => {
    dispatch({ type: 'load', state: stateFromRequest(job.params, state) });
    setNotice(`Loaded the settings of "${String(job.params.prompt ?? '')}" (seed ${String(job.params.seed)}).`);
  };

  const drop = async (e: DragEvent) => {
    e.preventDefault();
    const file = e.dataTransfer.files?.[0];
    if (!file) return;
    try {
      const meta = scenecraftRequest(new Uint8Array(await file.arrayBuffer()));
      if (meta) {
        dispatch({ type: 'load', state: stateFromRequest(meta.request, state) });
        setNotice(`Loaded the settings stored in ${file.name} (seed ${String(meta.request.seed)}).`);
        return;
      }
    } catch (err) {
      if (!(err instanceof NotPng)) throw err;
    }
    // an image without settings: use it as the context scene
    const form = new FormData();
    form.append('file', file);
    try {
      const asset = await api.post<Asset>('/v1/assets', form);
      dispatch({ type: 'scene', assetId: asset.id });
      setNotice(`${file.name} has no scenecraft settings: it is now the context scene.`);
    } catch (err) {
      setErrors({ scene: messageOf(err) });
    }
  };

  const job = jobs.jobs.find((j) => j.id === shown) ?? null;
  const selected = state.selected !== null ? state.subjects[state.selected] : null;
  const result = job?.status === 'succeeded' && job.assetId ? contentUrl(job.assetId, 1) : null;
  const image = result ?? (job && isActive(job) ? job.preview : null) ?? (state.sceneAssetId ? contentUrl(state.sceneAssetId, 1) : null);
  const imageAlt = result ? 'Result' : job?.preview && isActive(job) ? `Live preview, step ${job.step}` : 'Context scene';
  const aspect = ASPECTS.find((a) => a.id === state.settings.aspect) ?? ASPECTS[0];
  const activeCount = jobs.jobs.filter(isActive).length;

  return (
    <div className="bench" onDragOver={(e) => e.preventDefault()} onDrop={(e) => void drop(e)} data-testid="studio">
      <section className="bench-prompt" aria-label="What to make">
        <h1>Studio</h1>
        <label htmlFor="prompt">Prompt</label>
        <textarea id="prompt" rows={2} maxLength={2000} value={state.prompt} placeholder="a sunlit room with a red chair"
          aria-invalid={errors.prompt ? true : undefined}
          onChange={(e) => dispatch({ type: 'prompt', prompt: e.target.value })} />
        {errors.prompt && <small className="field-error" role="alert">{errors.prompt}</small>}
      </section>

      <div className="bench-go">
        <button type="button" className="primary" onClick={() => void generate()} disabled={busy}
          title="Ctrl+Enter">{busy ? 'Sending…' : 'Generate'}</button>
        <span className="go-status" role="status">
          {activeCount ? `${activeCount} job${activeCount > 1 ? 's' : ''} in the queue` : 'Ctrl+Enter generates'}
        </span>
        <ErrorNote error={errors.form ?? null} />
        {Object.keys(errors).filter((k) => k !== 'form').length > 0 && (
          <p className="field-error" role="alert">Fix the marked field{Object.keys(errors).length > 1 ? 's' : ''}: {Object.values(errors).join(' ')}</p>
        )}
        {notice && <p className="notice" role="status">{notice}</p>}
      </div>

      <section className="bench-canvas" aria-label="Canvas">
        <BoxCanvas subjects={state.subjects} selected={state.selected} imageUrl={image} imageAlt={imageAlt}
          aspect={aspect.w / aspect.h}
          onSelect={(index) => dispatch({ type: 'select', index })}
          onBox={(index, box) => dispatch({ type: 'box', index, box })} />
        {job && (
          <div className="run" data-testid="run" data-status={job.status} data-frames={job.frames} data-job={job.id}>
            <label htmlFor="progress">
              {job.status === 'queued' ? `Queued${job.position ? ` (#${job.position})` : ''}…` : `Step ${job.step} of ${job.total}`}
              {job.status === 'cancelling' && ' · cancelling…'}
            </label>
            <progress id="progress" max={job.total || 1} value={job.step} />
            <p className="run-status">
              {job.status === 'succeeded' && job.assetId && <>Done. <a href={`#/gallery/${job.assetId}`}>Open in the gallery</a></>}
              {job.status === 'cancelled' && 'Cancelled.'}
              {job.status === 'dead' && <span className="field-error">{job.error}</span>}
              {(job.status === 'running' || job.status === 'cancelling') && `${job.frames} preview frame${job.frames === 1 ? '' : 's'}`}
              {isActive(job) && job.status !== 'cancelling' && (
                <button type="button" className="quiet" onClick={() => void jobs.cancel(job.id)}>Cancel</button>
              )}
            </p>
            {job.strip.length > 0 && (
              <ol className="strip" aria-label="Preview frames">
                {job.strip.map((f, i) => <li key={i}><img src={f} alt={`Preview frame ${i + 1}`} /></li>)}
              </ol>
            )}
          </div>
        )}
      </section>

      <section className="bench-controls" aria-label="Controls">
        <SettingsPanel settings={state.settings} catalogue={catalogue} model={model} errors={errors} times={jobs.times}
          onChange={(patch) => dispatch({ type: 'settings', patch })} />
        <ContextScene assetId={state.sceneAssetId} onScene={(id) => dispatch({ type: 'scene', assetId: id })} />
        {errors.scene && <small className="field-error" role="alert">{errors.scene}</small>}
        <label className="check">
          <input type="checkbox" checked={state.inpaint} disabled={!state.sceneAssetId}
            onChange={(e) => dispatch({ type: 'inpaint', on: e.target.checked })} />
          Paint into the scene (inside the boxes only)
        </label>
        {errors.inpaint && <small className="field-error" role="alert">{errors.inpaint}</small>}
        <SubjectsPanel state={state} dispatch={dispatch} error={errors.subjects ?? null} />
        {selected?.person && selected.pose && state.selected !== null && (
          <PoseEditor title={`Pose of subject ${state.selected + 1}`} pose={selected.pose}
            onPose={(pose) => dispatch({ type: 'pose', index: state.selected!, pose })} />
        )}
      </section>

      <QueuePanel jobs={jobs.jobs} times={jobs.times} shown={shown} onShow={setShown}
        onCancel={(id) => void jobs.cancel(id).catch((e) => setErrors({ form: messageOf(e) }))} onReuse={reuse} />
    </div>
  );
}
