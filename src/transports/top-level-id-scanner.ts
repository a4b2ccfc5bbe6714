import type { RequestId } from '@modelcontextprotocol/sdk/types.js';

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COLON = 0x3a;
const COMMA = 0x2c;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;

/** Longer than any id worth echoing; a longer one is treated as unreadable. */
const MAX_ID_BYTES = 256;

/**
 * Finds the top-level `"id"` of a JSON object fed to it in pieces, without keeping the object:
 * how a message too large to hold is still answered under its own id, wherever the id sits
 * (hosts put it first or last). Works on UTF-8 bytes: no byte of a multi-byte character can be
 * mistaken for a quote, brace or bracket.
 */
export class TopLevelIdScanner {
  private depth = 0;
  private inString = false;
  private escaped = false;
  /** At depth 1, whether the next string is a key. */
  private expectKey = false;
  private key: number[] | undefined;
  private lastKey = '';
  /** Raw bytes of the id's value while it is being read. */
  private value: number[] | undefined;
  private found: RequestId | undefined;

  scan(bytes: Uint8Array): void {
    for (let i = 0; i < bytes.length; i++) {
      const byte = bytes[i]!;
      if (this.value && this.depth === 1) this.collectValue(byte);
      if (this.inString) {
        if (this.escaped) this.escaped = false;
        else if (byte === BACKSLASH) this.escaped = true;
        else if (byte === QUOTE) {
          this.inString = false;
          if (this.key) {
            this.lastKey = Buffer.from(this.key).toString('utf8');
            this.key = undefined;
          }
          continue;
        }
        if (this.key && this.key.length <= 8) this.key.push(byte);
        continue;
      }
      switch (byte) {
        case QUOTE:
          this.inString = true;
          if (this.depth === 1 && this.expectKey) this.key = [];
          break;
        case OPEN_BRACE:
        case OPEN_BRACKET:
          this.depth++;
          if (this.depth === 1) this.expectKey = byte === OPEN_BRACE;
          // An object or array is no id.
          if (this.depth === 2) this.value = undefined;
          break;
        case CLOSE_BRACE:
        case CLOSE_BRACKET:
          if (this.depth === 1) this.finishValue();
          this.depth--;
          break;
        case COLON:
          if (this.depth === 1) {
            this.expectKey = false;
            if (this.lastKey === 'id') this.value = [];
          }
          break;
        case COMMA:
          if (this.depth === 1) {
            this.finishValue();
            this.expectKey = true;
          }
          break;
        default:
          break;
      }
    }
  }

  /** The id found so far, if it was a string or a number. */
  id(): RequestId | undefined {
    return this.found;
  }

  private collectValue(byte: number): void {
    if (!this.inString && (byte === COMMA || byte === CLOSE_BRACE)) return;
    if (this.value!.length >= MAX_ID_BYTES) {
      this.value = undefined;
      return;
    }
    this.value!.push(byte);
  }

  private finishValue(): void {
    if (!this.value) return;
    const raw = Buffer.from(this.value).toString('utf8').trim();
    this.value = undefined;
    this.lastKey = '';
    try {
      const parsed: unknown = JSON.parse(raw);
      if (typeof parsed === 'string' || (typeof parsed === 'number' && Number.isFinite(parsed))) this.found = parsed;
    } catch {
      // Not a readable id: the fault can then only be logged.
    }
  }
}
