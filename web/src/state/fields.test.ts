import { describe, expect, it } from 'vitest';
import { fieldErrors, parseDecimal, parseInteger, parseSeeds, plainWords, SEED_MAX } from './fields';

describe('number fields', () => {
  const steps = { min: 1, max: 50 };
  it('parse what was typed, without clamping', () => {
    expect(parseInteger('20', 'Steps', steps)).toEqual({ ok: true, value: 20 });
    expect(parseInteger(' 7 ', 'Steps', steps)).toEqual({ ok: true, value: 7 });
    expect(parseInteger('', 'Steps', steps)).toEqual({ ok: false, error: 'Steps is empty: give a whole number from 1 to 50.' });
    expect(parseInteger('100000', 'Steps', steps)).toEqual({ ok: false, error: 'Steps goes up to 50; 100000 is too big.' });
    expect(parseInteger('0', 'Steps', steps)).toEqual({ ok: false, error: 'Steps starts at 1; 0 is too small.' });
    expect(parseInteger('2.5', 'Steps', steps).ok).toBe(false);
    expect(parseInteger('1e3', 'Steps', steps).ok).toBe(false);
    expect(parseInteger('-3', 'Steps', steps).ok).toBe(false);
    expect(parseInteger('60', 'Size', { min: 32, max: 128, multipleOf: 8 })).toEqual({ ok: false, error: 'Size must be a multiple of 8, not 60.' });
  });
  it('parse decimals in range', () => {
    expect(parseDecimal('2.5', 'Guidance', 0, 30)).toEqual({ ok: true, value: 2.5 });
    expect(parseDecimal('.5', 'Guidance', 0, 30)).toEqual({ ok: true, value: 0.5 });
    expect(parseDecimal('31', 'Guidance', 0, 30).ok).toBe(false);
    expect(parseDecimal('1,5', 'Guidance', 0, 30).ok).toBe(false);
  });
  it('read one seed, several, or none (random), refusing ones a browser cannot hold exactly', () => {
    expect(parseSeeds('')).toEqual({ ok: true, value: [] });
    expect(parseSeeds('7')).toEqual({ ok: true, value: [7] });
    expect(parseSeeds('7, 8 9,,10')).toEqual({ ok: true, value: [7, 8, 9, 10] });
    expect(parseSeeds(String(SEED_MAX))).toEqual({ ok: true, value: [SEED_MAX] });
    expect(parseSeeds('99999999999999999999')).toEqual({ ok: false, error: `A seed goes up to ${SEED_MAX}; 99999999999999999999 is too big.` });
    expect(parseSeeds('x').ok).toBe(false);
  });
});

describe('server validation errors', () => {
  it('land on the field they name, in plain words', () => {
    const e = fieldErrors([
      { loc: ['body', 'steps'], msg: 'Input should be less than or equal to 200' },
      { loc: ['body', 'width'], msg: 'Input should be a multiple of 8' },
      { loc: ['body', 'subjects', 1, 'box'], msg: 'Value error, box must be [x0, y0, x1, y1] with x0 < x1 and y0 < y1, got [0.5]' },
      { loc: ['body'], msg: 'Value error, width and height must be equal for now (the engine makes square images), got 64x128' },
      { loc: ['body', 'webhook_url'], msg: 'Input should be a valid URL' },
    ]);
    expect(e.steps).toBe('Steps must be at most 200.');
    expect(e.size).toMatch(/^Size must be a multiple of 8\. Size width and height must be equal/);
    expect(e.subjects).toBe('Subject 2 box box must be [x0, y0, x1, y1] with x0 < x1 and y0 < y1, got [0.5].');
    expect(e.form).toBe('Request must be a valid URL.');
    expect(plainWords('Input should be greater than or equal to 1')).toBe('must be at least 1');
  });
});
