// Effects on an asset: the chain previewed live in WebGL2 (web/src/effects, the torch renderer's
// twin) as the sliders move, with no server round trip; Apply sends the same chain to
// POST /v1/assets/{id}/effects, which renders it on the server as the asset's next version.

import { useEffect, useRef, useState } from 'react';
import { api, contentUrl, followJob } from '../api';
import { EffectsRenderer } from '../effects';
import { CONTROLS, initialPanel, panelChain, setChoice, setParam } from '../effects/controls';
import { ErrorNote, messageOf } from './ErrorNote';

interface Source { width: number; height: number; data: Float32Array }

async function loadImage(url: string): Promise<Source> {
  const blob = await (await fetch(url, { credentials: 'same-origin' })).blob();
  const bitmap = await createImageBitmap(blob);
  const canvas = document.createElement('canvas');
  canvas.width = bitmap.width;
  canvas.height = bitmap.height;
  const ctx = canvas.getContext('2d')!;
  ctx.drawImage(bitmap, 0, 0);
  const rgba = ctx.getImageData(0, 0, bitmap.width, bitmap.height).data;
  const data = new Float32Array(rgba.length);
  for (let i = 0; i < rgba.length; i++) data[i] = rgba[i] / 255;
  return { width: bitmap.width, height: bitmap.height, data };
}

export function EffectsPanel({ assetId, version, onVersion }: { assetId: string; version: number; onVersion: (n: number) => void }) {
  const view = useRef<HTMLCanvasElement>(null);
  const renderer = useRef<EffectsRenderer | null>(null);
  const [source, setSource] = useState<Source | null>(null);
  const [panel, setPanel] = useState(initialPanel);
  const [error, setError] = useState<string | null>(null);
  const [glError, setGlError] = useState<string | null>(null);
  const [applying, setApplying] = useState<string | null>(null);
  const [renders, setRenders] = useState(0);

  useEffect(() => {
    let live = true;
    loadImage(contentUrl(assetId, version)).then((s) => live && setSource(s), (e) => live && setError(messageOf(e)));
    return () => {
      live = false;
    };
  }, [assetId, version]);

  useEffect(() => {
    if (!source || !view.current) return;
    const frame = requestAnimationFrame(() => {
      try {
        if (!renderer.current) {
          const gl = document.createElement('canvas').getContext('webgl2');
          if (!gl) throw new Error('This browser has no WebGL2: the live preview is off, Apply still works.');
          renderer.current = new EffectsRenderer(gl);
        }
        const chain = panelChain(panel);
        const out = chain.length ? renderer.current.render(chain, source) : source.data;
        const canvas = view.current!;
        canvas.width = source.width;
        canvas.height = source.height;
        const bytes = new Uint8ClampedArray(out.length);
        for (let i = 0; i < out.length; i++) bytes[i] = i % 4 === 3 ? 255 : Math.round(out[i] * 255);
        canvas.getContext('2d')!.putImageData(new ImageData(bytes, source.width, source.height), 0, 0);
        setRenders((n) => n + 1);
        setGlError(null);
      } catch (e) {
        setGlError(messageOf(e));
      }
    });
    return () => cancelAnimationFrame(frame);
  }, [source, panel]);

  const apply = async () => {
    const chain = panelChain(panel);
    if (!chain.length) {
      setError('Turn on at least one effect first.');
      return;
    }
    setError(null);
    try {
      const job = await api.post<{ id: string }>(`/v1/assets/${assetId}/effects`, { chain, version });
      setApplying('Rendering on the server…');
      followJob(job.id, (e) => {
        if (e.kind === 'done') {
          setApplying(null);
          setPanel(initialPanel()); // the new version already carries the chain: start it from nothing
          api.get<{ latest_version: number }>(`/v1/assets/${assetId}`).then((a) => onVersion(a.latest_version), (err) => setError(messageOf(err)));
        } else if (e.kind === 'failed') {
          setApplying(null);
          setError(e.error);
        } else if (e.kind === 'cancelled') setApplying(null);
      });
    } catch (e) {
      setError(messageOf(e));
    }
  };

  return (
    <section className="effects" aria-label="Effects">
      <h2>Effects on version {version}</h2>
      <div className="effects-body">
        <canvas ref={view} className="preview" data-renders={renders} data-testid="effects-preview"
          aria-label="Live effects preview" role="img" />
        <div className="controls">
          {CONTROLS.map((c) => (
            <fieldset key={c.op}>
              <legend>
                <label className="check">
                  <input type="checkbox" checked={panel.enabled[c.op]}
                    onChange={(e) => setPanel((p) => ({ ...p, enabled: { ...p.enabled, [c.op]: e.target.checked } }))} />
                  {c.label}
                </label>
              </legend>
              {c.choices?.map((ch) => (
                <label key={ch.key} className="slider">
                  <span>{ch.label}</span>
                  <select aria-label={`${c.label} ${ch.label}`}
                    value={String((panel.values[c.op] as unknown as Record<string, string>)[ch.key])}
                    onChange={(e) => setPanel((p) => setChoice(p, c.op, ch.key, e.target.value))}>
                    {ch.options.map((o) => <option key={o} value={o}>{o.replace('_', ' ')}</option>)}
                  </select>
                </label>
              ))}
              {c.sliders.map((s) => {
                const value = (panel.values[c.op] as unknown as Record<string, number>)[s.key];
                return (
                  <label key={s.key} className="slider">
                    <span>{s.label}</span>
                    <input type="range" min={s.min} max={s.max} step={s.step} value={value}
                      aria-label={`${c.label} ${s.label}`}
                      onChange={(e) => setPanel((p) => setParam(p, c.op, s.key, Number(e.target.value)))} />
                    <output>{value.toFixed(s.step < 0.01 ? 3 : 2)}</output>
                  </label>
                );
              })}
            </fieldset>
          ))}
        </div>
      </div>
      <ErrorNote error={glError} />
      <ErrorNote error={error} />
      <div className="row">
        <button type="button" className="primary" onClick={apply} disabled={applying !== null}>Apply as a new version</button>
        <button type="button" onClick={() => setPanel(initialPanel())}>Reset</button>
        {applying && <span role="status">{applying}</span>}
      </div>
    </section>
  );
}
