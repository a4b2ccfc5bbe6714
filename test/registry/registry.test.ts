/**
 * The model registry (SPEC §3): built-in catalog contents and name resolution — exact id, alias,
 * provider:model (listed or not) — and suggestions for unknown names.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildSettings } from '../../src/config.js';
import { LlmError } from '../../src/llm/errors.js';
import { BUILT_IN_ALIASES, BUILT_IN_MODELS, BUILT_IN_PROVIDERS } from '../../src/registry/catalog.js';
import { ModelRegistry } from '../../src/registry/registry.js';

function registry(config: Parameters<typeof buildSettings>[0] = {}): ModelRegistry {
  const settings = buildSettings(config, {});
  return new ModelRegistry(settings.models, settings.providers, settings.aliases);
}

function resolveError(r: ModelRegistry, name: string): LlmError {
  try {
    r.resolve(name);
  } catch (error) {
    expect(error).toBeInstanceOf(LlmError);
    return error as LlmError;
  }
  throw new Error(`resolving '${name}' did not fail`);
}

// [id, provider, providerModel, input, output, cachedInput, cacheWrite (5 min), cacheWrite1h, contextWindow, maxOutput]
type Row = [string, string, string, number, number, number | null, number | null, number | null, number, number];
// USD per million tokens as the providers publish them (checked 2026-11-29; see the sources at the
// top of src/registry/catalog.ts), restated here. DeepSeek's are the off-peak prices.
const CATALOG: Row[] = [
  ['gpt-4o', 'openai', 'gpt-4o', 2.5, 10, 1.25, null, null, 128_000, 16_384],
  ['gpt-4o-mini', 'openai', 'gpt-4o-mini', 0.15, 0.6, 0.075, null, null, 128_000, 16_384],
  ['gpt-4.1', 'openai', 'gpt-4.1', 2, 8, 0.5, null, null, 1_047_576, 32_768],
  ['gpt-4.1-mini', 'openai', 'gpt-4.1-mini', 0.4, 1.6, 0.1, null, null, 1_047_576, 32_768],
  ['gpt-5', 'openai', 'gpt-5', 1.25, 10, 0.125, null, null, 400_000, 128_000],
  ['gpt-5-mini', 'openai', 'gpt-5-mini', 0.25, 2, 0.025, null, null, 400_000, 128_000],
  ['gpt-5.4', 'openai', 'gpt-5.4', 2.5, 15, 0.25, null, null, 1_050_000, 128_000],
  ['gpt-5.4-mini', 'openai', 'gpt-5.4-mini', 0.75, 4.5, 0.075, null, null, 400_000, 128_000],
  // developers.openai.com/api/docs/models/gpt-6-luna (checked 2026-11-30): cache writes 1.25x input.
  ['gpt-6-luna', 'openai', 'gpt-6-luna', 0.1, 0.5, 0.01, 0.125, null, 1_050_000, 128_000],
  ['o4-mini', 'openai', 'o4-mini', 1.1, 4.4, 0.275, null, null, 200_000, 100_000],
  ['claude-3-5-sonnet', 'anthropic', 'claude-3-5-sonnet-20241022', 3, 15, 0.3, 3.75, 6, 200_000, 8_192],
  ['claude-sonnet-4-5', 'anthropic', 'claude-sonnet-4-5-20250929', 3, 15, 0.3, 3.75, 6, 200_000, 64_000],
  ['claude-haiku-4-5', 'anthropic', 'claude-haiku-4-5-20251001', 1, 5, 0.1, 1.25, 2, 200_000, 64_000],
  ['claude-opus-4-5', 'anthropic', 'claude-opus-4-5-20251101', 5, 25, 0.5, 6.25, 10, 200_000, 64_000],
  // platform.claude.com model pages: the 5.5 generation's cache read is not 0.1x input on Opus.
  ['claude-opus-5-5', 'anthropic', 'claude-opus-5-5', 4, 20, 0.2, 5, 8, 1_000_000, 128_000],
  ['claude-sonnet-5-5', 'anthropic', 'claude-sonnet-5-5', 2, 10, 0.2, 2.5, 4, 1_000_000, 128_000],
  ['deepseek-flash', 'deepseek', 'deepseek-flash', 0.15, 0.6, 0.003, null, null, 1_000_000, 384_000],
  ['deepseek-v4-pro', 'deepseek', 'deepseek-v4-pro', 0.66, 1.98, 0.022, null, null, 1_000_000, 384_000],
  // DashScope (international): implicit cache hits 20% of input, explicit cache creation 125%
  // (explicit hits 10%: checked below). Windows: qwen-plus 129,024 + 16,384 out, qwen-max 30,720 + 8,192.
  ['qwen-turbo', 'qwen', 'qwen-turbo', 0.05, 0.2, 0.01, 0.0625, null, 131_072, 16_384],
  ['qwen-plus', 'qwen', 'qwen-plus', 0.4, 1.2, 0.08, 0.5, null, 131_072, 16_384],
  ['qwen-max', 'qwen', 'qwen-max', 1.6, 6.4, 0.32, 2, null, 32_768, 8_192],
];

describe('the built-in catalog', () => {
  it('has the models SPEC §3 requires', () => {
    const ids = BUILT_IN_MODELS.map((m) => m.id);
    for (const id of ['gpt-4o', 'gpt-4o-mini', 'claude-3-5-sonnet', 'qwen-turbo']) expect(ids).toContain(id);
    expect(BUILT_IN_MODELS.find((m) => m.id === 'claude-3-5-sonnet')?.providerModel).toBe('claude-3-5-sonnet-20241022');
    // DeepSeek retired deepseek-chat and deepseek-reasoner on 2026-07-24: both names stay, as
    // aliases of the model that replaced them.
    expect(BUILT_IN_ALIASES['deepseek-chat']).toBe('deepseek-flash');
    expect(BUILT_IN_ALIASES['deepseek-reasoner']).toBe('deepseek-flash');
    // A current flagship and a small model for every provider.
    for (const id of ['gpt-5', 'gpt-5-mini', 'claude-opus-4-5', 'claude-sonnet-4-5', 'claude-haiku-4-5', 'deepseek-flash', 'deepseek-v4-pro', 'qwen-max']) {
      expect(ids).toContain(id);
    }
    expect(new Set(ids).size).toBe(ids.length);
  });

  it.each(CATALOG)('%s: provider, provider model, prices and limits as published', (id, provider, providerModel, input, output, cached, write, write1h, context, maxOut) => {
    const model = BUILT_IN_MODELS.find((m) => m.id === id);
    expect(model).toBeDefined();
    expect(model).toMatchObject({ provider, providerModel, contextWindow: context, maxOutputTokens: maxOut });
    expect(model!.pricing.inputPerMTok).toBe(input);
    expect(model!.pricing.outputPerMTok).toBe(output);
    expect(model!.pricing.cachedInputPerMTok ?? null).toBe(cached);
    expect(model!.pricing.cacheWritePerMTok ?? null).toBe(write);
    expect(model!.pricing.cacheWrite1hPerMTok ?? null).toBe(write1h);
  });

  it('prices the tiers: gpt-5.4 and gpt-6-luna above 272K input, Claude Sonnet 4.5 above 200K (long context)', () => {
    expect(BUILT_IN_MODELS.find((m) => m.id === 'gpt-5.4')!.pricing.tiers).toEqual([
      { aboveInputTokens: 272_000, inputPerMTok: 5, cachedInputPerMTok: 0.5, outputPerMTok: 22.5 },
    ]);
    expect(BUILT_IN_MODELS.find((m) => m.id === 'gpt-6-luna')!.pricing.tiers).toEqual([
      { aboveInputTokens: 272_000, inputPerMTok: 0.2, cachedInputPerMTok: 0.02, cacheWritePerMTok: 0.25, outputPerMTok: 0.75 },
    ]);
    expect(BUILT_IN_MODELS.find((m) => m.id === 'claude-sonnet-4-5')!.pricing.tiers).toEqual([
      { aboveInputTokens: 200_000, inputPerMTok: 6, outputPerMTok: 22.5, cachedInputPerMTok: 0.6, cacheWritePerMTok: 7.5, cacheWrite1hPerMTok: 12 },
    ]);
  });

  it('prices DashScope explicit cache hits at 10% of input (implicit hits 20%, explicit creation 125%)', () => {
    for (const [id, input] of [['qwen-turbo', 0.05], ['qwen-plus', 0.4], ['qwen-max', 1.6]] as const) {
      const pricing = BUILT_IN_MODELS.find((m) => m.id === id)!.pricing;
      expect(pricing.explicitCachedInputPerMTok, id).toBeCloseTo(input * 0.1, 12);
      expect(pricing.cachedInputPerMTok, id).toBeCloseTo(input * 0.2, 12);
      expect(pricing.cacheWritePerMTok, id).toBeCloseTo(input * 1.25, 12);
      expect(pricing.tiers, id).toBeUndefined();
    }
  });

  it('bills DeepSeek at twice the off-peak price in the weekday peak windows (01-04 and 06-10 UTC)', () => {
    for (const id of ['deepseek-flash', 'deepseek-v4-pro']) {
      expect(BUILT_IN_MODELS.find((m) => m.id === id)!.pricing.peak, id).toEqual({ multiplier: 2, hoursUtc: [[1, 4], [6, 10]] });
    }
  });

  it('dates the retirements as Anthropic and OpenAI publish them, each naming a listed replacement that is not retiring', () => {
    const dates = Object.fromEntries(BUILT_IN_MODELS.filter((m) => m.retirement).map((m) => [m.id, m.retirement]));
    expect(dates).toEqual({
      // OpenAI's deprecations page.
      'gpt-4o': { on: '2027-01-14', replacement: 'gpt-6-luna' },
      'gpt-4o-mini': { on: '2027-01-14', replacement: 'gpt-6-luna' },
      'gpt-4.1': { on: '2027-01-14', replacement: 'gpt-6-luna' },
      'gpt-4.1-mini': { on: '2027-01-14', replacement: 'gpt-6-luna' },
      'gpt-5': { on: '2026-12-11', replacement: 'gpt-5.4' },
      'gpt-5-mini': { on: '2026-12-11', replacement: 'gpt-5.4-mini' },
      'o4-mini': { on: '2026-10-23', replacement: 'gpt-5.4-mini' },
      'claude-3-5-sonnet': { on: '2025-10-22', replacement: 'claude-sonnet-5-5' },
      'claude-sonnet-4-5': { on: '2026-11-30', replacement: 'claude-sonnet-5-5' },
      'claude-opus-4-5': { on: '2027-01-22', replacement: 'claude-opus-5-5' },
    });
    for (const retirement of Object.values(dates)) expect(BUILT_IN_MODELS.find((m) => m.id === retirement!.replacement)?.retirement).toBeUndefined();
  });

  it('matches the Anthropic SDK\'s own end-of-life table for every Claude model it lists', () => {
    // The SDK warns on stderr for these; our dates must agree with its month-name dates.
    // The table is internal to the SDK (not exported): loaded by its path in the installed package.
    const require = createRequire(import.meta.url);
    const sdkDir = dirname(require.resolve('@anthropic-ai/sdk'));
    const { DEPRECATED_MODELS } = require(join(sdkDir, 'internal/data/deprecated-models.js')) as { DEPRECATED_MODELS: Record<string, string> };
    expect(Object.keys(DEPRECATED_MODELS)).toContain('claude-sonnet-4-5-20250929');
    for (const model of BUILT_IN_MODELS.filter((m) => m.provider === 'anthropic')) {
      const sdkDate = DEPRECATED_MODELS[model.providerModel] ?? DEPRECATED_MODELS[model.id];
      if (sdkDate === undefined) continue;
      const parsed = new Date(`${sdkDate.replace(/(\d+)(st|nd|rd|th)/, '$1')} UTC`).toISOString().slice(0, 10);
      expect(model.retirement?.on, model.id).toBe(parsed);
    }
  });

  it('covers every built-in model in the table above (a new model needs its price checked here too)', () => {
    expect(BUILT_IN_MODELS.map((m) => m.id).sort()).toEqual(CATALOG.map((r) => r[0]).sort());
  });

  it('states for every model the date its price was checked, on a known provider', () => {
    const providers = new Set(BUILT_IN_PROVIDERS.map((p) => p.id));
    for (const model of BUILT_IN_MODELS) {
      expect(model.priceCheckedAt, model.id).toMatch(/^\d{4}-\d{2}-\d{2}$/);
      expect(Number.isNaN(Date.parse(model.priceCheckedAt!)), model.id).toBe(false);
      expect(providers.has(model.provider), model.id).toBe(true);
    }
  });

  it('bills Anthropic 5-minute cache writes at 1.25x the input price, 1-hour writes at 2x, and cache reads below it', () => {
    for (const model of BUILT_IN_MODELS.filter((m) => m.provider === 'anthropic')) {
      expect(model.pricing.cacheWritePerMTok, model.id).toBeCloseTo(model.pricing.inputPerMTok! * 1.25, 10);
      expect(model.pricing.cacheWrite1hPerMTok, model.id).toBeCloseTo(model.pricing.inputPerMTok! * 2, 10);
      expect(model.pricing.cachedInputPerMTok!, model.id).toBeLessThanOrEqual(model.pricing.inputPerMTok! * 0.1 + 1e-12);
    }
  });

  it('marks reasoning models as not accepting temperature, and qwen-turbo as without tools', () => {
    for (const id of ['gpt-5', 'gpt-5-mini', 'gpt-5.4', 'gpt-5.4-mini', 'gpt-6-luna', 'o4-mini', 'claude-opus-5-5', 'claude-sonnet-5-5', 'deepseek-flash', 'deepseek-v4-pro']) {
      const model = BUILT_IN_MODELS.find((m) => m.id === id)!;
      expect(model.capabilities, id).toMatchObject({ temperature: false, reasoning: true });
    }
    // Alibaba's qwen-turbo page: function calling unsupported.
    expect(BUILT_IN_MODELS.find((m) => m.id === 'qwen-turbo')!.capabilities.tools).toBe(false);
    for (const id of ['gpt-4o', 'claude-sonnet-4-5', 'qwen-plus']) {
      expect(BUILT_IN_MODELS.find((m) => m.id === id)!.capabilities, id).toMatchObject({ temperature: true, tools: true });
    }
  });

  it('has the four built-in providers with the SPEC default base URLs and key variables', () => {
    expect(BUILT_IN_PROVIDERS).toEqual([
      { id: 'openai', type: 'openai', apiKeyEnv: 'OPENAI_API_KEY', baseURLEnv: 'OPENAI_BASE_URL' },
      { id: 'anthropic', type: 'anthropic', apiKeyEnv: 'ANTHROPIC_API_KEY', baseURLEnv: 'ANTHROPIC_BASE_URL' },
      { id: 'deepseek', type: 'openai-compatible', baseURL: 'https://api.deepseek.com', apiKeyEnv: 'DEEPSEEK_API_KEY', baseURLEnv: 'DEEPSEEK_BASE_URL' },
      {
        id: 'qwen',
        type: 'openai-compatible',
        baseURL: 'https://dashscope-intl.aliyuncs.com/compatible-mode/v1',
        apiKeyEnv: 'DASHSCOPE_API_KEY',
        baseURLEnv: 'DASHSCOPE_BASE_URL',
      },
    ]);
  });

  it('has aliases that all point at built-in models (the dated Anthropic snapshots)', () => {
    const ids = new Set(BUILT_IN_MODELS.map((m) => m.id));
    for (const [alias, target] of Object.entries(BUILT_IN_ALIASES)) expect(ids.has(target), alias).toBe(true);
    expect(BUILT_IN_ALIASES['claude-3-5-sonnet-20241022']).toBe('claude-3-5-sonnet');
  });
});

describe('resolving model names', () => {
  const r = registry({
    providers: { ollama: { type: 'openai-compatible', baseURL: 'http://127.0.0.1:11434/v1' } },
    models: { 'llama3.2': { provider: 'ollama', pricing: { inputPerMTok: 0, outputPerMTok: 0 } } },
    aliases: { fast: 'gpt-4o-mini', smart: 'claude-sonnet-4-5', local: 'ollama:qwen2.5' },
  });

  it('by exact id', () => {
    const { model, provider } = r.resolve('gpt-4o');
    expect(model.id).toBe('gpt-4o');
    expect(provider.id).toBe('openai');
    expect(r.resolve('  qwen-turbo ').model.id).toBe('qwen-turbo');
  });

  it('by alias, built-in and from the config', () => {
    expect(r.resolve('claude-3-5-sonnet-20241022').model.id).toBe('claude-3-5-sonnet');
    expect(r.resolve('fast').model.id).toBe('gpt-4o-mini');
    const smart = r.resolve('smart');
    expect(smart.model.id).toBe('claude-sonnet-4-5');
    expect(smart.provider.type).toBe('anthropic');
    expect(r.resolve('local').model).toMatchObject({ provider: 'ollama', providerModel: 'qwen2.5' });
  });

  it('by provider:model for a listed model, by id or by provider model, keeping its price', () => {
    const byId = r.resolve('openai:gpt-4o');
    expect(byId.model.id).toBe('gpt-4o');
    expect(byId.model.pricing.inputPerMTok).toBe(2.5);
    expect(r.resolve('anthropic:claude-3-5-sonnet-20241022').model.id).toBe('claude-3-5-sonnet');
    expect(r.resolve('ollama:llama3.2').model.id).toBe('llama3.2');
  });

  it('by provider:model for an unlisted model: unknown price (null, never 0) and unknown limits', () => {
    const { model, provider } = r.resolve('openai:gpt-4.1-nano');
    expect(provider.id).toBe('openai');
    expect(model).toMatchObject({
      id: 'openai:gpt-4.1-nano',
      provider: 'openai',
      providerModel: 'gpt-4.1-nano',
      contextWindow: null,
      maxOutputTokens: null,
      pricing: { inputPerMTok: null, outputPerMTok: null },
      priceCheckedAt: null,
    });
    expect(r.resolve('ollama:qwen2.5').model).toMatchObject({ id: 'ollama:qwen2.5', provider: 'ollama', providerModel: 'qwen2.5' });
    // Only the first colon splits: provider model names may contain colons themselves.
    expect(r.resolve('ollama:qwen2.5:7b').model.providerModel).toBe('qwen2.5:7b');
  });

  it('an unknown name is an error that lists the closest known names', () => {
    const gpt = resolveError(r, 'gpt4o');
    expect(gpt.kind).toBe('unknown-model');
    expect(gpt.retryable).toBe(false);
    expect(gpt.message).toMatch(/^Unknown model 'gpt4o'\. Did you mean: gpt-4o[,?]/);
    expect(r.suggest('gpt4o')[0]).toBe('gpt-4o');

    const claude = resolveError(r, 'claude-sonet');
    expect(claude.message).toContain('Did you mean: claude-sonnet-4-5');
    expect(r.suggest('claude-sonet')[0]).toBe('claude-sonnet-4-5');

    expect(r.suggest('gpt4')[0]).toBe('gpt-4o');
    expect(r.suggest('deepsek-chat')).toEqual(['deepseek-chat']);
    expect(r.suggest('qwen-trbo')).toEqual(['qwen-turbo']);
    expect(r.suggest('gpt4').length).toBeLessThanOrEqual(3);
  });

  it('a name close to nothing gets no suggestions, only the way to list models', () => {
    const error = resolveError(r, 'xyz');
    expect(error.message).not.toContain('Did you mean');
    expect(error.message).toContain('list_models');
  });

  it('an unknown provider prefix names the known providers', () => {
    const error = resolveError(r, 'mistral:large');
    expect(error.kind).toBe('unknown-model');
    expect(error.message).toContain("Unknown provider 'mistral'");
    for (const id of ['openai', 'anthropic', 'deepseek', 'qwen', 'ollama']) expect(error.message).toContain(id);
  });

  it('a provider with no model after the colon is not a model', () => {
    expect(resolveError(r, 'openai:').message).toContain("Unknown model 'openai:'");
  });

  it('lists models, all or of one provider, and the aliases of each', () => {
    expect(r.list().length).toBe(BUILT_IN_MODELS.length + 1);
    expect(r.list('anthropic').map((m) => m.id)).toEqual(['claude-3-5-sonnet', 'claude-sonnet-4-5', 'claude-haiku-4-5', 'claude-opus-4-5', 'claude-opus-5-5', 'claude-sonnet-5-5']);
    expect(r.list('ollama').map((m) => m.id)).toEqual(['llama3.2']);
    expect(r.aliasesOf('claude-sonnet-4-5').sort()).toEqual(['claude-sonnet-4-5-20250929', 'smart']);
    expect(r.provider('ollama')?.baseURL).toBe('http://127.0.0.1:11434/v1');
  });
});
