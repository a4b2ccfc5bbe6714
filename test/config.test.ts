/**
 * Settings (SPEC §2): the config file checked with zod (one line naming the key path), merging
 * over the built-ins, environment overrides, the default ledger path, and the CLI's start-up
 * failure on a bad file.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildSettings, ConfigError, defaultDataDir, isProviderConfigured, loadSettings, parseConfigFile, secretValues } from '../src/config.js';

const CLI = fileURLToPath(new URL('../dist/cli.js', import.meta.url));

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'llm-service-mcp-config-'));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

function writeConfig(name: string, content: unknown): string {
  const path = join(dir, name);
  writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content));
  return path;
}

function configError(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    const message = (error as Error).message;
    expect(message.split('\n')).toHaveLength(1);
    return message;
  }
  throw new Error('expected a ConfigError');
}

const BAD_PRICE = { models: { llama: { provider: 'ollama', pricing: { inputPerMTok: 'free', outputPerMTok: 0 } } } };

describe('the config file is checked', () => {
  it('a wrong type gives one line naming the key path and what was expected', () => {
    const message = configError(() => parseConfigFile(JSON.stringify(BAD_PRICE), '/etc/llm.json'));
    expect(message).toContain('/etc/llm.json');
    expect(message).toContain('models.llama.pricing.inputPerMTok: expected number');
  });

  it.each([
    [{ retrys: { retries: 1 } }, 'retrys: unknown key'],
    [{ models: { 'gpt-4o': { prize: 1 } } }, 'models.gpt-4o.prize: unknown key'],
    [{ retry: { retries: 1, jitter: true } }, 'retry.jitter: unknown key'],
  ])('an unknown key is named: %j', (config, expected) => {
    expect(configError(() => parseConfigFile(JSON.stringify(config), 'c.json'))).toContain(expected);
  });

  it.each([
    [{ timeoutMs: -1 }, 'timeoutMs'],
    [{ retry: { retries: 1.5 } }, 'retry.retries'],
    [{ budget: { dailyUsd: '5' } }, 'budget.dailyUsd: expected number'],
    [{ providers: { ollama: { type: 'grpc', baseURL: 'http://x' } } }, 'providers.ollama.type'],
    [{ providers: { ollama: { type: 'openai-compatible', baseURL: 'not a url' } } }, 'providers.ollama.baseURL'],
    [{ aliases: { fast: 5 } }, 'aliases.fast: expected string'],
  ])('other wrong values name their key: %j', (config, expected) => {
    expect(configError(() => parseConfigFile(JSON.stringify(config), 'c.json'))).toContain(expected);
  });

  it('invalid JSON says so, with the path', () => {
    const message = configError(() => parseConfigFile('{"models": {', '/tmp/broken.json'));
    expect(message).toContain('/tmp/broken.json');
    expect(message).toContain('not valid JSON');
  });

  it('accepts the SPEC example as written', () => {
    const file = parseConfigFile(
      JSON.stringify({
        defaultModel: 'fast',
        timeoutMs: 600000,
        retry: { retries: 2, minDelayMs: 2000, maxDelayMs: 60000, factor: 2 },
        budget: { dailyUsd: 5, monthlyUsd: 50 },
        providers: { ollama: { type: 'openai-compatible', baseURL: 'http://127.0.0.1:11434/v1', apiKeyEnv: 'OLLAMA_API_KEY' } },
        models: {
          'llama3.2': { provider: 'ollama', providerModel: 'llama3.2', contextWindow: 131072, pricing: { inputPerMTok: 0, outputPerMTok: 0 } },
          'gpt-4o': { pricing: { inputPerMTok: 2.5, outputPerMTok: 10, cachedInputPerMTok: 1.25 } },
        },
        aliases: { fast: 'gpt-4o-mini', smart: 'claude-sonnet-4-5' },
      }),
      'spec.json',
    );
    const settings = buildSettings(file, {});
    expect(settings.defaultModel).toBe('fast');
    expect(settings.budget).toEqual({ dailyUsd: 5, monthlyUsd: 50 });
    expect(settings.models.find((m) => m.id === 'llama3.2')).toMatchObject({ provider: 'ollama', contextWindow: 131072 });
  });
});

describe('merging the config over the built-ins', () => {
  it('a model entry for a built-in id merges over it: a pricing override keeps every other field', () => {
    const settings = buildSettings({ models: { 'gpt-4o': { pricing: { inputPerMTok: 2, outputPerMTok: 8 } } } }, {});
    const model = settings.models.find((m) => m.id === 'gpt-4o')!;
    expect(model.pricing).toMatchObject({ inputPerMTok: 2, outputPerMTok: 8, cachedInputPerMTok: 1.25 });
    expect(model).toMatchObject({
      provider: 'openai',
      providerModel: 'gpt-4o',
      contextWindow: 128_000,
      maxOutputTokens: 16_384,
      capabilities: { tools: true, vision: true, temperature: true, reasoning: false },
    });
    expect(settings.models.filter((m) => m.id === 'gpt-4o')).toHaveLength(1);
  });

  it('a config entry for a built-in model keeps its retirement (and gpt-6-luna its tools quirk), unless it names another provider model', () => {
    const settings = buildSettings(
      { models: { 'gpt-4o-mini': { pricing: { inputPerMTok: 0.1, outputPerMTok: 0.5 } }, 'gpt-4o': { providerModel: 'my-gpt-4o-finetune' }, 'gpt-6-luna': { maxOutputTokens: 1000 } } },
      {},
    );
    const model = (id: string) => settings.models.find((m) => m.id === id)!;
    expect(model('gpt-4o-mini').retirement).toEqual({ on: '2027-01-14', replacement: 'gpt-6-luna' });
    expect(model('gpt-4o').retirement).toBeUndefined();
    expect(model('gpt-6-luna')).toMatchObject({ maxOutputTokens: 1000, toolsOnlyWithoutReasoning: true });
  });

  it('a capabilities override changes only the named capability', () => {
    const settings = buildSettings({ models: { 'qwen-turbo': { capabilities: { tools: true } } } }, {});
    expect(settings.models.find((m) => m.id === 'qwen-turbo')!.capabilities).toEqual({ tools: true, vision: false, temperature: true, reasoning: false });
  });

  it('an entry named after a built-in alias (deepseek-reasoner, a model once) overrides on top of its target', () => {
    const settings = buildSettings({ models: { 'deepseek-reasoner': { maxOutputTokens: 8_192 } } }, {});
    const model = settings.models.find((m) => m.id === 'deepseek-reasoner')!;
    expect(model).toMatchObject({ provider: 'deepseek', providerModel: 'deepseek-flash', maxOutputTokens: 8_192, contextWindow: 1_000_000 });
    expect(model.pricing.inputPerMTok).toBe(0.15);
  });

  it('a config price replaces the built-in tiers and peak hours unless it brings its own, and keeps unnamed cache prices', () => {
    const settings = buildSettings(
      {
        models: {
          'gpt-5.4': { pricing: { inputPerMTok: 2, outputPerMTok: 12 } },
          'deepseek-flash': { pricing: { inputPerMTok: 0.1, outputPerMTok: 0.4, peak: { multiplier: 3, hoursUtc: [[0, 24]] } } },
          'claude-sonnet-4-5': { pricing: { inputPerMTok: 3, outputPerMTok: 15, cacheWrite1hPerMTok: 7 } },
        },
      },
      {},
    );
    const pricing = (id: string) => settings.models.find((m) => m.id === id)!.pricing;
    expect(pricing('gpt-5.4')).toEqual({ inputPerMTok: 2, outputPerMTok: 12, cachedInputPerMTok: 0.25, cacheWritePerMTok: null, cacheWrite1hPerMTok: null });
    expect(pricing('deepseek-flash').peak).toEqual({ multiplier: 3, hoursUtc: [[0, 24]] });
    expect(pricing('claude-sonnet-4-5')).toMatchObject({ cacheWritePerMTok: 3.75, cacheWrite1hPerMTok: 7 });
    expect(pricing('claude-sonnet-4-5').tiers).toBeUndefined();
    // A tiered DashScope snapshot with its explicit-cache-hit price, base and per tier.
    const qwen3Max = JSON.stringify({
      models: {
        'qwen3-max': {
          provider: 'qwen', providerModel: 'qwen3-max',
          pricing: { inputPerMTok: 1.2, outputPerMTok: 6, explicitCachedInputPerMTok: 0.12, tiers: [{ aboveInputTokens: 32_000, inputPerMTok: 2.4, outputPerMTok: 12, explicitCachedInputPerMTok: 0.24 }] },
        },
      },
    });
    expect(buildSettings(parseConfigFile(qwen3Max, 'c.json'), {}).models.find((m) => m.id === 'qwen3-max')!.pricing).toMatchObject({
      explicitCachedInputPerMTok: 0.12,
      tiers: [{ aboveInputTokens: 32_000, explicitCachedInputPerMTok: 0.24 }],
    });
    const badTier = JSON.stringify({ models: { 'gpt-4o': { pricing: { inputPerMTok: 1, outputPerMTok: 1, tiers: [{ aboveInputTokens: -1 }] } } } });
    expect(configError(() => parseConfigFile(badTier, 'c.json'))).toContain('models.gpt-4o.pricing.tiers.0.aboveInputTokens');
  });

  it('a new model needs a provider, and a known one', () => {
    expect(configError(() => buildSettings({ models: { mine: { providerModel: 'x' } } }, {}))).toContain('models.mine.provider');
    expect(configError(() => buildSettings({ models: { mine: { provider: 'nowhere' } } }, {}))).toContain("unknown provider 'nowhere'");
  });

  it('a custom openai-compatible provider requires baseURL', () => {
    const message = configError(() => buildSettings({ providers: { ollama: { type: 'openai-compatible' } } }, {}));
    expect(message).toContain('providers.ollama.baseURL');
    expect(message).toContain('required');
  });

  it('a custom provider with its baseURL is added; without a key it still counts as configured', () => {
    const settings = buildSettings({ providers: { ollama: { type: 'openai-compatible', baseURL: 'http://127.0.0.1:11434/v1' } } }, {});
    const ollama = settings.providers.find((p) => p.id === 'ollama')!;
    expect(ollama).toMatchObject({ type: 'openai-compatible', baseURL: 'http://127.0.0.1:11434/v1' });
    expect(isProviderConfigured(ollama, {})).toBe(true);
    expect(isProviderConfigured(settings.providers.find((p) => p.id === 'openai')!, {})).toBe(false);
    expect(isProviderConfigured(settings.providers.find((p) => p.id === 'openai')!, { OPENAI_API_KEY: 'k' })).toBe(true);
  });

  it('an alias must point at a known model (or a provider:model)', () => {
    expect(configError(() => buildSettings({ aliases: { fast: 'gpt-9' } }, {}))).toContain("aliases.fast: points at unknown model 'gpt-9'");
    expect(buildSettings({ aliases: { nano: 'openai:gpt-4.1-nano' } }, {}).aliases.nano).toBe('openai:gpt-4.1-nano');
  });

  it('retry.minDelayMs above maxDelayMs is refused', () => {
    expect(configError(() => buildSettings({ retry: { minDelayMs: 5000, maxDelayMs: 1000 } }, {}))).toContain('retry.minDelayMs');
  });

  it('defaults: 2 retries from 2 s to 60 s by 2x, 10 minute timeout, gpt-4o-mini, no budget', () => {
    const settings = buildSettings({}, {});
    expect(settings.retry).toEqual({ retries: 2, minDelayMs: 2000, maxDelayMs: 60_000, factor: 2 });
    expect(settings.timeoutMs).toBe(600_000);
    expect(settings.defaultModel).toBe('gpt-4o-mini');
    expect(settings.budget).toBeUndefined();
  });
});

describe('the environment', () => {
  it('base URL variables override the built-in defaults', () => {
    const defaults = buildSettings({}, {});
    expect(defaults.providers.find((p) => p.id === 'deepseek')!.baseURL).toBe('https://api.deepseek.com');
    expect(defaults.providers.find((p) => p.id === 'qwen')!.baseURL).toBe('https://dashscope-intl.aliyuncs.com/compatible-mode/v1');
    expect(defaults.providers.find((p) => p.id === 'openai')!.baseURL).toBeUndefined();

    const settings = buildSettings({}, {
      DEEPSEEK_BASE_URL: 'http://127.0.0.1:9/deepseek',
      DASHSCOPE_BASE_URL: 'http://127.0.0.1:9/qwen',
      OPENAI_BASE_URL: 'http://127.0.0.1:9/v1',
      ANTHROPIC_BASE_URL: 'http://127.0.0.1:9',
    });
    const url = (id: string) => settings.providers.find((p) => p.id === id)!.baseURL;
    expect(url('deepseek')).toBe('http://127.0.0.1:9/deepseek');
    expect(url('qwen')).toBe('http://127.0.0.1:9/qwen');
    expect(url('openai')).toBe('http://127.0.0.1:9/v1');
    expect(url('anthropic')).toBe('http://127.0.0.1:9');
  });

  it('LLM_SERVICE_DEFAULT_MODEL wins over the config file', () => {
    expect(buildSettings({ defaultModel: 'gpt-4o' }, {}).defaultModel).toBe('gpt-4o');
    expect(buildSettings({ defaultModel: 'gpt-4o' }, { LLM_SERVICE_DEFAULT_MODEL: 'qwen-turbo' }).defaultModel).toBe('qwen-turbo');
  });

  it('an unknown default model stops the start, naming where it came from and the closest names', () => {
    expect(() => buildSettings({ defaultModel: 'gpt4o' }, {})).toThrow(/^defaultModel: Unknown model 'gpt4o'\. Did you mean: gpt-4o/);
    expect(() => buildSettings({}, { LLM_SERVICE_DEFAULT_MODEL: 'claude-sonet-4-5' })).toThrow(/^LLM_SERVICE_DEFAULT_MODEL: Unknown model .*claude-sonnet-4-5/);
    // An alias or any provider:model is fine.
    expect(buildSettings({ defaultModel: 'fast', aliases: { fast: 'gpt-4o-mini' } }, {}).defaultModel).toBe('fast');
    expect(buildSettings({}, { LLM_SERVICE_DEFAULT_MODEL: 'openai:gpt-4.1-nano' }).defaultModel).toBe('openai:gpt-4.1-nano');
  });

  it('the ledger defaults to $XDG_DATA_HOME/llm-service-mcp/ledger.db; LLM_SERVICE_DB overrides it', () => {
    expect(defaultDataDir({ XDG_DATA_HOME: '/data/xdg' }, 'linux')).toBe('/data/xdg/llm-service-mcp');
    expect(defaultDataDir({}, 'linux')).toBe(join(homedir(), '.local', 'share', 'llm-service-mcp'));
    expect(defaultDataDir({}, 'darwin')).toBe(join(homedir(), 'Library', 'Application Support', 'llm-service-mcp'));
    expect(defaultDataDir({ LOCALAPPDATA: 'C:\\Users\\me\\AppData\\Local' }, 'win32')).toContain('llm-service-mcp');
    if (process.platform === 'linux') {
      expect(buildSettings({}, { XDG_DATA_HOME: '/data/xdg' }).dbPath).toBe('/data/xdg/llm-service-mcp/ledger.db');
    }
    expect(buildSettings({}, { XDG_DATA_HOME: '/data/xdg', LLM_SERVICE_DB: ':memory:' }).dbPath).toBe(':memory:');
  });

  it('loadSettings reads LLM_SERVICE_CONFIG, and names the variable when the file cannot be read', () => {
    const path = writeConfig('good.json', { defaultModel: 'smart', aliases: { smart: 'claude-sonnet-4-5' } });
    const settings = loadSettings({ LLM_SERVICE_CONFIG: path });
    expect(settings.configPath).toBe(path);
    expect(settings.defaultModel).toBe('smart');
    const missing = configError(() => loadSettings({ LLM_SERVICE_CONFIG: join(dir, 'nope.json') }));
    expect(missing).toContain('LLM_SERVICE_CONFIG');
    expect(missing).toContain('ENOENT');
  });

  it('secretValues collects every configured key (for scrubbing), custom providers included', () => {
    const settings = buildSettings(
      { providers: { ollama: { type: 'openai-compatible', baseURL: 'http://127.0.0.1:1/v1', apiKeyEnv: 'OLLAMA_API_KEY' } } },
      { OPENAI_API_KEY: 'sk-one', ANTHROPIC_API_KEY: 'sk-two', OLLAMA_API_KEY: 'ollama-three', UNRELATED: 'x' },
    );
    expect(secretValues(settings).sort()).toEqual(['ollama-three', 'sk-one', 'sk-two']);
  });
});

function runCli(args: string[], env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, [CLI, ...args], { env: { PATH: process.env.PATH ?? '', HOME: dir, ...env }, timeout: 10_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? ((error as { code?: number }).code ?? null) : 0, stdout, stderr });
    });
    child.stdin?.end();
  });
}

describe('the CLI (dist/cli.js)', () => {
  it('is built (run `npm run build` first)', () => {
    expect(existsSync(CLI)).toBe(true);
  });

  it('stops at start with a bad config file: exit 1, one stderr line naming the key path, nothing on stdout', async () => {
    const path = writeConfig('bad.json', BAD_PRICE);
    const { code, stdout, stderr } = await runCli([], { LLM_SERVICE_CONFIG: path, LLM_SERVICE_DB: join(dir, 'cli.db') });
    expect(code).toBe(1);
    expect(stdout).toBe('');
    const lines = stderr.split('\n').filter((line) => line !== '');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain('models.llama.pricing.inputPerMTok: expected number');
    expect(lines[0]).toContain(path);
    expect(existsSync(join(dir, 'cli.db'))).toBe(false);
  });

  it('stops on invalid JSON the same way', async () => {
    const path = writeConfig('broken.json', '{ "models": ');
    const { code, stdout, stderr } = await runCli(['cost'], { LLM_SERVICE_CONFIG: path, LLM_SERVICE_DB: join(dir, 'cli.db') });
    expect(code).toBe(1);
    expect(stdout).toBe('');
    expect(stderr.trim().split('\n')).toHaveLength(1);
    expect(stderr).toContain('not valid JSON');
  });

  it('doctor reports a broken config file, shows the rest without it, and exits 1', async () => {
    const path = writeConfig('broken-doctor.json', '{ "retry": { "retries": "x" } }');
    const { code, stdout } = await runCli(['doctor'], { LLM_SERVICE_CONFIG: path, LLM_SERVICE_DB: join(dir, 'doctor-broken.db') });
    expect(code).toBe(1);
    expect(stdout).toContain(`PROBLEM: Config file ${path}: retry.retries: expected number`);
    expect(stdout).toContain(`config file:   ${path} (not loaded: see PROBLEM above)`);
    expect(stdout).toMatch(/^openai\s+openai\s+OPENAI_API_KEY: no/m);
  });

  it('doctor names a default model and an alias of the user on a retired model as problems, with the replacement, and exits 1', async () => {
    // claude-3-5-sonnet was retired on 2025-10-22: retired on any day this test can run.
    const path = writeConfig('retired-doctor.json', { aliases: { old: 'claude-3-5-sonnet' } });
    const { code, stdout } = await runCli(['doctor'], { LLM_SERVICE_CONFIG: path, LLM_SERVICE_DEFAULT_MODEL: 'old', LLM_SERVICE_DB: join(dir, 'doctor-retired.db') });
    expect(code).toBe(1);
    expect(stdout).toContain('default model: old\n');
    expect(stdout).toContain(
      "PROBLEM: LLM_SERVICE_DEFAULT_MODEL 'old' (claude-3-5-sonnet) was retired by anthropic on 2025-10-22: calls that name no model are refused; set it to claude-sonnet-5-5",
    );
    expect(stdout).toContain("PROBLEM: aliases.old points at claude-3-5-sonnet, retired on 2025-10-22: calls to 'old' are refused; point it at claude-sonnet-5-5");
  });

  it('at start-up, a default model or alias of the user on a retired model is a warning on stderr (the server still starts)', async () => {
    const path = writeConfig('retired-serve.json', { aliases: { old: 'claude-3-5-sonnet' } });
    const { code, stdout, stderr } = await runCli([], { LLM_SERVICE_CONFIG: path, LLM_SERVICE_DEFAULT_MODEL: 'old', LLM_SERVICE_DB: join(dir, 'serve-retired.db') });
    expect(code, stderr).toBe(0); // stdin closed at once: the server drained and stopped
    expect(stdout).toBe('');
    expect(stderr).toContain("LLM_SERVICE_DEFAULT_MODEL 'old' (claude-3-5-sonnet) was retired by anthropic on 2025-10-22: calls that name no model are refused; set it to claude-sonnet-5-5");
    expect(stderr).toContain("aliases.old points at claude-3-5-sonnet, retired on 2025-10-22: calls to 'old' are refused; point it at claude-sonnet-5-5");
  });

  it('doctor says whether each key is set, never the key itself, and exits 0', async () => {
    const key = 'sk-doctor-SECRET-0123456789abcdef';
    const { code, stdout, stderr } = await runCli(['doctor'], { OPENAI_API_KEY: key, LLM_SERVICE_DB: join(dir, 'doctor.db') });
    expect(code, stderr).toBe(0);
    expect(stdout).toContain('OPENAI_API_KEY: yes');
    expect(stdout).toContain('ANTHROPIC_API_KEY: no');
    expect(stdout).toContain('https://api.deepseek.com');
    // Where the prices come from and when they were checked (issue #10).
    expect(stdout).toMatch(/prices: +built-in table from the providers' pricing pages, compared with @pydantic\/genai-prices in tests; checked 2026-11-30 \(oldest 2026-11-29\)\n/);
    expect(stdout + stderr).not.toContain(key);
    expect(stdout + stderr).not.toContain('SECRET-0123');
  });
});
