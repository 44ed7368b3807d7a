// The subjects: each with a prompt, material and colour hints and a Person switch (a pose); their
// boxes are edited on the canvas.

import type { Dispatch } from 'react';
import { COLOURS, MATERIALS, MAX_SUBJECTS, type StudioAction, type StudioState } from '../state/studio';

export function SubjectsPanel({ state, dispatch, error }: { state: StudioState; dispatch: Dispatch<StudioAction>; error: string | null }) {
  const full = state.subjects.length >= MAX_SUBJECTS;
  return (
    <fieldset className="subjects-box">
      <legend>Subjects</legend>
      <div className="row">
        <button type="button" onClick={() => dispatch({ type: 'add' })} disabled={full}>Add subject</button>
        <button type="button" onClick={() => dispatch({ type: 'add', person: true })} disabled={full}>Add person</button>
      </div>
      {error && <small className="field-error" role="alert">{error}</small>}
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
    </fieldset>
  );
}
