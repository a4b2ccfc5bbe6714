/**
 * An upper estimate of the tokens a text takes, for the worst-case budget hold: it must not
 * undercount any script, or concurrent calls overspend the cap (Chinese prompts counted at
 * "3 characters a token" once let a $150 cap be overspent by $237).
 *
 * - ASCII letters and digits: a word costs ceil(length / 3) tokens (real tokenizers take about 4
 *   characters of English, and at most 3 digits, per token);
 * - ASCII punctuation and symbols (code, JSON): 1 token each;
 * - ASCII whitespace: a quarter token (runs of indentation merge into few tokens);
 * - 2-byte UTF-8 characters (accented Latin, Greek, Cyrillic, Hebrew, Arabic…): 1 token each;
 * - 3-byte characters (CJK, kana, Hangul, Thai, Devanagari…): 2 tokens each (tokenizers take
 *   1 to 1.5 for common CJK characters);
 * - 4-byte characters (emoji, rare CJK): 4 tokens each, their UTF-8 length, which no byte-level
 *   tokenizer exceeds.
 */
export function estimateTokens(text: string): number {
  let tokens = 0;
  let word = 0;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (isWordChar(code)) {
      word++;
      continue;
    }
    if (word > 0) {
      tokens += Math.ceil(word / 3);
      word = 0;
    }
    if (code < 0x80) {
      tokens += code === 0x20 || code === 0x09 || code === 0x0a || code === 0x0d ? 0.25 : 1;
    } else if (code < 0x800) {
      tokens += 1;
    } else if (code >= 0xd800 && code <= 0xdbff && i + 1 < text.length) {
      // A surrogate pair: one 4-byte character.
      tokens += 4;
      i++;
    } else {
      tokens += 2;
    }
  }
  if (word > 0) tokens += Math.ceil(word / 3);
  return Math.ceil(tokens);
}

function isWordChar(code: number): boolean {
  return (code >= 0x30 && code <= 0x39) || (code >= 0x41 && code <= 0x5a) || (code >= 0x61 && code <= 0x7a);
}
