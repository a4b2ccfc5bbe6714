import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { answerTail } from '../../src/llm/answer-tail.js';

describe('answerTail: the progress line a person sees', () => {
  it('keeps a short answer whole, with whitespace and newlines shown as single spaces', () => {
    expect(answerTail('Hello')).toBe('Hello');
    expect(answerTail('  Line one\n\nLine two\tend \n')).toBe('Line one Line two end');
    expect(answerTail('\n \n')).toBe('');
  });

  it('cuts a long answer to its last 200 characters, starting at a word boundary after …', () => {
    const words = Array.from({ length: 100 }, (_, i) => `word${i}`);
    const tail = answerTail(words.join(' \n'));
    expect([...tail].length).toBeLessThanOrEqual(200);
    expect(tail.startsWith('…word')).toBe(true);
    expect(tail.endsWith('word98 word99')).toBe(true);
    // Only whole words after the ellipsis.
    for (const word of tail.slice(1).split(' ')) expect(words).toContain(word);
  });

  it('cuts inside a very long word (a URL, a hash) rather than dropping it', () => {
    const tail = answerTail(`see ${'x'.repeat(500)}`);
    expect(tail).toBe(`…${'x'.repeat(199)}`);
  });

  it('never splits a surrogate pair and never exceeds the limit (property)', () => {
    fc.assert(
      fc.property(fc.string({ unit: fc.constantFrom('a', 'b', ' ', '\n', '😀', 'é', '中'), maxLength: 1500 }), (text) => {
        const tail = answerTail(text);
        expect([...tail].length).toBeLessThanOrEqual(200);
        expect(tail).not.toMatch(/\s\s|\n|^\s|\s$/);
        expect(tail).not.toMatch(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/);
        // The end of the answer is always there.
        const flat = text.replace(/\s+/g, ' ').trim();
        expect(flat.endsWith(tail.replace(/^…/, ''))).toBe(true);
      }),
    );
  });
});
