import { describe, expect, it } from 'vitest';
import { errorOf } from './api';

const reply = (status: number, body: unknown) => new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } });

describe('API errors', () => {
  it('read the one error shape: detail in words, the fields of a 422 in errors', async () => {
    const e = await errorOf(reply(422, {
      detail: 'steps: Input should be less than or equal to 50', code: 'validation_error',
      errors: [{ loc: ['body', 'steps'], msg: 'Input should be less than or equal to 50', type: 'less_than_equal' }],
    }));
    expect([e.status, e.message, e.code, e.items[0].loc]).toEqual([422, 'steps: Input should be less than or equal to 50', 'validation_error', ['body', 'steps']]);
  });
  it('still read the older 422 (items as detail, words as message) and non-JSON answers', async () => {
    const old = await errorOf(reply(422, { message: 'width: too big', detail: [{ loc: ['body', 'width'], msg: 'too big' }] }));
    expect([old.message, old.items.length]).toEqual(['width: too big', 1]);
    const text = await errorOf(new Response('oops', { status: 502, statusText: 'Bad Gateway' }));
    expect(text.message).toBe('502 Bad Gateway');
  });
});
