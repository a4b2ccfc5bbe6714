import { notConfiguredReason } from '../config.js';
import { LlmError } from '../llm/errors.js';
import type { ProviderAdapter } from '../llm/types.js';
import type { Logger } from '../logger.js';
import type { ProviderDefinition } from '../registry/catalog.js';
import { DEFAULT_MAX_ANSWER_BYTES } from '../llm/answer-size.js';
import { boundedFetch } from './bounded-fetch.js';

// Long enough never to fire first: our own AttemptControl enforces timeoutMs, including
// silence inside a stream, which the SDKs' timeouts do not cover.
const SDK_TIMEOUT_MS = 2_147_000_000;
const DEFAULT_ANTHROPIC_MAX_TOKENS = 4096;

/**
 * Builds one adapter per provider on first use. The SDKs are imported lazily: a server that
 * only ever talks to Anthropic never loads `openai`, and start-up stays fast.
 */
export class AdapterFactory {
  private readonly adapters = new Map<string, Promise<ProviderAdapter>>();

  constructor(
    private readonly env: Record<string, string | undefined>,
    private readonly logger?: Logger,
    // Bounds every response body the SDKs read whole (see bounded-fetch.ts).
    private readonly maxAnswerBytes: number = DEFAULT_MAX_ANSWER_BYTES,
  ) {}

  get(provider: ProviderDefinition): Promise<ProviderAdapter> {
    let adapter = this.adapters.get(provider.id);
    if (!adapter) {
      adapter = this.create(provider);
      this.adapters.set(provider.id, adapter);
    }
    return adapter;
  }

  private async create(provider: ProviderDefinition): Promise<ProviderAdapter> {
    const reason = notConfiguredReason(provider, this.env);
    if (reason !== undefined) {
      throw new LlmError(`${provider.id} is not configured: ${reason} (see \`llm-service-mcp doctor\`)`, {
        kind: 'not-configured',
        provider: provider.id,
        retryable: false,
      });
    }
    // Custom endpoints (Ollama, vLLM) often take no key; the SDKs insist on some string.
    const apiKey = (provider.apiKeyEnv && this.env[provider.apiKeyEnv]) || 'no-key';
    const fetch = boundedFetch(this.maxAnswerBytes, provider.type === 'anthropic' ? 'anthropic' : 'openai');
    if (provider.type === 'anthropic') {
      const { default: Anthropic, APIError, APIUserAbortError, APIConnectionError, APIConnectionTimeoutError } = await import('@anthropic-ai/sdk');
      const { AnthropicAdapter } = await import('./anthropic/anthropic-adapter.js');
      const client = new Anthropic({ apiKey, baseURL: provider.baseURL, maxRetries: 0, timeout: SDK_TIMEOUT_MS, fetch, ...sdkLogging(this.logger) });
      return new AnthropicAdapter({
        providerId: provider.id,
        client,
        errorClasses: { APIError, APIUserAbortError, APIConnectionError, APIConnectionTimeoutError },
        defaultMaxTokens: DEFAULT_ANTHROPIC_MAX_TOKENS,
      });
    }
    const { default: OpenAI, APIError, APIUserAbortError, APIConnectionError, APIConnectionTimeoutError } = await import('openai');
    const { OpenAICompatibleAdapter } = await import('./openai-compatible/openai-compatible-adapter.js');
    const client = new OpenAI({ apiKey, baseURL: provider.baseURL, maxRetries: 0, timeout: SDK_TIMEOUT_MS, fetch, ...sdkLogging(this.logger) });
    return new OpenAICompatibleAdapter({
      providerId: provider.id,
      client,
      errorClasses: { APIError, APIUserAbortError, APIConnectionError, APIConnectionTimeoutError },
      // OpenAI's reasoning models reject max_tokens; compatible servers mostly know only max_tokens.
      maxTokensField: provider.type === 'openai' ? 'max_completion_tokens' : 'max_tokens',
    });
  }
}

// An SDK line can quote a whole unparsable SSE chunk (the openai SDK logs it before throwing).
const MAX_SDK_LOG_CHARS = 500;

/**
 * The SDKs' own loggers, routed through ours: their lines (an unparsable SSE chunk, a retry
 * notice) quote provider data, so they go where every line is scrubbed of keys, cut short, and
 * kept at debug: the failure itself reaches the host and the log through our own error path.
 * Without a logger of ours they are silenced. The level is fixed, so OPENAI_LOG /
 * ANTHROPIC_LOG in the environment cannot turn request logging on behind our back.
 */
function sdkLogging(logger: Logger | undefined): { logger: Record<'error' | 'warn' | 'info' | 'debug', (...args: unknown[]) => void>; logLevel: 'warn' | 'off' } {
  const line = (...args: unknown[]): void => {
    const text = args.map((arg) => (typeof arg === 'string' ? arg : safeJson(arg))).join(' ').replace(/\s+/g, ' ');
    logger?.debug(`provider SDK: ${text.length > MAX_SDK_LOG_CHARS ? `${text.slice(0, MAX_SDK_LOG_CHARS)}…` : text}`);
  };
  return { logger: { error: line, warn: line, info: line, debug: line }, logLevel: logger ? 'warn' : 'off' };
}

function safeJson(value: unknown): string {
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}
