import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { LlmError } from '../llm/errors.js';
import type { Logger } from '../logger.js';

/**
 * A failed tool call as the host should see it: `isError: true` with text that says what went
 * wrong and what to do. Expected failures (LlmError, input errors) are the caller's to act on;
 * anything else is a bug of ours and is logged too. Keys are scrubbed either way.
 */
export function toolFailure(error: unknown, logger: Logger, scrub: (text: string) => string): CallToolResult {
  const message = error instanceof Error ? error.message : String(error);
  if (!(error instanceof LlmError) && !(error instanceof UserInputError)) {
    logger.error(`unexpected failure: ${error instanceof Error && error.stack ? error.stack : message}`);
  }
  return { content: [{ type: 'text', text: scrub(message) }], isError: true };
}

/** Input the schema let through but that is still wrong (a tool message without tool_call_id, …). */
export class UserInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UserInputError';
  }
}
