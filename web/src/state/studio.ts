// The studio's state: the prompt, the context scene and the subjects, as a pure reducer, and the
// jobs request built from it (src/scenecraft/api/schemas.py: JobCreate, Subject, Pose).

import { defaultBox, isValidBox, type Box } from '../geometry/boxes';
import { poseForRequest, presetPose, type SmplPose } from '../geometry/skeleton';

export const MATERIALS = [
  'wood', 'marble', 'brushed_metal', 'chrome', 'brick', 'grass', 'sand', 'fabric', 'rubber', 'glass', 'plastic',
] as const; // world/spec.py OBJECT_MATERIALS
export const COLOURS = [
  'red', 'orange', 'yellow', 'green', 'blue', 'purple', 'pink', 'white', 'black', 'gray', 'brown', 'cyan',
] as const; // world/spec.py COLOUR_NAMES
export const MAX_SUBJECTS = 8;

export interface StudioSubject {
  id: number;
  prompt: string;
  material: string; // '' = no hint
  colour: string; // '' = no hint
  box: Box;
  person: boolean;
  pose: SmplPose | null; // set when person
}

export interface StudioState {
  prompt: string;
  sceneAssetId: string | null;
  subjects: StudioSubject[];
  selected: number | null; // index into subjects
  nextId: number;
  size: number;
  steps: number;
  seed: number | null;
  guidance: number; // of the prompt; 1 = off
  inpaint: boolean; // paint the subjects into the scene, inside their boxes
}

export const initialStudio: StudioState = {
  prompt: '', sceneAssetId: null, subjects: [], selected: null, nextId: 1, size: 64, steps: 20, seed: null,
  guidance: 3, inpaint: false,
};

export type StudioAction =
  | { type: 'prompt'; prompt: string }
  | { type: 'scene'; assetId: string | null }
  | { type: 'settings'; size?: number; steps?: number; seed?: number | null; guidance?: number; inpaint?: boolean }
  | { type: 'add'; person?: boolean }
  | { type: 'remove'; index: number }
  | { type: 'select'; index: number | null }
  | { type: 'update'; index: number; patch: Partial<Omit<StudioSubject, 'id'>> }
  | { type: 'box'; index: number; box: Box }
  | { type: 'pose'; index: number; pose: SmplPose };

export function studioReducer(state: StudioState, action: StudioAction): StudioState {
  const subjects = state.subjects;
  const at = (i: number): boolean => i >= 0 && i < subjects.length;
  switch (action.type) {
    case 'prompt':
      return { ...state, prompt: action.prompt };
    case 'scene':
      return { ...state, sceneAssetId: action.assetId };
    case 'settings':
      return {
        ...state,
        size: action.size ?? state.size,
        steps: action.steps ?? state.steps,
        seed: action.seed === undefined ? state.seed : action.seed,
        guidance: action.guidance ?? state.guidance,
        inpaint: action.inpaint ?? state.inpaint,
      };
    case 'add': {
      if (subjects.length >= MAX_SUBJECTS) return state;
      const person = action.person ?? false;
      const subject: StudioSubject = {
        id: state.nextId, prompt: person ? 'a person' : '', material: '', colour: '',
        box: defaultBox(subjects.length), person, pose: person ? presetPose('stand') : null,
      };
      return { ...state, subjects: [...subjects, subject], selected: subjects.length, nextId: state.nextId + 1 };
    }
    case 'remove': {
      if (!at(action.index)) return state;
      const rest = subjects.filter((_, i) => i !== action.index);
      let selected = state.selected;
      if (selected !== null) selected = selected === action.index ? null : selected > action.index ? selected - 1 : selected;
      return { ...state, subjects: rest, selected };
    }
    case 'select':
      return { ...state, selected: action.index !== null && at(action.index) ? action.index : null };
    case 'update': {
      if (!at(action.index)) return state;
      const patch = { ...action.patch };
      if (patch.person === true && !subjects[action.index].pose && !patch.pose) patch.pose = presetPose('stand');
      if (patch.person === false) patch.pose = null;
      return { ...state, subjects: subjects.map((s, i) => (i === action.index ? { ...s, ...patch } : s)) };
    }
    case 'box':
      if (!at(action.index) || !isValidBox(action.box)) return state;
      return { ...state, subjects: subjects.map((s, i) => (i === action.index ? { ...s, box: action.box } : s)) };
    case 'pose':
      if (!at(action.index) || !subjects[action.index].person) return state;
      return { ...state, subjects: subjects.map((s, i) => (i === action.index ? { ...s, pose: action.pose } : s)) };
  }
}

/** A subject's prompt with its hints: "a chair, red, wood". */
export function subjectPrompt(s: StudioSubject): string {
  const hints = [s.colour, s.material.replace('_', ' ')].filter(Boolean);
  return [s.prompt.trim(), ...hints].join(', ');
}

export interface JobRequest {
  prompt: string;
  width: number;
  height: number;
  steps: number;
  guidance: number;
  seed?: number;
  scene_asset_id?: string;
  inpaint?: boolean;
  subjects: { prompt: string; box: Box; pose?: SmplPose }[];
}

/** What is wrong with the state for a request, or null when it can be sent. */
export function validateStudio(state: StudioState): string | null {
  if (!state.prompt.trim()) return 'Write a prompt first.';
  const blank = state.subjects.findIndex((s) => !s.prompt.trim());
  if (blank >= 0) return `Subject ${blank + 1} needs a prompt.`;
  if (state.inpaint && !state.sceneAssetId) return 'Painting into the scene needs a context scene.';
  if (state.inpaint && state.subjects.length === 0) return 'Painting into the scene needs a subject: its box is where it paints.';
  return null;
}

/** The POST /v1/jobs body for the state. */
export function jobRequest(state: StudioState): JobRequest {
  const body: JobRequest = {
    prompt: state.prompt.trim(),
    width: state.size,
    height: state.size,
    steps: state.steps,
    guidance: state.guidance,
    subjects: state.subjects.map((s) => ({
      prompt: subjectPrompt(s),
      box: s.box,
      ...(s.person && s.pose ? { pose: poseForRequest(s.pose) } : {}),
    })),
  };
  if (state.seed !== null) body.seed = state.seed;
  if (state.sceneAssetId) body.scene_asset_id = state.sceneAssetId;
  if (state.sceneAssetId && state.inpaint) body.inpaint = true;
  return body;
}
