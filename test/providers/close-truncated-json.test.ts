/**
 * Closing a JSON body cut at the byte limit (issue #9 item 5): a table of cut points, then the
 * property: for random objects and every byte they could be cut at, the closed text parses and
 * is a prefix of the original (see isCutOf), and the whole text comes back unchanged.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { closeTruncatedJson, completeUtf8Prefix } from '../../src/providers/close-truncated-json.js';

const close = (text: string) => {
  const closed = closeTruncatedJson(text);
  return closed && { value: JSON.parse(closed.text) as unknown, openPath: closed.openPath };
};

describe('closeTruncatedJson', () => {
  it.each([
    ['{', {}, []],
    ['{ ', {}, []],
    ['{"ab', {}, []],
    ['{"ab"', {}, []],
    ['{"ab":', {}, []],
    ['{"ab": ', {}, []],
    ['{"a":"xy', { a: 'xy' }, ['a']],
    ['{"a":"', { a: '' }, ['a']],
    ['{"a":"x\\', { a: 'x' }, ['a']],
    ['{"a":"x\\"', { a: 'x"' }, ['a']],
    ['{"a":"x\\u00', { a: 'x' }, ['a']],
    ['{"a":"x\\u00e9', { a: 'xé' }, ['a']],
    ['{"a":"x\\ud83d', { a: 'x' }, ['a']],
    ['{"a":"x\\ud83d\\ude00', { a: 'x😀' }, ['a']],
    ['{"a":12', {}, []],
    ['{"a":12,', { a: 12 }, []],
    ['{"a":-', {}, []],
    ['{"a":tru', {}, []],
    ['{"a":true', {}, []],
    ['{"a":true}', { a: true }, []],
    ['{"a":{"b":12', { a: {} }, ['a']],
    ['{"a":{"b":"c"', { a: { b: 'c' } }, ['a']],
    ['{"a":{"b":"c"},', { a: { b: 'c' } }, []],
    ['{"a":[1,2', { a: [1] }, ['a']],
    ['{"a":[1,2,', { a: [1, 2] }, ['a']],
    ['{"a":[', { a: [] }, ['a']],
    ['{"a":[]', { a: [] }, []],
    ['{"a":["x", "y', { a: ['x', 'y'] }, ['a', 1]],
    ['{"a":[{"b":"c', { a: [{ b: 'c' }] }, ['a', 0, 'b']],
    ['{"a":{}, "b"', { a: {} }, []],
    ['{"x":"a}b\\"c", "y":[{"z":nul', { x: 'a}b"c', y: [{}] }, ['y', 0]],
  ])('%s closes to %j, open at %j', (text, value, openPath) => {
    expect(close(text)).toEqual({ value, openPath });
  });

  it.each([
    ['<!doctype html><html><body>'],
    ['[1, 2'],
    ['"a string'],
    [''],
    ['   '],
    ['{"a" 1'],
    ['{"a":1}{'],
    ['{"a":1,}'],
    ['{,'],
    ['{"a":[1,]'],
    ['{"a":01,'],
    ['{"a":"tab\there'],
    ['{"a":bogus,'],
  ])('%j is nothing that can be closed', (text) => {
    expect(closeTruncatedJson(text)).toBeUndefined();
  });
});

describe('completeUtf8Prefix', () => {
  it('drops a multibyte character cut at the end, and only that', () => {
    const bytes = new TextEncoder().encode('aé😀');
    const decoded = (n: number) => new TextDecoder().decode(completeUtf8Prefix(bytes.subarray(0, n)));
    expect([1, 2, 3, 4, 5, 6, 7].map(decoded)).toEqual(['a', 'a', 'aé', 'aé', 'aé', 'aé', 'aé😀']);
  });
});

/**
 * Whether `cut` is `full` cut along `path`: off the path every value is whole; on it an object
 * or array holds the first members of `full`'s, the last of them being the next step of the
 * path (when there is one), and a string is a prefix of `full`'s.
 */
function isCutOf(cut: unknown, full: unknown, path: Array<string | number>): boolean {
  if (typeof full === 'string') return typeof cut === 'string' && path.length === 0 && full.startsWith(cut);
  if (Array.isArray(full)) {
    if (!Array.isArray(cut) || cut.length > full.length) return false;
    const whole = path.length === 0 ? cut.length : cut.length - 1;
    if (path.length > 0 && path[0] !== whole) return false;
    for (let i = 0; i < whole; i++) if (!equal(cut[i], full[i])) return false;
    return path.length === 0 || isCutOf(cut[whole], full[whole], path.slice(1));
  }
  if (typeof full === 'object' && full !== null) {
    if (typeof cut !== 'object' || cut === null || Array.isArray(cut)) return false;
    const keys = Object.keys(cut);
    const fullKeys = Object.keys(full);
    if (!keys.every((key, i) => fullKeys[i] === key)) return false;
    const whole = path.length === 0 ? keys.length : keys.length - 1;
    if (path.length > 0 && path[0] !== keys[whole]) return false;
    const c = cut as Record<string, unknown>;
    const f = full as Record<string, unknown>;
    for (let i = 0; i < whole; i++) if (!equal(c[keys[i]!], f[keys[i]!])) return false;
    return path.length === 0 || isCutOf(c[keys[whole]!], f[keys[whole]!], path.slice(1));
  }
  return false; // a number or literal is never kept cut
}

const equal = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

// Keys that are no array index, so an object's keys keep the order they were written in.
const key = fc.string({ unit: 'grapheme', maxLength: 6 }).map((text) => `k${text}`);
const { value } = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.string({ unit: 'grapheme', maxLength: 8 }),
    fc.double({ noNaN: true, noDefaultInfinity: true }),
    fc.integer(),
    fc.constantFrom(true, false, null),
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(key, tie('value'), { maxKeys: 4 }),
  ),
}));

describe('closeTruncatedJson, for every cut point of random objects', () => {
  it('parses to a prefix of the original, and the whole text to the original', () => {
    fc.assert(
      fc.property(fc.dictionary(key, value, { maxKeys: 5 }), fc.boolean(), (object, pretty) => {
        const text = JSON.stringify(object, null, pretty ? 1 : undefined);
        const full = JSON.parse(text) as unknown;
        const bytes = new TextEncoder().encode(text);
        for (let cut = 1; cut <= bytes.length; cut++) {
          const prefix = new TextDecoder().decode(completeUtf8Prefix(bytes.subarray(0, cut)));
          const closed = closeTruncatedJson(prefix);
          if (closed === undefined) throw new Error(`no result at byte ${cut} of ${text}`);
          const parsed = JSON.parse(closed.text) as unknown;
          if (cut === bytes.length) expect(parsed).toEqual(full);
          if (!isCutOf(parsed, full, closed.openPath)) throw new Error(`not a prefix at byte ${cut} of ${text}: ${closed.text} open at ${JSON.stringify(closed.openPath)}`);
        }
      }),
      { numRuns: 300 },
    );
  });
});
