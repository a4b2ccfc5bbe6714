import type { ProviderDefinition } from '../registry/catalog.js';
import { formatSeconds, isRetryableStatus, type LlmError } from './errors.js';

export interface FailureContext {
  provider?: ProviderDefinition;
  providerModel?: string;
  attempts: number;
  elapsedMs: number;
  maxDelayMs: number;
  /** Models tried before this one, for the fallback summary. */
  triedModels?: string[];
  /** The call named fallback models: the advice is then not to add some. */
  hadFallbacks?: boolean;
}

function overAttempts(context: FailureContext): string {
  return context.attempts > 1 ? ` after ${context.attempts} attempts over ${formatSeconds(context.elapsedMs)}` : '';
}

/** A prompt that does not fit the model, as providers word it (OpenAI: context_length_exceeded; Anthropic: "prompt is too long"). */
export function isContextLengthMessage(message: string | undefined): boolean {
  return /context|too long|maximum.*tokens/i.test(message ?? '');
}

/**
 * The text of a failed `chat` call: what failed (provider, status), how hard we tried, what to do,
 * then the provider's own words. E.g. `openai rejected the API key (401): check OPENAI_API_KEY
 * (openai said: "Incorrect API key provided")`, `anthropic overloaded (529) after 3 attempts over
 * 7.2 s; try again later or add fallback_models (anthropic said: "Overloaded")`.
 */
export function describeFailure(error: LlmError, context: FailureContext): string {
  const name = error.provider ?? context.provider?.id ?? 'the provider';
  const keyEnv = context.provider?.apiKeyEnv || undefined;
  const model = context.providerModel ?? 'this model';
  const said = error.providerMessage ? ` (${name} said: "${error.providerMessage}")` : '';
  const after = overAttempts(context);
  const status = error.status;
  const addFallbacks = context.hadFallbacks ? '' : ' or add fallback_models';
  const later = `try again later${addFallbacks}`;
  let text: string;
  switch (error.kind) {
    case 'http': {
      const retryable = status !== undefined && isRetryableStatus(status);
      let why = '';
      if (retryable && error.retryAfterMs !== undefined && error.retryAfterMs > context.maxDelayMs) {
        why = `; it asked to wait ${formatSeconds(error.retryAfterMs)}, longer than the ${formatSeconds(context.maxDelayMs)} cap (retry.maxDelayMs)`;
      } else if (retryable && !error.retryable && context.attempts <= 1 && !error.partialText) {
        why = '; not retried because it answered x-should-retry: false';
      }
      if (status === 401) text = `${name} rejected the API key (401)${after}: check ${keyEnv ?? 'the API key'}`;
      else if (status === 402) text = `${name} refused the call for billing reasons (402)${after}: check the account's credit or plan`;
      else if (status === 403) text = `${name} refused access (403)${after}: check that ${keyEnv ?? 'the API key'} may use ${model}`;
      else if (status === 404) text = `${name} does not know model '${model}' (404)${after}: check the name with list_models${addFallbacks ? `, ${addFallbacks.trim()}` : ''}`;
      else if ((status === 400 || status === 413) && isContextLengthMessage(error.providerMessage)) {
        text = `The prompt does not fit ${model} (${name}, ${status})${after}: shorten it${addFallbacks ? `,${addFallbacks} with a larger context window` : ''}`;
      } else if (status === 429) text = `${name} rate limited the call (429)${after}${why}; ${later}`;
      else if (status === 529) text = `${name} overloaded (529)${after}${why}; ${later}`;
      else if (status === 408) text = `${name} timed out the request (408)${after}${why}; ${later}`;
      else if (status === 409) text = `${name} reported a conflict (409)${after}${why}; ${later}`;
      else if (status !== undefined && status >= 500) text = `${name} server error (${status})${after}${why}; ${later}`;
      else text = `${name} rejected the request (${status ?? 'error'})${after}${why}: fix the request and try again`;
      text += said;
      break;
    }
    case 'timeout':
      text = `${error.message}${after}; raise timeoutMs, ${later}`;
      break;
    case 'connection': {
      const where = context.provider?.baseURL ? ` at ${context.provider.baseURL}` : '';
      const baseEnv = context.provider?.baseURLEnv;
      text = `${error.message}${where}${after}; check the network${baseEnv ? ` and ${baseEnv}` : ''}, or try again later`;
      break;
    }
    case 'stream':
      text = `${error.message}${after}; ${later}`;
      break;
    case 'invalid-response': {
      // Not a completion (a proxy's page, JSON of another API): most often a base URL that points
      // somewhere else, or a gateway in the way.
      const baseEnv = context.provider?.baseURLEnv;
      text = error.retryable
        ? `${error.message}${after}; check that the base URL${baseEnv ? ` (${baseEnv})` : ''} points at the provider's API, or ${later}`
        : error.message;
      break;
    }
    default:
      text = error.message;
  }
  if (context.triedModels && context.triedModels.length > 0) {
    text += `. Tried before: ${context.triedModels.join('; ')}`;
  }
  if (error.partialText !== undefined && error.partialText.length > 0) {
    text += `. The stream was interrupted after ${[...error.partialText].length} characters had been relayed; it was not retried, to avoid duplicating output. Partial text:\n${error.partialText}`;
  }
  return text;
}
