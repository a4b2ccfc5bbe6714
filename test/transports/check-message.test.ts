import { CallToolRequestSchema, ErrorCode, JSONRPCMessageSchema } from '@modelcontextprotocol/sdk/types.js';
import { describe, expect, it } from 'vitest';
import { checkMessageValue } from '../../src/transports/check-message.js';

// Our readable check must agree with the SDK's own schemas on tools/call messages near the edge
// of well-formed (ids, _meta, arguments, extra keys): each is judged as the SDK judges it, and a
// passing one comes out as the SDK's parse would give it.
const call = (overrides: Record<string, unknown> = {}, params: Record<string, unknown> = { name: 'chat', arguments: { prompt: 'hi' } }) =>
  JSON.parse(JSON.stringify({ jsonrpc: '2.0', id: 7, method: 'tools/call', params, ...overrides })) as Record<string, unknown>;

const cases: Array<[string, unknown]> = [
  ['a plain call', call()],
  ['a string id', call({ id: 'abc' })],
  ['no arguments', call({}, { name: 'chat' })],
  ['empty arguments', call({}, { name: 'chat', arguments: {} })],
  ['_meta with a progress token', call({}, { name: 'chat', arguments: {}, _meta: { progressToken: 1 } })],
  ['_meta with a string progress token', call({}, { name: 'chat', _meta: { progressToken: 'p-1' } })],
  ['_meta with a fractional progress token', call({}, { name: 'chat', _meta: { progressToken: 1.5 } })],
  ['_meta with another key', call({}, { name: 'chat', _meta: { progressToken: 1, other: true } })],
  ['_meta empty', call({}, { name: 'chat', _meta: {} })],
  ['_meta an array', call({}, { name: 'chat', _meta: [] })],
  ['_meta null', call({}, { name: 'chat', _meta: null })],
  ['an unknown params key (params are loose)', call({}, { name: 'chat', extra: true })],
  ['a fractional id', call({ id: 1.5 })],
  ['an id past the safe integers', call({ id: 2 ** 60 })],
  ['a null id', call({ id: null })],
  ['no id (a notification with an unknown method)', { jsonrpc: '2.0', method: 'tools/call', params: { name: 'chat' } }],
  ['jsonrpc 1.0', call({ jsonrpc: '1.0' })],
  ['an extra top-level key', call({ extra: 1 })],
  ['arguments an array', call({}, { name: 'chat', arguments: [1] })],
  ['arguments null', call({}, { name: 'chat', arguments: null })],
  ['arguments a string', call({}, { name: 'chat', arguments: 'x' })],
  ['name a number', call({}, { name: 3, arguments: {} })],
  ['no name', call({}, { arguments: {} })],
  ['params an array', call({ params: [] })],
  ['params null', call({ params: null })],
  ['another method', call({ method: 'tools/list', params: {} })],
  ['a negative id', call({ id: -3 })],
  ['an empty string id', call({ id: '' })],
  ['a task', call({}, { name: 'chat', task: { ttl: 1000 } })],
  ['a task that is not an object', call({}, { name: 'chat', task: 5 })],
  ['_meta naming a related task', call({}, { name: 'chat', _meta: { 'io.modelcontextprotocol/related-task': { taskId: 't-1' } } })],
  ['_meta naming a related task badly', call({}, { name: 'chat', _meta: { 'io.modelcontextprotocol/related-task': { taskId: 1 } } })],
  ['deeply nested arguments', call({}, { name: 'chat', arguments: { deep: JSON.parse('['.repeat(1000) + ']'.repeat(1000)) } })],
];

describe('checkMessageValue on tools/call messages', () => {
  it.each(cases)('%s: judged as the SDK judges it', (_name, message) => {
    const sdk = JSONRPCMessageSchema.safeParse(message);
    const params = sdk.success && (message as { method?: unknown }).method === 'tools/call' && 'id' in (message as object) ? CallToolRequestSchema.safeParse(message) : undefined;
    const sdkAccepts = sdk.success && (params === undefined || params.success);
    const checked = checkMessageValue(message);
    expect(checked.ok).toBe(sdkAccepts);
    if (checked.ok) expect(checked.message).toEqual(sdk.data);
    else expect(checked.code).toBe(sdk.success ? ErrorCode.InvalidParams : ErrorCode.InvalidRequest);
  });

  it('a malformed call still gets its readable reason', () => {
    const checked = checkMessageValue(call({}, { name: 'chat', arguments: [1] }));
    expect(checked).toMatchObject({ ok: false, id: 7, code: ErrorCode.InvalidParams });
    expect(!checked.ok && checked.reason).toMatch(/^Invalid params for tools\/call: params\.arguments: /);
  });
});
