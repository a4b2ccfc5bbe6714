/**
 * Closing a JSON text that was cut short (a provider's body read up to the byte limit, see
 * bounded-fetch.ts), so what arrived can still be parsed. Pure, one pass, no parsing of values.
 *
 * What comes out is a "prefix" of what was sent: every value in it is the sender's value,
 * whole, except the values on `openPath`, each of which is cut: a string is a prefix of the
 * sent string; an object or array holds the first members of the sent one, all whole but the
 * last, which is on the path. Whatever was half read (a half key, a half number or literal, a
 * key without its value, a dangling comma or colon, a cut `\u` escape or a lone high surrogate
 * at the end) is dropped; an open string is closed; the open containers are closed.
 */

export interface ClosedJson {
  /** The closed text: it parses (for a prefix of well-formed JSON) to an object. */
  text: string;
  /**
   * Keys (objects) and indexes (arrays) from the top-level object down to the deepest value
   * that was cut and kept. The top-level object is always cut; empty: no member of it was kept cut.
   */
  openPath: Array<string | number>;
}

interface Frame {
  kind: 'object' | 'array';
  /** What comes next: a key (object), a value, the colon after a key, or a comma/close after a value. */
  expect: 'key' | 'colon' | 'value' | 'comma';
  /** Where the member being read began: the comma before it, or just after the opening bracket. */
  memberStart: number;
  /** The current member's key (object) or index (array). */
  member: string | number;
  /** A comma was read: the container cannot close before another member. */
  afterComma: boolean;
}

const NUMBER = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?$/;
const LITERALS = new Set(['true', 'false', 'null']);
const WHITESPACE = new Set([' ', '\t', '\n', '\r']);

/**
 * `prefix` closed into a JSON object, or undefined when it is no object's beginning (an HTML
 * page, garbage, another top-level value) or is malformed before the cut.
 */
export function closeTruncatedJson(prefix: string): ClosedJson | undefined {
  const stack: Frame[] = [];
  let started = false;
  let finished = false;
  // Inside a string: where it began (its quote), whether it is a key, and the last escape's span.
  let stringStart = -1;
  let stringIsKey = false;
  let escapeStart = -1;
  let escapeEnd = -1;
  // Inside a number or literal: where it began.
  let atomStart = -1;

  for (let i = 0; i < prefix.length; i++) {
    const char = prefix[i]!;
    if (stringStart !== -1) {
      if (i < escapeEnd) continue;
      if (char === '\\') {
        escapeStart = i;
        escapeEnd = prefix[i + 1] === 'u' ? i + 6 : i + 2;
      } else if (char === '"') {
        const top = stack[stack.length - 1]!;
        if (stringIsKey) {
          top.member = JSON.parse(prefix.slice(stringStart, i + 1)) as string;
          top.expect = 'colon';
        } else {
          top.expect = 'comma';
        }
        stringStart = -1;
      } else if (char < ' ') {
        return undefined;
      }
      continue;
    }
    if (atomStart !== -1) {
      if (/[0-9a-zA-Z.+-]/.test(char)) continue;
      const atom = prefix.slice(atomStart, i);
      if (!LITERALS.has(atom) && !NUMBER.test(atom)) return undefined;
      atomStart = -1;
      stack[stack.length - 1]!.expect = 'comma';
    }
    if (WHITESPACE.has(char)) continue;
    if (finished) return undefined;
    const top = stack[stack.length - 1];
    if (!started) {
      if (char !== '{') return undefined;
      started = true;
      stack.push({ kind: 'object', expect: 'key', memberStart: i + 1, member: '', afterComma: false });
      continue;
    }
    if (top === undefined) return undefined;
    switch (top.expect) {
      case 'key':
        if (char === '"') {
          stringStart = i;
          stringIsKey = true;
        } else if (char === '}' && !top.afterComma) {
          finished = close(stack);
        } else {
          return undefined;
        }
        break;
      case 'colon':
        if (char !== ':') return undefined;
        top.expect = 'value';
        break;
      case 'value':
        if (top.kind === 'array' && char === ']' && !top.afterComma) {
          finished = close(stack);
        } else if (char === '{' || char === '[') {
          stack.push({ kind: char === '{' ? 'object' : 'array', expect: char === '{' ? 'key' : 'value', memberStart: i + 1, member: char === '{' ? '' : 0, afterComma: false });
        } else if (char === '"') {
          stringStart = i;
          stringIsKey = false;
        } else if (/[-0-9tfn]/.test(char)) {
          atomStart = i;
        } else {
          return undefined;
        }
        break;
      case 'comma':
        if (char === ',') {
          top.memberStart = i;
          top.afterComma = true;
          if (top.kind === 'object') top.expect = 'key';
          else {
            top.expect = 'value';
            top.member = (top.member as number) + 1;
          }
        } else if (char === (top.kind === 'object' ? '}' : ']')) {
          finished = close(stack);
        } else {
          return undefined;
        }
        break;
    }
  }
  if (!started) return undefined;
  if (finished) return { text: prefix, openPath: [] };

  const path = stack.map((frame) => frame.member);
  const closers = stack.map((frame) => (frame.kind === 'object' ? '}' : ']')).reverse().join('');
  const top = stack[stack.length - 1]!;
  // A string value cut short: kept, closed, less a cut escape or a lone high surrogate at its end.
  if (stringStart !== -1 && !stringIsKey) {
    let end = prefix.length;
    if (escapeEnd > prefix.length) end = escapeStart;
    else if (escapeEnd === prefix.length && /^\\u[dD][89abAB]/.test(prefix.slice(escapeStart, escapeEnd))) end = escapeStart;
    return { text: `${prefix.slice(0, end)}"${closers}`, openPath: path };
  }
  // The last member is whole (or there is none yet): close what is open.
  if (stringStart === -1 && atomStart === -1 && top.expect === 'comma') {
    return { text: `${prefix}${closers}`, openPath: path.slice(0, -1) };
  }
  // A half member (a key, a key without its value, a number or literal, a dangling comma): dropped.
  return { text: `${prefix.slice(0, top.memberStart)}${closers}`, openPath: path.slice(0, -1) };
}

/** Pops the closed container; marks the parent's member whole. Returns whether the top level closed. */
function close(stack: Frame[]): boolean {
  stack.pop();
  const parent = stack[stack.length - 1];
  if (parent) parent.expect = 'comma';
  return parent === undefined;
}

/** `bytes` less a UTF-8 sequence cut at its end, so decoding it yields no replacement character there. */
export function completeUtf8Prefix(bytes: Uint8Array): Uint8Array {
  for (let back = 1; back <= Math.min(4, bytes.length); back++) {
    const byte = bytes[bytes.length - back]!;
    if ((byte & 0xc0) === 0x80) continue; // a continuation byte: look further back for the lead
    const length = byte >= 0xf0 ? 4 : byte >= 0xe0 ? 3 : byte >= 0xc0 ? 2 : 1;
    return length > back ? bytes.subarray(0, bytes.length - back) : bytes;
  }
  return bytes;
}
