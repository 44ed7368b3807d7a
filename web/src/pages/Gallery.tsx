// The gallery: your assets with thumbnails; one asset's version history (parents, what made each),
// download, delete (after a confirmation) and the effects panel. Works offline from the service
// worker's cache of what was last seen.

import { useCallback, useEffect, useRef, useState } from 'react';
import { api, contentUrl, type Asset, type AssetVersion } from '../api';
import { EffectsPanel } from '../components/EffectsPanel';
import { ErrorNote, messageOf } from '../components/ErrorNote';

/** A short name for a tile: generated assets are named after their job id, which says little. */
export const displayName = (a: Asset): string => (a.name.startsWith('job-') ? `image ${a.id.slice(0, 6)}` : a.name || a.kind);

const describe = (op: Record<string, unknown>): string => {
  const name = String(op.op ?? 'unknown');
  if (name === 'effects' && Array.isArray(op.chain)) return `effects: ${(op.chain as { op: string }[]).map((o) => o.op).join(', ')}`;
  return name;
};

function AssetDetail({ asset, onDeleted }: { asset: Asset; onDeleted: () => void }) {
  const [versions, setVersions] = useState<AssetVersion[]>([]);
  const [current, setCurrent] = useState(asset.latest_version);
  const [error, setError] = useState<string | null>(null);
  const dialog = useRef<HTMLDialogElement>(null);

  const load = useCallback(() => {
    api.get<AssetVersion[]>(`/v1/assets/${asset.id}/versions`).then(setVersions, (e) => setError(messageOf(e)));
  }, [asset.id]);
  useEffect(load, [load]);

  const remove = async () => {
    dialog.current?.close();
    try {
      await api.del(`/v1/assets/${asset.id}`);
      onDeleted();
    } catch (e) {
      setError(messageOf(e));
    }
  };

  return (
    <article className="detail" aria-label={`Asset ${asset.name || asset.id}`}>
      <h2>{displayName(asset)} <small>{asset.id}</small></h2>
      <ErrorNote error={error} />
      <ol className="versions" aria-label="Versions">
        {versions.map((v) => (
          <li key={v.number} className={v.number === current ? 'on' : ''} data-testid={`version-${v.number}`}>
            <button type="button" className="thumb" onClick={() => setCurrent(v.number)} aria-pressed={v.number === current}
              aria-label={`Version ${v.number}`}>
              <img src={contentUrl(asset.id, v.number)} alt="" width={96} height={96} />
            </button>
            <div>
              <strong>Version {v.number}</strong>
              <span>{v.parent_number ? ` from version ${v.parent_number}` : ' (original)'}</span>
              <span className="meta">{describe(v.operation)} · {v.width}×{v.height}</span>
              <a href={contentUrl(asset.id, v.number)} download={`${asset.id}-v${v.number}.${v.content_type.split('/')[1]}`}>Download</a>
            </div>
          </li>
        ))}
      </ol>
      <button type="button" className="danger" onClick={() => dialog.current?.showModal()}>Delete asset…</button>
      <dialog ref={dialog} aria-labelledby="confirm-title">
        <h3 id="confirm-title">Delete this asset and all {versions.length} versions?</h3>
        <p>This cannot be undone.</p>
        <div className="row">
          <button type="button" className="danger" onClick={remove}>Delete</button>
          <button type="button" onClick={() => dialog.current?.close()} autoFocus>Keep it</button>
        </div>
      </dialog>
      <EffectsPanel assetId={asset.id} version={current} onVersion={(n) => { setCurrent(n); load(); }} />
    </article>
  );
}

export function Gallery({ selected }: { selected: string | null }) {
  const [assets, setAssets] = useState<Asset[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const load = useCallback(() => {
    api.get<{ items: Asset[] }>('/v1/assets?limit=100').then((p) => setAssets(p.items), (e) => setError(messageOf(e)));
  }, []);
  useEffect(load, [load]);
  const asset = assets?.find((a) => a.id === selected) ?? null;

  return (
    <div className="gallery">
      <h1>Gallery</h1>
      <ErrorNote error={error} />
      {assets && assets.length === 0 && <p>Nothing yet: make something in the <a href="#/studio">studio</a>.</p>}
      <ul className="grid" aria-label="Assets">
        {assets?.map((a) => (
          <li key={a.id} className={a.id === selected ? 'on' : ''}>
            <a href={`#/gallery/${a.id}`} aria-current={a.id === selected ? 'true' : undefined} data-testid="asset-tile">
              <img src={contentUrl(a.id, a.latest_version)} alt="" loading="lazy" width={128} height={128} />
              <span>{displayName(a)} · v{a.latest_version}</span>
            </a>
          </li>
        ))}
      </ul>
      {asset && <AssetDetail key={asset.id} asset={asset} onDeleted={() => { location.hash = '#/gallery'; load(); }} />}
    </div>
  );
}
