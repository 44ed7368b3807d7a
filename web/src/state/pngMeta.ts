// Reads the text chunks of a PNG (tEXt latin-1, iTXt UTF-8; PNG spec §11.3.4) in the browser, to
// load the settings that src/scenecraft/jobs/png_metadata.py wrote into a generated image: the
// `scenecraft` chunk holds {"format": 1, "job_id", "request"}. Compressed chunks (zTXt, compressed
// iTXt) are skipped: the server never writes them.

const SIGNATURE = [137, 80, 78, 71, 13, 10, 26, 10];

export class NotPng extends Error {}

/** keyword -> text of every uncompressed text chunk. */
export function pngText(bytes: Uint8Array): Record<string, string> {
  if (bytes.length < 8 || SIGNATURE.some((b, i) => bytes[i] !== b)) throw new NotPng('This file is not a PNG.');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: Record<string, string> = {};
  const latin1 = new TextDecoder('latin1');
  const utf8 = new TextDecoder('utf-8', { fatal: false });
  let at = 8;
  while (at + 12 <= bytes.length) {
    const length = view.getUint32(at);
    const type = latin1.decode(bytes.subarray(at + 4, at + 8));
    const data = bytes.subarray(at + 8, Math.min(bytes.length, at + 8 + length));
    if (type === 'IEND') break;
    const nul = data.indexOf(0);
    if (nul > 0 && type === 'tEXt') {
      out[latin1.decode(data.subarray(0, nul))] = latin1.decode(data.subarray(nul + 1));
    } else if (nul > 0 && type === 'iTXt') {
      const keyword = latin1.decode(data.subarray(0, nul));
      const compressed = data[nul + 1] === 1;
      let p = nul + 3; // compression flag, compression method
      const langEnd = data.indexOf(0, p);
      const transEnd = langEnd < 0 ? -1 : data.indexOf(0, langEnd + 1);
      if (!compressed && transEnd >= 0) {
        p = transEnd + 1;
        out[keyword] = utf8.decode(data.subarray(p));
      }
    }
    at += 12 + length;
  }
  return out;
}

/** The request stored in a scenecraft PNG, or null when the file has none. */
export function scenecraftRequest(bytes: Uint8Array): { jobId: string | null; request: Record<string, unknown> } | null {
  const text = pngText(bytes).scenecraft;
  if (!text) return null;
  try {
    const v = JSON.parse(text) as { format?: number; job_id?: string; request?: unknown };
    if (!v || typeof v.request !== 'object' || v.request === null || Array.isArray(v.request)) return null;
    return { jobId: typeof v.job_id === 'string' ? v.job_id : null, request: v.request as Record<string, unknown> };
  } catch {
    return null;
  }
}
