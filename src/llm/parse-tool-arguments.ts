/**
 * Parses a tool call's JSON arguments. A model can emit broken JSON; rather than failing the
 * whole answer we hand back the raw text under `_raw` so the caller can see and repair it.
 */
export function parseToolArguments(text: string): Record<string, unknown> {
  if (text.trim() === '') return {};
  try {
    const value: unknown = JSON.parse(text);
    if (value !== null && typeof value === 'object' && !Array.isArray(value)) return value as Record<string, unknown>;
    return { _raw: text };
  } catch {
    return { _raw: text };
  }
}
