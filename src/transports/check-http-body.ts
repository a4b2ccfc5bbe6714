/**
 * The stdio transport's message check (check-message.ts) for a Streamable HTTP POST body: one
 * message or a batch. Without it the SDK transport answers a malformed message with a 400 and its
 * raw validation text, and a request with bad params with the zod issue list.
 */
import { ErrorCode, type JSONRPCErrorResponse, type JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import { checkMessageValue } from './check-message.js';

/** A JSON-RPC error answer carrying the sender's id, or null when none could be read. */
type ErrorAnswer = Omit<JSONRPCErrorResponse, 'id'> & { id: JSONRPCErrorResponse['id'] | null };

/** Pass the body's messages (as the SDK parsed them) on, or answer it here with `status` and `answer`. */
export type CheckedBody = { ok: true; messages: JSONRPCMessage[] } | { ok: false; status: number; answer: ErrorAnswer | ErrorAnswer[] };

/**
 * Checks every message of a parsed POST body. One bad member spoils a batch: the batch is not
 * run, and each request in it that has an id gets an error (the sound ones say which member was
 * wrong), so no request waits for an answer that never comes.
 *
 * Status: a request with a usable id is answered like any failed request, HTTP 200 with its
 * JSON-RPC error (MCP's Streamable HTTP: a request gets `application/json` holding its response),
 * so a client matches the error to its call instead of failing the POST. When no id could be
 * read (not an object, a bad id, a malformed notification) there is no call to answer: HTTP 400
 * with an id-less JSON-RPC error, as the spec asks for input the server cannot accept.
 */
export function checkHttpBody(body: unknown): CheckedBody {
  if (!Array.isArray(body)) {
    const checked = checkMessageValue(body);
    if (checked.ok) return { ok: true, messages: [checked.message] };
    const answer = errorAnswer(checked.id, checked.code, checked.reason);
    return { ok: false, status: checked.id === undefined ? 400 : 200, answer };
  }
  if (body.length === 0) {
    return { ok: false, status: 400, answer: errorAnswer(undefined, ErrorCode.InvalidRequest, 'Invalid request: the batch is empty') };
  }
  const checks = body.map(checkMessageValue);
  const firstBad = checks.findIndex((checked) => !checked.ok);
  if (firstBad < 0) return { ok: true, messages: checks.map((checked) => (checked as Extract<(typeof checks)[number], { ok: true }>).message) };
  const spoiler = checks[firstBad] as Extract<(typeof checks)[number], { ok: false }>;
  const answers: ErrorAnswer[] = [];
  checks.forEach((checked, index) => {
    if (!checked.ok) {
      // JSON-RPC 2.0 answers each invalid member of a batch, with id null when it has none.
      answers.push(errorAnswer(checked.id, checked.code, `batch member ${index + 1}: ${checked.reason}`));
      return;
    }
    const message = checked.message;
    if ('method' in message && 'id' in message) {
      answers.push(
        errorAnswer(message.id, ErrorCode.InvalidRequest, `Invalid request: not run, because batch member ${firstBad + 1} is malformed (${spoiler.reason}); fix it or send this request alone`),
      );
    }
  });
  return { ok: false, status: answers.some((answer) => answer.id !== null) ? 200 : 400, answer: answers };
}

function errorAnswer(id: ErrorAnswer['id'] | undefined, code: number, message: string): ErrorAnswer {
  return { jsonrpc: '2.0', id: id ?? null, error: { code, message } };
}
