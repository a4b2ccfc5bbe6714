import type { ProviderDefinition } from '../registry/catalog.js';
import { formatSeconds } from '../providers/convert-sdk-error.js';
import { isRetryableStatus, type LlmError } from './errors.js';

export interface FailureContext {
  provider?: ProviderDefinition;
  providerModel?: string;
  attempts: number;
  elapsedMs: number;
  maxDelayMs: number;
  /** Models tried before this one, for the fallback summary. */
  triedModels?: string[];
}

function overAttempts(context: FailureContext): string {
  return context.attempts > 1 ? ` after ${context.attempts} attempts over ${formatSeconds(context.elapsedMs)}` : '';
}

/**
 * The text of a failed `chat` call: what failed, the provider's own words, and what to do.
 * E.g. `openai rejected the API key (401): check OPENAI_API_KEY`.
 */
export function describeFailure(error: LlmError, context: FailureContext): string {
  const name = error.provider ?? context.provider?.id ?? 'the provider';
  const keyEnv = context.provider?.apiKeyEnv;
  const said = error.providerMessage ? `: ${error.providerMessage}` : '';
  const after = overAttempts(context);
  const status = error.status;
  let text: string;
  switch (error.kind) {
    case 'http':
      if (status === 401) text = `${name} rejected the API key (401)${said}; check ${keyEnv ?? 'the API key'}`;
      else if (status === 403) text = `${name} refused access (403)${said}; check that ${keyEnv ?? 'the API key'} may use ${context.providerModel ?? 'this model'}`;
      else if (status === 404) text = `${name} does not know model '${context.providerModel ?? '?'}' (404)${said}; call list_models or check the model name`;
      else if (status === 429) text = `${name} rate limited the call (429)${after}${said}; try again later or add fallback_models`;
      else if (status === 529) text = `${name} overloaded (529)${after}${said}; try again later or add fallback_models`;
      else if (status !== undefined && status >= 500) text = `${name} server error (${status})${after}${said}; try again later or add fallback_models`;
      else text = `${name} rejected the request (${status ?? 'error'})${said}; fix the request and try again`;
      if (status !== undefined && isRetryableStatus(status) && error.retryAfterMs !== undefined && error.retryAfterMs > context.maxDelayMs) {
        text += ` (it asked to retry after ${formatSeconds(error.retryAfterMs)}, longer than the ${formatSeconds(context.maxDelayMs)} cap retry.maxDelayMs)`;
      } else if (status !== undefined && isRetryableStatus(status) && !error.retryable && context.attempts <= 1) {
        text += ' (the provider said not to retry)';
      }
      break;
    case 'timeout':
      text = `${error.message}${after}; raise timeoutMs or try again later`;
      break;
    case 'connection': {
      const where = context.provider?.baseURL ? ` at ${context.provider.baseURL}` : '';
      const baseEnv = context.provider?.baseURLEnv;
      text = `${error.message}${where}${after}; check the network${baseEnv ? ` and ${baseEnv}` : ''}`;
      break;
    }
    case 'stream':
      text = `${error.message}${after}; try again later or add fallback_models`;
      break;
    default:
      text = error.message;
  }
  if (error.partialText !== undefined && error.partialText.length > 0) {
    text += `. The stream was interrupted after ${error.partialText.length} characters had been relayed; it was not retried, to avoid duplicating output. Partial text:\n${error.partialText}`;
  }
  if (context.triedModels && context.triedModels.length > 0) {
    text += ` (fallbacks tried before: ${context.triedModels.join(', ')})`;
  }
  return text;
}
