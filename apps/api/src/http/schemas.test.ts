import { describe, expect, it } from 'vitest';
import { USER_ID_HTML_PATTERN, userIdSchema } from './schemas.js';

describe('the user-id rule', () => {
  // What a browser does with <input pattern>: anchor it and compile it with the `v` flag.
  const asHtmlPattern = () => new RegExp(`^(?:${USER_ID_HTML_PATTERN})$`, 'v');

  it('is a valid HTML pattern (compiles with the v flag)', () => {
    expect(asHtmlPattern).not.toThrow();
  });

  it('accepts and refuses the same ids as the API', () => {
    const html = asHtmlPattern();
    for (const id of [
      'alice',
      'journey_1a2b',
      'org:42|user@example.com',
      'a-b.c',
      'x'.repeat(200),
      '',
      'x'.repeat(201),
      'bad id',
      'semi;colon',
      'émile',
      'a/b',
    ]) {
      expect(html.test(id), id).toBe(userIdSchema.safeParse(id).success);
    }
    // Every printable ASCII character and a few others, inside an id.
    const characters = [
      ...Array.from({ length: 0x7f - 0x20 }, (_, i) => String.fromCharCode(0x20 + i)),
      'é',
      '\u00a0',
      '\n',
      '😀',
    ];
    for (const c of characters) {
      expect(html.test(`a${c}b`), JSON.stringify(c)).toBe(userIdSchema.safeParse(`a${c}b`).success);
    }
    expect(html.test('org:42|user@example.com')).toBe(true);
    expect(html.test('bad id')).toBe(false);
  });
});
