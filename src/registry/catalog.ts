import type { PriceTier, Pricing } from '../llm/types.js';

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
  /**
   * The provider retires the model on `on` (a UTC date): from then a call is refused before
   * sending, naming `replacement` (src/registry/retirement.ts); before it, list_models warns.
   */
  retirement?: { on: string; replacement: string };
  /**
   * OpenAI's Chat Completions take this model's tools only at reasoning effort `none` (gpt-6-luna):
   * a request with tools is sent at `none` (src/llm/reasoning-effort.ts).
   */
  toolsOnlyWithoutReasoning?: boolean;
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

// Prices: USD per million tokens, each checked against the provider's own pricing page on the
// date in priceCheckedAt, and compared with the @pydantic/genai-prices dataset by
// test/registry/price-drift.test.ts (which fails when the two disagree). Sources:
// - OpenAI: platform.openai.com/docs/pricing; gpt-5.4 above 272K input tokens bills the whole call
//   at 2x input and cached input, 1.5x output. Retirements: developers.openai.com/api/docs/
//   deprecations: o4-mini shut down on 2026-10-23, gpt-5 and gpt-5-mini shut down on 2026-12-11.
//   OpenAI recommends models we do not list yet (gpt-5.6-terra, gpt-6.1-sol, gpt-6.1-terra; callable
//   as openai:<name>, unpriced); the replacement named here is the nearest listed model. gpt-4o,
//   gpt-4o-mini, gpt-4.1 and gpt-4.1-mini (and their dated snapshots) shut down on 2027-01-14, with
//   gpt-6-luna as OpenAI's recommended replacement for all four (announced 2026-10-14; the same
//   date is GET /v1/models' shutdown_date). gpt-6-luna is listed for that reason: it is priced
//   like gpt-4o-mini but reasons by default (effort medium: reasoning tokens bill as output), takes
//   temperature only at effort none, and on Chat Completions takes tools only at effort none
//   (developers.openai.com/api/docs/models/gpt-6-luna).
// - Anthropic: platform.claude.com/docs/about-claude/pricing. Cache reads 0.1x input, 5-minute
//   writes 1.25x, 1-hour writes 2x; Sonnet 4.5 above 200K input tokens (1M-context beta) bills the
//   whole call at 2x input (and cache) and 1.5x output. Retirements: .../model-deprecations.
// - DeepSeek: api-docs.deepseek.com/quick_start/pricing. Off-peak prices below; peak (01:00-04:00
//   and 06:00-10:00 UTC, Monday to Friday) is exactly 2x. DeepSeek also bills Chinese public
//   holidays off-peak, which we cannot know: a holiday's weekday peak hours are billed at peak.
// - Qwen (international, Singapore): alibabacloud.com/help/en/model-studio/qwen-turbo (model page),
//   .../billing-for-model-studio (flagship table: Qwen-Max 32,768 tokens at $0.0016/$0.0064 per 1K,
//   Qwen-Plus 131,072 at $0.0004/$0.0012), and LiteLLM's model_prices_and_context_window.json
//   (dashscope/qwen-max: 30,720 input + 8,192 output; dashscope/qwen-plus: 129,024 input + 16,384
//   output; both flat). The stable qwen-plus and qwen-max names are not tiered; the 1M-context
//   snapshots (qwen-plus-latest, qwen-plus-2025-07-28 and later, qwen3-max) are, and are reached
//   as qwen:<name> (unpriced) or configured with tiers. Context cache (.../context-cache): implicit
//   hits 20% of input; explicit cache (cache_control markers; our requests carry none, so only
//   behind a gateway that adds them) creation 125%, hits 10%.
const CHECKED = '2026-11-29';

/** Where the built-in prices come from, for `doctor`. */
export const PRICE_SOURCE = "built-in table from the providers' pricing pages, compared with @pydantic/genai-prices in tests";

const chatModel: ModelCapabilities = { tools: true, vision: true, temperature: true, reasoning: false };
const textModel: ModelCapabilities = { tools: true, vision: false, temperature: true, reasoning: false };
// Claude 4.5 models think when asked (extended thinking) and take temperature when they do not.
const thinkingChatModel: ModelCapabilities = { tools: true, vision: true, temperature: true, reasoning: true };
const reasoningModel: ModelCapabilities = { tools: true, vision: true, temperature: false, reasoning: true };
const qwenTurbo: ModelCapabilities = { tools: false, vision: false, temperature: true, reasoning: false };

function price(input: number, output: number, cachedInput?: number, cacheWrite?: number, cacheWrite1h?: number): Pricing {
  return {
    inputPerMTok: input,
    outputPerMTok: output,
    cachedInputPerMTok: cachedInput ?? null,
    cacheWritePerMTok: cacheWrite ?? null,
    cacheWrite1hPerMTok: cacheWrite1h ?? null,
  };
}

/** Anthropic's multipliers: cache reads 0.1x (unless listed otherwise), 5-minute writes 1.25x, 1-hour writes 2x input. */
function anthropicPrice(input: number, output: number, cachedInput = round(input * 0.1)): Pricing {
  return price(input, output, cachedInput, round(input * 1.25), round(input * 2));
}

/** DashScope's context cache: implicit hits 20% of input; explicit creation 125%, explicit hits 10%. */
function qwenPrice(input: number, output: number): Pricing {
  return { ...price(input, output, round(input * 0.2), round(input * 1.25)), explicitCachedInputPerMTok: round(input * 0.1) };
}

/** DeepSeek: off-peak prices, doubled in the weekday peak windows. */
function deepseekPrice(input: number, output: number, cachedInput: number): Pricing {
  return { ...price(input, output, cachedInput), peak: { multiplier: 2, hoursUtc: [[1, 4], [6, 10]] } };
}

/** Removes float noise (0.1 * 3 = 0.30000000000000004) so prices print as the providers list them. */
function round(value: number): number {
  return Math.round(value * 1e9) / 1e9;
}

export const BUILT_IN_MODELS: ModelDefinition[] = [
  // OpenAI
  {
    id: 'gpt-4o', provider: 'openai', providerModel: 'gpt-4o', contextWindow: 128_000, maxOutputTokens: 16_384, pricing: price(2.5, 10, 1.25), capabilities: chatModel, priceCheckedAt: CHECKED,
    retirement: { on: '2027-01-14', replacement: 'gpt-6-luna' },
  },
  {
    id: 'gpt-4o-mini', provider: 'openai', providerModel: 'gpt-4o-mini', contextWindow: 128_000, maxOutputTokens: 16_384, pricing: price(0.15, 0.6, 0.075), capabilities: chatModel, priceCheckedAt: CHECKED,
    retirement: { on: '2027-01-14', replacement: 'gpt-6-luna' },
  },
  {
    id: 'gpt-4.1', provider: 'openai', providerModel: 'gpt-4.1', contextWindow: 1_047_576, maxOutputTokens: 32_768, pricing: price(2, 8, 0.5), capabilities: chatModel, priceCheckedAt: CHECKED,
    retirement: { on: '2027-01-14', replacement: 'gpt-6-luna' },
  },
  {
    id: 'gpt-4.1-mini', provider: 'openai', providerModel: 'gpt-4.1-mini', contextWindow: 1_047_576, maxOutputTokens: 32_768, pricing: price(0.4, 1.6, 0.1), capabilities: chatModel, priceCheckedAt: CHECKED,
    retirement: { on: '2027-01-14', replacement: 'gpt-6-luna' },
  },
  {
    id: 'gpt-5', provider: 'openai', providerModel: 'gpt-5', contextWindow: 400_000, maxOutputTokens: 128_000, pricing: price(1.25, 10, 0.125), capabilities: reasoningModel, priceCheckedAt: CHECKED,
    retirement: { on: '2026-12-11', replacement: 'gpt-5.4' },
  },
  {
    id: 'gpt-5-mini', provider: 'openai', providerModel: 'gpt-5-mini', contextWindow: 400_000, maxOutputTokens: 128_000, pricing: price(0.25, 2, 0.025), capabilities: reasoningModel, priceCheckedAt: CHECKED,
    retirement: { on: '2026-12-11', replacement: 'gpt-5.4-mini' },
  },
  // Current flagship and small model.
  {
    id: 'gpt-5.4', provider: 'openai', providerModel: 'gpt-5.4', contextWindow: 1_050_000, maxOutputTokens: 128_000,
    pricing: { ...price(2.5, 15, 0.25), tiers: [{ aboveInputTokens: 272_000, inputPerMTok: 5, cachedInputPerMTok: 0.5, outputPerMTok: 22.5 }] },
    capabilities: reasoningModel, priceCheckedAt: CHECKED,
  },
  { id: 'gpt-5.4-mini', provider: 'openai', providerModel: 'gpt-5.4-mini', contextWindow: 400_000, maxOutputTokens: 128_000, pricing: price(0.75, 4.5, 0.075), capabilities: reasoningModel, priceCheckedAt: CHECKED },
  // OpenAI's replacement for the GPT-4o and GPT-4.1 families. Cache writes 1.25x input; above 272K
  // input tokens the whole call bills 2x input and cache, 1.5x output. Checked on its model page.
  {
    id: 'gpt-6-luna', provider: 'openai', providerModel: 'gpt-6-luna', contextWindow: 1_050_000, maxOutputTokens: 128_000,
    pricing: { ...price(0.1, 0.5, 0.01, 0.125), tiers: [{ aboveInputTokens: 272_000, inputPerMTok: 0.2, cachedInputPerMTok: 0.02, cacheWritePerMTok: 0.25, outputPerMTok: 0.75 }] },
    capabilities: reasoningModel, priceCheckedAt: '2026-11-30', toolsOnlyWithoutReasoning: true,
  },
  {
    id: 'o4-mini', provider: 'openai', providerModel: 'o4-mini', contextWindow: 200_000, maxOutputTokens: 100_000, pricing: price(1.1, 4.4, 0.275), capabilities: reasoningModel, priceCheckedAt: CHECKED,
    retirement: { on: '2026-10-23', replacement: 'gpt-5.4-mini' },
  },
  // Anthropic. Claude 3.5 Sonnet is kept by id (the original design names it) but Anthropic retired
  // it on 2025-10-22: requests to it fail, so a call names the replacement instead of sending. The
  // replacement is the current Sonnet. Retirement dates: platform.claude.com/docs/en/about-claude/
  // model-deprecations, matching the Anthropic SDK's own table (internal/data/deprecated-models):
  // Sonnet 4.5 on 2026-11-30, Opus 4.5 on 2027-01-22.
  {
    id: 'claude-3-5-sonnet', provider: 'anthropic', providerModel: 'claude-3-5-sonnet-20241022', contextWindow: 200_000, maxOutputTokens: 8_192,
    pricing: anthropicPrice(3, 15), capabilities: chatModel, priceCheckedAt: CHECKED,
    retirement: { on: '2025-10-22', replacement: 'claude-sonnet-5-5' },
  },
  {
    id: 'claude-sonnet-4-5', provider: 'anthropic', providerModel: 'claude-sonnet-4-5-20250929', contextWindow: 200_000, maxOutputTokens: 64_000,
    pricing: { ...anthropicPrice(3, 15), tiers: [{ aboveInputTokens: 200_000, ...longContext(anthropicPrice(3, 15)) }] },
    capabilities: thinkingChatModel, priceCheckedAt: CHECKED,
    retirement: { on: '2026-11-30', replacement: 'claude-sonnet-5-5' },
  },
  { id: 'claude-haiku-4-5', provider: 'anthropic', providerModel: 'claude-haiku-4-5-20251001', contextWindow: 200_000, maxOutputTokens: 64_000, pricing: anthropicPrice(1, 5), capabilities: thinkingChatModel, priceCheckedAt: CHECKED },
  {
    id: 'claude-opus-4-5', provider: 'anthropic', providerModel: 'claude-opus-4-5-20251101', contextWindow: 200_000, maxOutputTokens: 64_000,
    pricing: anthropicPrice(5, 25), capabilities: thinkingChatModel, priceCheckedAt: CHECKED,
    retirement: { on: '2027-01-22', replacement: 'claude-opus-5-5' },
  },
  // Current Anthropic flagships (platform.claude.com model pages): they reject non-default
  // sampling parameters, so temperature is not sent. Their 1M context is billed flat; Opus 5.5's
  // cache read is 0.05x input, not 0.1x.
  { id: 'claude-opus-5-5', provider: 'anthropic', providerModel: 'claude-opus-5-5', contextWindow: 1_000_000, maxOutputTokens: 128_000, pricing: anthropicPrice(4, 20, 0.2), capabilities: reasoningModel, priceCheckedAt: CHECKED },
  { id: 'claude-sonnet-5-5', provider: 'anthropic', providerModel: 'claude-sonnet-5-5', contextWindow: 1_000_000, maxOutputTokens: 128_000, pricing: anthropicPrice(2, 10), capabilities: reasoningModel, priceCheckedAt: CHECKED },
  // DeepSeek (OpenAI-compatible wire; prompt_cache_hit_tokens billed at the cached rate). The V4
  // generation replaced deepseek-chat / deepseek-reasoner, which DeepSeek retired on 2026-07-24:
  // those names are aliases of deepseek-flash (DeepSeek-V4.1-Flash), thinking by default.
  {
    id: 'deepseek-flash', provider: 'deepseek', providerModel: 'deepseek-flash', contextWindow: 1_000_000, maxOutputTokens: 384_000,
    pricing: deepseekPrice(0.15, 0.6, 0.003), capabilities: reasoningModel, priceCheckedAt: CHECKED,
  },
  {
    id: 'deepseek-v4-pro', provider: 'deepseek', providerModel: 'deepseek-v4-pro', contextWindow: 1_000_000, maxOutputTokens: 384_000,
    pricing: deepseekPrice(0.66, 1.98, 0.022), capabilities: { tools: true, vision: false, temperature: false, reasoning: true }, priceCheckedAt: CHECKED,
  },
  // Qwen via DashScope compatible mode (international, Singapore). qwen-turbo's window is 131,072
  // tokens, of which at most 98,304 may be input.
  { id: 'qwen-turbo', provider: 'qwen', providerModel: 'qwen-turbo', contextWindow: 131_072, maxOutputTokens: 16_384, pricing: qwenPrice(0.05, 0.2), capabilities: qwenTurbo, priceCheckedAt: CHECKED },
  // qwen-plus: 129,024 input + 16,384 output tokens at most; qwen-max: 30,720 + 8,192.
  { id: 'qwen-plus', provider: 'qwen', providerModel: 'qwen-plus', contextWindow: 131_072, maxOutputTokens: 16_384, pricing: qwenPrice(0.4, 1.2), capabilities: textModel, priceCheckedAt: CHECKED },
  { id: 'qwen-max', provider: 'qwen', providerModel: 'qwen-max', contextWindow: 32_768, maxOutputTokens: 8_192, pricing: qwenPrice(1.6, 6.4), capabilities: textModel, priceCheckedAt: CHECKED },
];

/** Anthropic's long-context rates: 2x input and every cache price, 1.5x output. */
function longContext(base: Pricing): Omit<PriceTier, 'aboveInputTokens'> {
  const times = (value: number | null | undefined, factor: number): number | null => (value == null ? null : round(value * factor));
  return {
    inputPerMTok: times(base.inputPerMTok, 2),
    outputPerMTok: times(base.outputPerMTok, 1.5),
    cachedInputPerMTok: times(base.cachedInputPerMTok, 2),
    cacheWritePerMTok: times(base.cacheWritePerMTok, 2),
    cacheWrite1hPerMTok: times(base.cacheWrite1hPerMTok, 2),
  };
}

export const BUILT_IN_ALIASES: Record<string, string> = {
  // DeepSeek's retired names keep working, on the model that replaced them.
  'deepseek-chat': 'deepseek-flash',
  'deepseek-reasoner': 'deepseek-flash',
  'deepseek-v4-flash': 'deepseek-flash',
  'claude-3-5-sonnet-20241022': 'claude-3-5-sonnet',
  'claude-sonnet-4-5-20250929': 'claude-sonnet-4-5',
  'claude-haiku-4-5-20251001': 'claude-haiku-4-5',
  'claude-opus-4-5-20251101': 'claude-opus-4-5',
};
