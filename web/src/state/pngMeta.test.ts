import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { NotPng, pngText, scenecraftRequest } from './pngMeta';

// Written by the server's own encoder (src/scenecraft/jobs/png_metadata.py, through Pillow):
// the TypeScript reader is checked against the Python writer.
const fixture = new Uint8Array(readFileSync(new URL('./fixtures/scenecraft.png', import.meta.url)));

describe('PNG text chunks', () => {
  it('reads the request the server wrote, UTF-8 and big seeds intact', () => {
    const got = scenecraftRequest(fixture)!;
    expect(got.jobId).toBe('f'.repeat(32));
    expect(got.request).toMatchObject({ prompt: 'a café, 东京', seed: 9007199254740991, steps: 6, width: 32, model: 'seed-12M' });
    expect((got.request.subjects as unknown[]).length).toBe(1);
    const text = pngText(fixture);
    expect(text.Software).toBe('scenecraft');
    expect(text.parameters.split('\n')[1]).toBe('Steps: 6, Sampler: euler, CFG scale: 3.0, Seed: 9007199254740991, Size: 32x32, Model: seed-12M, Subjects: 1');
  });
  it('says when a file is not a PNG, and when a PNG has no settings', () => {
    expect(() => pngText(new TextEncoder().encode('GIF89a....'))).toThrow(NotPng);
    // the same file with its text chunks cut out: IHDR, IDAT, IEND only
    const view = new DataView(fixture.buffer, fixture.byteOffset);
    const parts: Uint8Array[] = [fixture.subarray(0, 8)];
    for (let at = 8; at < fixture.length;) {
      const len = view.getUint32(at);
      const type = new TextDecoder().decode(fixture.subarray(at + 4, at + 8));
      if (type !== 'tEXt' && type !== 'iTXt') parts.push(fixture.subarray(at, at + 12 + len));
      at += 12 + len;
    }
    const bare = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    parts.reduce((o, p) => (bare.set(p, o), o + p.length), 0);
    expect(pngText(bare)).toEqual({});
    expect(scenecraftRequest(bare)).toBeNull();
  });
});
