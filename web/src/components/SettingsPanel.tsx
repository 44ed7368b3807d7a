// Generation settings, offered from the chosen model's capabilities (state/models.ts): model,
// size and aspect, steps, sampler, guidance, seeds or batch count, negative prompt; each field
// shows its bounds and its own error, and a time estimate from measured step times.

import type { ModelCatalogue, ModelInfo } from '../state/models';
import { ASPECTS, dimensions, preferredSize, sizeChoices, sizeWarning } from '../state/models';
import { formatSeconds, stepSeconds, type StepTimes } from '../state/jobs';
import { MAX_BATCH, type StudioSettings } from '../state/studio';
import { Field } from './Field';

interface Props {
  settings: StudioSettings;
  catalogue: ModelCatalogue | null;
  model: ModelInfo | null;
  errors: Record<string, string>;
  times: StepTimes;
  onChange: (patch: Partial<StudioSettings>) => void;
}

/** "about 14 s for 2 images (0.66 s a step, measured)", or why there is no estimate yet. */
export function estimate(model: ModelInfo | null, s: StudioSettings, times: StepTimes, images: number): string {
  if (!model) return '';
  const steps = Number(s.steps);
  if (!Number.isInteger(steps) || steps < 1) return '';
  const per = stepSeconds(times, model.id, s.size);
  if (!per) return 'Time: measured after your first image at any size.';
  const what = images > 1 ? ` for ${images} images` : '';
  return `Time: ${formatSeconds(per.seconds * steps * images)}${what} (${per.seconds.toFixed(2)} s a step, ${per.measured ? 'measured here' : 'scaled from another size'}).`;
}

export function SettingsPanel({ settings: s, catalogue, model, errors, times, onChange }: Props) {
  const sizes = model ? sizeChoices(model) : [s.size];
  const [w, h] = model ? dimensions(s.size, s.aspect, model) : [s.size, s.size];
  const warn = model ? sizeWarning(model, s.size) : null;
  const square = Boolean(catalogue?.squareOnly || model?.square_only);
  const aspects = square ? ASPECTS.slice(0, 1) : ASPECTS;
  return (
    <fieldset className="settings">
      <legend>Settings</legend>
      <div className="settings-grid">
        <div className="field">
          <label htmlFor="model">Model</label>
          <select id="model" value={s.model || model?.id || ''} onChange={(e) => {
            const next = catalogue?.models.find((m) => m.id === e.target.value);
            onChange({ model: e.target.value, sampler: '', ...(next ? { size: preferredSize(next) } : {}) });
          }}>
            {catalogue?.models.map((m) => <option key={m.id} value={m.id}>{m.id}{m.default ? ' (default)' : ''}</option>)}
          </select>
          {errors.model && <small className="field-error" role="alert">{errors.model}</small>}
        </div>
        <div className="field">
          <label htmlFor="size">Size</label>
          <select id="size" value={s.size} onChange={(e) => onChange({ size: Number(e.target.value) })} aria-describedby="size-hint">
            {!sizes.includes(s.size) && <option value={s.size}>{s.size} px (not offered by this model)</option>}
            {sizes.map((v) => <option key={v} value={v}>{v} px{model && v === preferredSize(model) ? ' (default)' : model && v === model.native_size[0] ? ' (native)' : ''}</option>)}
          </select>
          <small id="size-hint" className="hint">{w}×{h}{model ? `; ${model.size.min}–${model.size.max} px` : ''}</small>
          {warn && <small className="warn">{warn}</small>}
          {errors.size && <small className="field-error" role="alert">{errors.size}</small>}
        </div>
        <div className="field">
          <label htmlFor="aspect">Aspect</label>
          <select id="aspect" value={s.aspect} onChange={(e) => onChange({ aspect: e.target.value })}>
            {aspects.map((a) => <option key={a.id} value={a.id}>{a.id}</option>)}
          </select>
          {square && <small className="hint">{model?.id ?? 'this model'} makes square images</small>}
        </div>
        <Field id="steps" label="Steps" numeric value={s.steps} onChange={(v) => onChange({ steps: v })}
          hint={model ? `${model.steps.min}–${model.steps.max}, default ${model.steps.default}` : undefined} error={errors.steps} />
        <div className="field">
          <label htmlFor="sampler">Sampler</label>
          <select id="sampler" value={s.sampler || model?.samplers[0] || ''} onChange={(e) => onChange({ sampler: e.target.value })}>
            {model?.samplers.map((x) => <option key={x} value={x}>{x}</option>)}
          </select>
          {errors.sampler && <small className="field-error" role="alert">{errors.sampler}</small>}
        </div>
        <Field id="guidance" label="Guidance" numeric decimal value={s.guidance} onChange={(v) => onChange({ guidance: v })}
          hint={`0–30, 1 = off${model ? `, default ${model.guidance.default}` : ''}`} error={errors.guidance} />
        <Field id="seed" label="Seed" numeric value={s.seeds} onChange={(v) => onChange({ seeds: v })} placeholder="random"
          hint="empty: random; several (7, 8, 9): one image each" error={errors.seed} />
        <Field id="batch" label="Images" numeric value={s.batch} onChange={(v) => onChange({ batch: v })}
          hint={`1–${MAX_BATCH}, random seeds`} error={errors.batch} disabled={s.seeds.trim() !== ''} />
      </div>
      <Field id="negative" label="Negative prompt" value={s.negative} onChange={(v) => onChange({ negative: v })}
        hint={model && !model.capabilities.negative_prompt ? `${model.id} does not read a negative prompt` : 'what the image should not show'}
        error={errors.negative} />
      <p className="hint" data-testid="estimate">{estimate(model, s, times, Math.max(1, s.seeds.trim() ? s.seeds.split(/[\s,]+/).filter(Boolean).length : Number(s.batch) || 1))}</p>
      {catalogue && <p className="hint">Choices from {catalogue.source === 'models' ? 'the server’s model list' : 'the server’s request limits'}.</p>}
    </fieldset>
  );
}
