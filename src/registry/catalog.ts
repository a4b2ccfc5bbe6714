import type { Pricing } from '../llm/types.js';

export type ProviderType = 'openai' | 'anthropic' | 'openai-compatible';

export interface ProviderDefinition {
  id: string;
  type: ProviderType;
  /** undefined = the SDK's own default. */
  baseURL?: string;
  /** Environment variable holding the API key. */
  apiKeyEnv: string;
  /** Environment variable that overrides baseURL. */
  baseURLEnv?: string;
}

export interface ModelCapabilities {
  tools: boolean;
  vision: boolean;
  /** Whether the model accepts `temperature` (reasoning models reject it). */
  temperature: boolean;
  reasoning: boolean;
}

export interface ModelDefinition {
  id: string;
  provider: string;
  providerModel: string;
  contextWindow: number | null;
  maxOutputTokens: number | null;
  pricing: Pricing;
  capabilities: ModelCapabilities;
  /** ISO date on which the price was last checked against the source. */
  priceCheckedAt: string | null;
  fallbacks?: string[];
}

export const BUILT_IN_PROVIDERS: ProviderDefinition[] = [
  { id: 'openai', type: 'openai', apiKeyEnv: 'OPENAI_API_KEY', baseURLEnv: 'OPENAI_BASE_URL' },
  { id: 'anthropic', type: 'anthropic', apiKeyEnv: 'ANTHROPIC_API_KEY', baseURLEnv: 'ANTHROPIC_BASE_URL' },
  {
    id: 'deepseek',
    type: 'openai-compatible',
    baseURL: 'https://api.deepseek.com',
    apiKeyEnv: 'DEEPSEEK_API_KEY',
    baseURLEnv: 'DEEPSEEK_BASE_URL',
  },
  {
    id: 'qwen',
    type: 'openai-compatible',
    baseURL: 'https://dashscope-intl.aliyuncs.com/compatible-mode/v1',
    apiKeyEnv: 'DASHSCOPE_API_KEY',
    baseURLEnv: 'DASHSCOPE_BASE_URL',
  },
];

// Prices: USD per million tokens, from LiteLLM's model_prices_and_context_window.json (2026) and,
// for the newest models, the providers' model pages; checked on the date in priceCheckedAt.
// Anthropic bills 5-minute cache writes at 1.25x input.
const CHECKED = '2026-11-26';

const chatModel: ModelCapabilities = { tools: true, vision: true, temperature: true, reasoning: false };
const textModel: ModelCapabilities = { tools: true, vision: false, temperature: true, reasoning: false };
// Claude 4.5 models think when asked (extended thinking) and take temperature when they do not.
const thinkingChatModel: ModelCapabilities = { tools: true, vision: true, temperature: true, reasoning: true };
const reasoningModel: ModelCapabilities = { tools: true, vision: true, temperature: false, reasoning: true };

function price(input: number, output: number, cachedInput?: number, cacheWrite?: number): Pricing {
  return { inputPerMTok: input, outputPerMTok: output, cachedInputPerMTok: cachedInput ?? null, cacheWritePerMTok: cacheWrite ?? null };
}

export const BUILT_IN_MODELS: ModelDefinition[] = [
  // OpenAI
  { id: 'gpt-4o', provider: 'openai', providerModel: 'gpt-4o', contextWindow: 128_000, maxOutputTokens: 16_384, pricing: price(2.5, 10, 1.25), capabilities: chatModel, priceCheckedAt: CHECKED },
  { id: 'gpt-4o-mini', provider: 'openai', providerModel: 'gpt-4o-mini', contextWindow: 128_000, maxOutputTokens: 16_384, pricing: price(0.15, 0.6, 0.075), capabilities: chatModel, priceCheckedAt: CHECKED },
  { id: 'gpt-4.1', provider: 'openai', providerModel: 'gpt-4.1', contextWindow: 1_047_576, maxOutputTokens: 32_768, pricing: price(2, 8, 0.5), capabilities: chatModel, priceCheckedAt: CHECKED },
  { id: 'gpt-4.1-mini', provider: 'openai', providerModel: 'gpt-4.1-mini', contextWindow: 1_047_576, maxOutputTokens: 32_768, pricing: price(0.4, 1.6, 0.1), capabilities: chatModel, priceCheckedAt: CHECKED },
  { id: 'gpt-5', provider: 'openai', providerModel: 'gpt-5', contextWindow: 400_000, maxOutputTokens: 128_000, pricing: price(1.25, 10, 0.125), capabilities: reasoningModel, priceCheckedAt: CHECKED },
  { id: 'gpt-5-mini', provider: 'openai', providerModel: 'gpt-5-mini', contextWindow: 400_000, maxOutputTokens: 128_000, pricing: price(0.25, 2, 0.025), capabilities: reasoningModel, priceCheckedAt: CHECKED },
  // Current flagship and small model. gpt-5.4 bills input above 272K tokens at a higher tier,
  // which this flat price does not model.
  { id: 'gpt-5.4', provider: 'openai', providerModel: 'gpt-5.4', contextWindow: 1_050_000, maxOutputTokens: 128_000, pricing: price(2.5, 15, 0.25), capabilities: reasoningModel, priceCheckedAt: CHECKED },
  { id: 'gpt-5.4-mini', provider: 'openai', providerModel: 'gpt-5.4-mini', contextWindow: 400_000, maxOutputTokens: 128_000, pricing: price(0.75, 4.5, 0.075), capabilities: reasoningModel, priceCheckedAt: CHECKED },
  { id: 'o4-mini', provider: 'openai', providerModel: 'o4-mini', contextWindow: 200_000, maxOutputTokens: 100_000, pricing: price(1.1, 4.4, 0.275), capabilities: reasoningModel, priceCheckedAt: CHECKED },
  // Anthropic
  { id: 'claude-3-5-sonnet', provider: 'anthropic', providerModel: 'claude-3-5-sonnet-20241022', contextWindow: 200_000, maxOutputTokens: 8_192, pricing: price(3, 15, 0.3, 3.75), capabilities: chatModel, priceCheckedAt: CHECKED },
  { id: 'claude-sonnet-4-5', provider: 'anthropic', providerModel: 'claude-sonnet-4-5-20250929', contextWindow: 200_000, maxOutputTokens: 64_000, pricing: price(3, 15, 0.3, 3.75), capabilities: thinkingChatModel, priceCheckedAt: CHECKED },
  { id: 'claude-haiku-4-5', provider: 'anthropic', providerModel: 'claude-haiku-4-5-20251001', contextWindow: 200_000, maxOutputTokens: 64_000, pricing: price(1, 5, 0.1, 1.25), capabilities: thinkingChatModel, priceCheckedAt: CHECKED },
  { id: 'claude-opus-4-5', provider: 'anthropic', providerModel: 'claude-opus-4-5-20251101', contextWindow: 200_000, maxOutputTokens: 64_000, pricing: price(5, 25, 0.5, 6.25), capabilities: thinkingChatModel, priceCheckedAt: CHECKED },
  // Current Anthropic flagships (platform.claude.com model pages): they reject non-default
  // sampling parameters, so temperature is not sent.
  { id: 'claude-opus-5-5', provider: 'anthropic', providerModel: 'claude-opus-5-5', contextWindow: 1_000_000, maxOutputTokens: 128_000, pricing: price(4, 20, 0.2, 5), capabilities: reasoningModel, priceCheckedAt: CHECKED },
  { id: 'claude-sonnet-5-5', provider: 'anthropic', providerModel: 'claude-sonnet-5-5', contextWindow: 1_000_000, maxOutputTokens: 128_000, pricing: price(2, 10, 0.2, 2.5), capabilities: reasoningModel, priceCheckedAt: CHECKED },
  // DeepSeek (OpenAI-compatible wire; prompt_cache_hit_tokens billed at the cached rate)
  { id: 'deepseek-chat', provider: 'deepseek', providerModel: 'deepseek-chat', contextWindow: 128_000, maxOutputTokens: 8_192, pricing: price(0.28, 0.42, 0.028), capabilities: textModel, priceCheckedAt: CHECKED },
  {
    id: 'deepseek-reasoner', provider: 'deepseek', providerModel: 'deepseek-reasoner', contextWindow: 128_000, maxOutputTokens: 64_000, pricing: price(0.28, 0.42, 0.028),
    capabilities: { tools: false, vision: false, temperature: false, reasoning: true }, priceCheckedAt: CHECKED,
  },
  // Qwen via DashScope compatible mode
  { id: 'qwen-turbo', provider: 'qwen', providerModel: 'qwen-turbo', contextWindow: 1_000_000, maxOutputTokens: 16_384, pricing: price(0.05, 0.2), capabilities: textModel, priceCheckedAt: CHECKED },
  { id: 'qwen-plus', provider: 'qwen', providerModel: 'qwen-plus', contextWindow: 131_072, maxOutputTokens: 16_384, pricing: price(0.4, 1.2), capabilities: textModel, priceCheckedAt: CHECKED },
  { id: 'qwen-max', provider: 'qwen', providerModel: 'qwen-max', contextWindow: 32_768, maxOutputTokens: 8_192, pricing: price(1.6, 6.4), capabilities: textModel, priceCheckedAt: CHECKED },
];

export const BUILT_IN_ALIASES: Record<string, string> = {
  'claude-3-5-sonnet-20241022': 'claude-3-5-sonnet',
  'claude-sonnet-4-5-20250929': 'claude-sonnet-4-5',
  'claude-haiku-4-5-20251001': 'claude-haiku-4-5',
  'claude-opus-4-5-20251101': 'claude-opus-4-5',
};
