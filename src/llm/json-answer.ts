/**
 * `response_format`: answers as JSON, parsed and validated against the caller's schema before
 * they are returned. Each provider's native structured output is used where it has one; else a
 * forced tool call whose arguments are the answer; else JSON mode with the schema in the
 * instructions. Whatever the route, the value is checked here (ajv), so a host never gets JSON
 * that does not match. Pure, apart from compiling the schema.
 *
 * | provider / model | route |
 * |---|---|
 * | OpenAI | `response_format: json_schema` (`strict` when the schema allows it), `json_object` for "json" |
 * | Claude 4.5 and later | `output_config.format` json_schema (when the schema is closed); else a forced tool call |
 * | older Claude, "json" on Claude | a forced tool call |
 * | DeepSeek, Qwen | JSON mode (`json_object`) with the schema in a system message |
 * | other OpenAI-compatible | a forced tool call (models with tools), else JSON mode |
 */
import { Ajv, type ValidateFunction } from 'ajv';
import type { ModelDefinition, ProviderDefinition } from '../registry/catalog.js';
import { LlmError } from './errors.js';
import { claudeVersion } from './reasoning-effort.js';
import type { ChatRequest, ChatResponse } from './types.js';

export type ResponseFormatInput = 'json' | { type: 'json_schema'; schema: Record<string, unknown>; name?: string };

/** The caller's format, checked once per call. */
export interface JsonAnswerSpec {
  name: string;
  /** undefined for "json": any JSON object. */
  schema?: Record<string, unknown>;
  validate?: ValidateFunction;
}

/** How one request asks for JSON, and so how the answer is read back. */
export interface JsonAnswerPlan {
  spec: JsonAnswerSpec;
  /** The answer arrives as this forced tool's arguments, not as text. */
  viaTool?: string;
  /** The schema was wrapped in `{value: …}` because its root is not an object. */
  wrapped: boolean;
}

export type JsonAnswerReading = { ok: true; value: unknown; text: string } | { ok: false; error: string; raw: string };

function invalid(message: string): LlmError {
  return new LlmError(message, { kind: 'invalid-request', retryable: false });
}

/** Checks `response_format` and compiles its schema, before any provider is contacted. */
export function prepareJsonAnswer(format: ResponseFormatInput | undefined): JsonAnswerSpec | undefined {
  if (format === undefined) return undefined;
  if (format === 'json') return { name: 'answer' };
  const name = format.name ?? 'answer';
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(name)) {
    throw invalid(`response_format.name '${name}' must be 1 to 64 letters, digits, _ or -.`);
  }
  let validate: ValidateFunction;
  try {
    validate = new Ajv({ strict: false, allErrors: true, validateFormats: false }).compile(format.schema);
  } catch (error) {
    throw invalid(`response_format.schema is not a valid JSON Schema: ${(error as Error).message}`);
  }
  return { name, schema: format.schema, validate };
}

/** Whether a schema's root is an object schema (tools and structured outputs need one). */
function isObjectSchema(schema: Record<string, unknown>): boolean {
  return schema.type === 'object';
}

/**
 * Whether strict structured output can take the schema as it is: every object closed
 * (`additionalProperties: false`) with all its properties required. A schema that is not would
 * be rejected by the provider (or silently changed), so it goes another way.
 */
export function isClosedSchema(schema: unknown): boolean {
  if (Array.isArray(schema)) return schema.every(isClosedSchema);
  if (schema === null || typeof schema !== 'object') return true;
  const node = schema as Record<string, unknown>;
  if (node.type === 'object' || node.properties !== undefined) {
    if (node.additionalProperties !== false) return false;
    const keys = Object.keys((node.properties as Record<string, unknown>) ?? {});
    const required = Array.isArray(node.required) ? node.required : [];
    if (!keys.every((key) => required.includes(key))) return false;
  }
  return Object.entries(node).every(([key, value]) => key === 'enum' || key === 'const' || key === 'default' || key === 'examples' || isClosedSchema(value));
}

/**
 * The request asking this model for JSON, with notes for anything the caller should know, and the
 * plan that says how to read the answer.
 */
export function planJsonAnswer(
  spec: JsonAnswerSpec,
  model: ModelDefinition,
  provider: ProviderDefinition,
  request: ChatRequest,
): { request: ChatRequest; notes: string[]; plan: JsonAnswerPlan } {
  const rootSchema = spec.schema;
  const wrapped = rootSchema !== undefined && !isObjectSchema(rootSchema);
  const schema = rootSchema === undefined ? undefined : wrapped ? { type: 'object', properties: { value: rootSchema }, required: ['value'], additionalProperties: false } : rootSchema;
  const plan: JsonAnswerPlan = { spec, wrapped };
  const closed = schema !== undefined && isClosedSchema(schema);

  if (provider.type === 'openai') {
    const responseFormat = schema
      ? { type: 'json_schema' as const, name: spec.name, schema, strict: closed }
      : { type: 'json_object' as const };
    return { request: { ...(schema ? request : withJsonInstruction(request, undefined)), responseFormat }, notes: [], plan };
  }
  if (provider.type === 'anthropic' && schema && closed && claudeHasStructuredOutputs(model.providerModel)) {
    return { request: { ...request, responseFormat: { type: 'json_schema', name: spec.name, schema, strict: true } }, notes: [], plan };
  }
  if (provider.id === 'deepseek' || provider.id === 'qwen' || (provider.type === 'openai-compatible' && !model.capabilities.tools)) {
    return { request: { ...withJsonInstruction(request, schema), responseFormat: { type: 'json_object' } }, notes: [], plan };
  }
  // A forced tool call: its arguments are the answer.
  if (request.tools?.some((tool) => tool.name === spec.name)) {
    throw invalid(`response_format.name '${spec.name}' is also the name of one of your tools; choose another name.`);
  }
  if (request.tools && request.tools.length > 0) {
    throw invalid(
      `${model.id} has no native structured output, so its JSON answer would come through a forced tool call, which leaves no room for your tools. Use an OpenAI or Claude 4.5+ model, or leave out tools.`,
    );
  }
  const parameters = schema ?? { type: 'object' };
  return {
    request: {
      ...request,
      tools: [{ name: spec.name, description: 'Give your answer as the arguments of this tool.', parameters }],
      toolChoice: { name: spec.name },
    },
    notes: [],
    plan: { ...plan, viaTool: spec.name },
  };
}

/** Claude 4.5 and later take output_config.format; an id we cannot read is taken as new. */
function claudeHasStructuredOutputs(providerModel: string): boolean {
  const version = claudeVersion(providerModel);
  return !version || version.major > 4 || (version.major === 4 && version.minor >= 5);
}

/** JSON mode needs the word "JSON" in the prompt (OpenAI rejects it otherwise) and, here, the schema. */
function withJsonInstruction(request: ChatRequest, schema: Record<string, unknown> | undefined): ChatRequest {
  const instruction = schema
    ? `Reply with only a JSON object, no other text, matching this JSON Schema: ${JSON.stringify(schema)}`
    : 'Reply with only a JSON object, no other text.';
  return { ...request, messages: [{ role: 'system', content: instruction }, ...request.messages] };
}

/** Reads and validates the answer as the plan says; `ok: false` carries the reason and the raw reply. */
export function readJsonAnswer(plan: JsonAnswerPlan, response: ChatResponse): JsonAnswerReading {
  let value: unknown;
  let raw: string;
  if (plan.viaTool) {
    const call = response.toolCalls.find((c) => c.name === plan.viaTool);
    if (!call) return { ok: false, error: `the model did not call ${plan.viaTool} with its answer`, raw: response.content };
    value = call.arguments;
    raw = JSON.stringify(call.arguments);
  } else {
    raw = response.content;
    try {
      value = JSON.parse(stripCodeFence(raw));
    } catch (error) {
      return { ok: false, error: `the reply is not valid JSON (${(error as Error).message})`, raw };
    }
  }
  if (plan.wrapped) {
    if (value === null || typeof value !== 'object' || !('value' in value)) return { ok: false, error: 'the reply has no "value" field', raw };
    value = (value as { value: unknown }).value;
  }
  if (plan.spec.validate) {
    if (!plan.spec.validate(value)) {
      const errors = plan.spec.validate.errors ?? [];
      const text = errors.slice(0, 5).map((e) => `${e.instancePath || '/'} ${e.message ?? 'is invalid'}`).join('; ');
      return { ok: false, error: `the reply does not match the schema: ${text}`, raw };
    }
  } else if (value === null || typeof value !== 'object') {
    return { ok: false, error: 'the reply is not a JSON object', raw };
  }
  // The text as the model wrote it (what was streamed), unless it had to be unwrapped.
  return { ok: true, value, text: plan.viaTool || plan.wrapped ? JSON.stringify(value) : stripCodeFence(raw) };
}

/** Models sometimes wrap JSON in a ```json fence even when told not to. */
function stripCodeFence(text: string): string {
  const trimmed = text.trim();
  const fenced = /^```(?:json)?\s*\n([\s\S]*?)\n?```$/i.exec(trimmed);
  return fenced ? fenced[1]! : trimmed;
}

/** The follow-up turn asking for a corrected answer. */
export function repairMessage(error: string): string {
  return `Your previous reply could not be used: ${error}. Reply again with only the corrected JSON, nothing else.`;
}
