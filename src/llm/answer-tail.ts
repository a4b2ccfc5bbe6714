/** Longest status line we send: Claude Code cuts the progress message at about 200 characters. */
export const MAX_TAIL_CHARS = 200;

// A word longer than this (a URL, a hash, code without spaces) is cut rather than dropped whole.
const MAX_WORD_CUT = 40;

/**
 * The end of the answer so far as one readable status line: runs of whitespace (newlines
 * included) shown as one space, at most `maxChars` code points, and when the start was cut, `…`
 * followed by the first whole word. Hosts show a progress `message` as a line of its own, so the
 * tail says more to a person than the newest few characters would. Empty when the text is only
 * whitespace.
 */
export function answerTail(text: string, maxChars = MAX_TAIL_CHARS): string {
  // Only the end matters: a window a few times the line's length survives any whitespace collapse.
  const window = text.length > maxChars * 4 ? text.slice(-maxChars * 4) : text;
  const flat = window.replace(/\s+/g, ' ').trim();
  const points = [...flat];
  if (window.length === text.length && points.length <= maxChars) return flat;
  if (flat === '') return '';
  let kept = points.slice(-(maxChars - 1)).join('');
  const space = kept.indexOf(' ');
  if (space >= 0 && space < MAX_WORD_CUT) kept = kept.slice(space + 1);
  return `…${kept}`;
}
