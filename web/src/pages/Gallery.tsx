// The gallery: your assets (paged, filtered by generated / uploaded) with their latest version as
// the tile; one asset's versions with every setting that made them (prompt, real seed, steps,
// model, subjects, effects), "Use these settings", downloads named after the prompt and seed (the
// PNG carries the request too), a version compare (side by side or a slider), delete (after a
// confirmation) and the effects panel. Works offline from the service worker's cache.

import { useCallback, useEffect, useRef, useState } from 'react';
import { api, contentUrl, type Asset, type AssetVersion } from '../api';
import { EffectsPanel } from '../components/EffectsPanel';
import { ErrorNote, messageOf } from '../components/ErrorNote';
import { handOver } from '../state/draft';

const PAGE = 24;
type Filter = 'all' | 'generated' | 'upload';

/** A short name for a tile: generated assets are named after their job id, which says little. */
export const displayName = (a: Asset): string => (a.name.startsWith('job-') ? `image ${a.id.slice(0, 6)}` : a.name || a.kind);

/** The generation request behind a version: its own, or its nearest parent's. */
export function requestOf(versions: AssetVersion[], v: AssetVersion): Record<string, unknown> | null {
  let at: AssetVersion | undefined = v;
  for (let hops = 0; at && hops < 1000; hops++) {
    if (at.operation.op === 'generate' && at.operation.params && typeof at.operation.params === 'object') {
      return at.operation.params as Record<string, unknown>;
    }
    const parent: number | null = at.parent_number;
    at = parent ? versions.find((x) => x.number === parent) : undefined;
  }
  return null;
}

/** The effects applied on the way from the original to `v`, oldest first. */
function effectsOf(versions: AssetVersion[], v: AssetVersion): string[] {
  const out: string[] = [];
  let at: AssetVersion | undefined = v;
  for (let hops = 0; at && hops < 1000; hops++) {
    if (at.operation.op === 'effects' && Array.isArray(at.operation.chain)) {
      out.unshift(...(at.operation.chain as { op: string }[]).map((o) => o.op.replace('_', ' ')));
    }
    const parent: number | null = at.parent_number;
    at = parent ? versions.find((x) => x.number === parent) : undefined;
  }
  return out;
}

/** "scenecraft-a-red-chair-in-a-room-seed-1234-v2.png" */
export function downloadName(request: Record<string, unknown> | null, asset: Asset, v: AssetVersion): string {
  const ext = v.content_type.split('/')[1] ?? 'png';
  const slug = String(request?.prompt ?? asset.name ?? 'image').toLowerCase().normalize('NFKD')
    .replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 48) || 'image';
  const seed = request?.seed !== undefined && request?.seed !== null ? `-seed-${String(request.seed)}` : '';
  return `scenecraft-${slug}${seed}-v${v.number}.${ext}`;
}

function Settings({ request, effects }: { request: Record<string, unknown> | null; effects: string[] }) {
  if (!request) return effects.length ? <p className="meta">effects: {effects.join(', ')}</p> : <p className="meta">uploaded</p>;
  const subjects = Array.isArray(request.subjects) ? (request.subjects as { prompt: string; pose?: unknown }[]) : [];
  const rows: [string, string][] = [
    ['Prompt', String(request.prompt ?? '')],
    ...(request.negative_prompt ? [['Negative', String(request.negative_prompt)] as [string, string]] : []),
    ['Seed', String(request.seed ?? 'random')],
    ['Steps', String(request.steps ?? '')],
    ['Size', `${String(request.width)}×${String(request.height)}`],
    ['Model', `${String(request.model ?? '')}${request.sampler ? ` · ${String(request.sampler)}` : ''} · guidance ${String(request.guidance ?? '')}`],
    ['Scene', request.scene_asset_id ? `${String(request.scene_asset_id).slice(0, 8)}${request.inpaint ? ', painted into' : ''}` : 'none'],
    ['Subjects', subjects.length ? subjects.map((s) => `${s.prompt}${s.pose ? ' (posed)' : ''}`).join('; ') : 'none'],
    ['Effects', effects.length ? effects.join(', ') : 'none'],
  ];
  return (
    <dl className="settings-list" data-testid="version-settings">
      {rows.flatMap(([k, v]) => [<dt key={`k${k}`}>{k}</dt>, <dd key={`v${k}`}>{v}</dd>])}
    </dl>
  );
}

function Compare({ asset, a, b }: { asset: Asset; a: number; b: number }) {
  const [mode, setMode] = useState<'side' | 'slider'>('slider');
  const [split, setSplit] = useState(50);
  return (
    <section aria-label="Compare versions" className="card" data-testid="compare">
      <h3>Version {a} and version {b}</h3>
      <div className="row">
        <label className="check"><input type="radio" checked={mode === 'slider'} onChange={() => setMode('slider')} /> Slider</label>
        <label className="check"><input type="radio" checked={mode === 'side'} onChange={() => setMode('side')} /> Side by side</label>
      </div>
      {mode === 'side' ? (
        <div className="compare-side">
          <img src={contentUrl(asset.id, a)} alt={`Version ${a}`} />
          <img src={contentUrl(asset.id, b)} alt={`Version ${b}`} />
        </div>
      ) : (
        <>
          <div className="compare">
            <img src={contentUrl(asset.id, b)} alt={`Version ${b}`} />
            <img src={contentUrl(asset.id, a)} alt={`Version ${a}`} style={{ clipPath: `inset(0 ${100 - split}% 0 0)` }} />
          </div>
          <label className="slider"><span>split</span>
            <input type="range" min={0} max={100} value={split} onChange={(e) => setSplit(Number(e.target.value))} aria-label="Compare split" />
          </label>
        </>
      )}
    </section>
  );
}

function AssetDetail({ asset, onDeleted, onChanged }: { asset: Asset; onDeleted: () => void; onChanged: () => void }) {
  const [versions, setVersions] = useState<AssetVersion[]>([]);
  const [current, setCurrent] = useState(asset.latest_version);
  const [other, setOther] = useState<number | null>(null);
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
  const reuse = (request: Record<string, unknown>) => {
    handOver(localStorage, request);
    location.hash = '#/studio';
  };

  return (
    <article className="detail" aria-label={`Asset ${asset.name || asset.id}`}>
      <h2>{displayName(asset)} <small>{asset.id}</small></h2>
      <ErrorNote error={error} />
      <ol className="versions" aria-label="Versions">
        {versions.map((v) => {
          const request = requestOf(versions, v);
          return (
            <li key={v.number} className={v.number === current ? 'on' : ''} data-testid={`version-${v.number}`}>
              <button type="button" className="thumb" onClick={() => setCurrent(v.number)} aria-pressed={v.number === current}
                aria-label={`Version ${v.number}`}>
                <img src={contentUrl(asset.id, v.number)} alt="" width={96} height={96} />
              </button>
              <div>
                <strong>Version {v.number}</strong>
                <span>{v.parent_number ? ` from version ${v.parent_number}` : ' (original)'} · {v.width}×{v.height}</span>
                <Settings request={request} effects={effectsOf(versions, v)} />
                <div className="row">
                  {request && <button type="button" onClick={() => reuse(request)}>Use these settings</button>}
                  <a href={contentUrl(asset.id, v.number)} download={downloadName(request, asset, v)}>Download</a>
                  {versions.length > 1 && v.number !== current && (
                    <button type="button" className="quiet" onClick={() => setOther(v.number)}>Compare with version {current}</button>
                  )}
                </div>
              </div>
            </li>
          );
        })}
      </ol>
      {other !== null && other !== current && <Compare asset={asset} a={other} b={current} />}
      <button type="button" className="danger" onClick={() => dialog.current?.showModal()}>Delete asset…</button>
      <dialog ref={dialog} aria-labelledby="confirm-title">
        <h3 id="confirm-title">Delete this asset and all {versions.length} versions?</h3>
        <p>This cannot be undone.</p>
        <div className="row">
          <button type="button" className="danger" onClick={remove}>Delete</button>
          <button type="button" onClick={() => dialog.current?.close()} autoFocus>Keep it</button>
        </div>
      </dialog>
      <EffectsPanel assetId={asset.id} version={current} onVersion={(n) => { setCurrent(n); load(); onChanged(); }} />
    </article>
  );
}

export function Gallery({ selected }: { selected: string | null }) {
  const [assets, setAssets] = useState<Asset[] | null>(null);
  const [next, setNext] = useState<string | null>(null);
  const [filter, setFilter] = useState<Filter>('all');
  const [error, setError] = useState<string | null>(null);
  const query = useCallback(
    (offset: string | null) => `/v1/assets?limit=${PAGE}${filter !== 'all' ? `&kind=${filter}` : ''}${offset ? `&offset=${offset}` : ''}`,
    [filter],
  );
  const load = useCallback(() => {
    api.get<{ items: Asset[]; next_cursor: string | null }>(query(null)).then((p) => { setAssets(p.items); setNext(p.next_cursor); }, (e) => setError(messageOf(e)));
  }, [query]);
  useEffect(load, [load]);
  const more = () => {
    api.get<{ items: Asset[]; next_cursor: string | null }>(query(next)).then(
      (p) => { setAssets((a) => [...(a ?? []), ...p.items.filter((x) => !a?.some((y) => y.id === x.id))]); setNext(p.next_cursor); },
      (e) => setError(messageOf(e)),
    );
  };
  const [detail, setDetail] = useState<Asset | null>(null);
  useEffect(() => {
    // the selected asset, also when it is not on the loaded pages
    const found = assets?.find((a) => a.id === selected) ?? null;
    if (found || !selected) setDetail(found);
    else api.get<Asset>(`/v1/assets/${selected}`).then(setDetail, () => setDetail(null));
  }, [assets, selected]);

  return (
    <div className="gallery">
      <h1>Gallery</h1>
      <div className="row" role="group" aria-label="Show">
        {(['all', 'generated', 'upload'] as Filter[]).map((f) => (
          <button key={f} type="button" aria-pressed={filter === f} onClick={() => setFilter(f)}>
            {f === 'all' ? 'All' : f === 'generated' ? 'Generated' : 'Uploaded'}
          </button>
        ))}
      </div>
      <ErrorNote error={error} />
      {assets && assets.length === 0 && <p>Nothing here yet: make something in the <a href="#/studio">studio</a>.</p>}
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
      {next && <button type="button" onClick={more}>Load more</button>}
      {detail && <AssetDetail key={detail.id} asset={detail} onDeleted={() => { location.hash = '#/gallery'; load(); }} onChanged={load} />}
    </div>
  );
}
