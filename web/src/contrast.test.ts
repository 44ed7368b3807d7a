// The theme's text/background pairs (styles.css :root) meet WCAG AA contrast (4.5:1 for body text).
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const css = readFileSync(new URL('./styles.css', import.meta.url), 'utf8');
const colour = (name: string): string => {
  const m = css.match(new RegExp(`--${name}:\\s*(#[0-9a-fA-F]{6})`));
  if (!m) throw new Error(`--${name} not found in styles.css`);
  return m[1];
};
const luminance = (hex: string): number => {
  const [r, g, b] = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16) / 255)
    .map((c) => (c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4));
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
};
export const contrast = (a: string, b: string): number => {
  const [x, y] = [luminance(a), luminance(b)].sort((p, q) => q - p);
  return (x + 0.05) / (y + 0.05);
};

describe('theme contrast', () => {
  it('computes the WCAG ratio (black on white is 21:1)', () => expect(contrast('#000000', '#ffffff')).toBeCloseTo(21, 5));
  for (const [fg, bg] of [['text', 'bg'], ['muted', 'bg'], ['text', 'panel'], ['muted', 'panel'], ['accent', 'bg'],
    ['accent', 'panel'], ['accent-text', 'accent'], ['danger', 'bg'], ['danger', 'panel']]) {
    it(`${fg} on ${bg} is at least 4.5:1`, () => expect(contrast(colour(fg), colour(bg))).toBeGreaterThanOrEqual(4.5));
  }
});
