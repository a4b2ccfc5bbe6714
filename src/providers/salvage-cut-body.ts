import { closeTruncatedJson, completeUtf8Prefix } from './close-truncated-json.js';

/** The wire a non-streamed completion speaks: OpenAI Chat Completions or Anthropic Messages. */
export type CompletionWire = 'openai' | 'anthropic';

type Json = Record<string, unknown>;
const isObject = (value: unknown): value is Json => typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * A completion body cut at the byte limit (its first `prefix` bytes), made whole again as the
 * completion of what arrived, or undefined when it is no such thing (an HTML page, garbage, JSON
 * cut before its first choice or its content list). Marked as cut so the converters answer with
 * finish_reason "length": every OpenAI choice's finish_reason "length", Anthropic's stop_reason
 * "max_tokens". A cut tool call is no call: an OpenAI tool call, or an Anthropic block other than
 * text, that was being read at the cut is dropped (its arguments would be broken JSON). A usage
 * object cut short is dropped, so the cost is unknown; one read whole is the provider's report.
 */
export function salvageCutBody(prefix: Uint8Array, wire: CompletionWire): string | undefined {
  const closed = closeTruncatedJson(new TextDecoder().decode(completeUtf8Prefix(prefix)));
  if (closed === undefined) return undefined;
  let body: unknown;
  try {
    body = JSON.parse(closed.text);
  } catch {
    return undefined;
  }
  if (!isObject(body)) return undefined;
  const path = closed.openPath;
  if (path[0] === 'usage') delete body.usage;
  if (wire === 'openai') {
    const choices = body.choices;
    if (!Array.isArray(choices) || choices.length === 0 || !isObject(choices[0]) || !isObject(choices[0].message)) return undefined;
    for (const choice of choices) if (isObject(choice)) choice.finish_reason = 'length';
    if (path[0] === 'choices' && path[2] === 'message' && path[3] === 'tool_calls' && typeof path[4] === 'number') {
      const toolCalls = (choices[path[1] as number] as Json).message as Json;
      (toolCalls.tool_calls as unknown[]).splice(path[4], 1);
    }
  } else {
    const content = body.content;
    if (!Array.isArray(content)) return undefined;
    body.stop_reason = 'max_tokens';
    if (path[0] === 'content' && typeof path[1] === 'number') {
      const block = content[path[1]] as unknown;
      if (!isObject(block) || block.type !== 'text' || typeof block.text !== 'string') content.splice(path[1], 1);
    }
  }
  return JSON.stringify(body);
}
