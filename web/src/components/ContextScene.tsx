// The context scene: upload an image, pick an earlier asset, or make a room from the scene world.
// A non-square image is shown squeezed to the frame, as the model sees it (it is resized, not cropped).

import { useEffect, useState } from 'react';
import { api, type Asset } from '../api';
import { MATERIALS } from '../state/studio';
import { ErrorNote, messageOf } from './ErrorNote';

/** A choice kept in localStorage, so a reload or a visit elsewhere does not reset it. */
function useRemembered(key: string, initial: string): [string, (v: string) => void] {
  const [value, setValue] = useState(() => localStorage.getItem(key) ?? initial);
  const set = (v: string) => {
    setValue(v);
    localStorage.setItem(key, v);
  };
  return [value, set];
}

export function ContextScene({ assetId, onScene }: { assetId: string | null; onScene: (id: string | null) => void }) {
  const [assets, setAssets] = useState<Asset[]>([]);
  const [ground, setGround] = useRemembered('scenecraft.world.ground', 'wood');
  const [background, setBackground] = useRemembered('scenecraft.world.background', 'brick');
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
