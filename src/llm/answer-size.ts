/** The default cap of one answer: 1 MiB of JSON text, well inside what an MCP client accepts (10 MiB) twice over. */
export const DEFAULT_MAX_ANSWER_BYTES = 1_048_576;

/** Bytes `text` takes inside a JSON message (UTF-8, escapes included): what the host's transport carries. */
export function jsonBytes(text: string): number {
  return Buffer.byteLength(JSON.stringify(text), 'utf8') - 2;
}

/** The longest prefix of `text` that takes at most `budget` JSON bytes, never splitting a surrogate pair. */
export function fitJsonBytes(text: string, budget: number): string {
  if (budget <= 0) return '';
  if (jsonBytes(text) <= budget) return text;
  let low = 0;
  let high = text.length;
  while (low < high) {
    const mid = Math.ceil((low + high) / 2);
    if (jsonBytes(text.slice(0, mid)) <= budget) low = mid;
    else high = mid - 1;
  }
  const code = text.charCodeAt(low - 1);
  return code >= 0xd800 && code <= 0xdbff ? text.slice(0, low - 1) : text.slice(0, low);
}
