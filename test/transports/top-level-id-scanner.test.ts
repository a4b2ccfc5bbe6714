import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { TopLevelIdScanner } from '../../src/transports/top-level-id-scanner.js';

function scan(text: string, cuts: number[] = []): ReturnType<TopLevelIdScanner['id']> {
  const bytes = Buffer.from(text, 'utf8');
  const scanner = new TopLevelIdScanner();
  let start = 0;
  for (const cut of [...cuts.map((c) => c % (bytes.length + 1))].sort((a, b) => a - b)) {
    scanner.scan(bytes.subarray(start, Math.max(start, cut)));
    start = Math.max(start, cut);
  }
  scanner.scan(bytes.subarray(start));
  return scanner.id();
}

describe('TopLevelIdScanner', () => {
  it('finds the top-level id of any object, wherever it sits and however the bytes are cut', () => {
    fc.assert(
      fc.property(
        fc.dictionary(fc.string().filter((k) => k !== 'id'), fc.jsonValue()),
        fc.oneof(fc.string(), fc.integer()),
        fc.nat(),
        fc.array(fc.nat(), { maxLength: 6 }),
        (others, id, position, cuts) => {
          const entries = Object.entries(others);
          entries.splice(position % (entries.length + 1), 0, ['id', id]);
          const text = JSON.stringify(Object.fromEntries(entries));
          expect(scan(text, cuts)).toEqual(id);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('ignores ids nested deeper, ids that are objects, and text that is not an object', () => {
    expect(scan('{"params":{"id":5},"method":"x"}')).toBeUndefined();
    expect(scan('{"id":{"n":1},"method":"x"}')).toBeUndefined();
    expect(scan('[{"id":1}]')).toBeUndefined();
    expect(scan('{"method":"x","params":{"text":"\\"id\\":3"}}')).toBeUndefined();
    expect(scan('{"id":7,"params":{"id":8}}')).toBe(7);
    expect(scan('{"params":{"id":8},"id":"é"}')).toBe('é');
  });
});
