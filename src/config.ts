import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import { DEFAULT_MAX_ANSWER_BYTES } from './llm/answer-size.js';

/** The whole call's default deadline: 30 minutes (see callTimeoutMs in the README). */
export const DEFAULT_CALL_TIMEOUT_MS = 1_800_000;
import { buildHttpSectionSchema, type HttpSection } from './http/http-settings.js';
import type { Pricing } from './llm/types.js';
import {
  BUILT_IN_ALIASES,
  BUILT_IN_MODELS,
  BUILT_IN_PROVIDERS,
  type ModelDefinition,
  type ProviderDefinition,
} from './registry/catalog.js';
import { ModelRegistry } from './registry/registry.js';
import type { DefaultModelSource } from './registry/retirement.js';
import { DEFAULT_FILE_LIMITS } from './llm/files.js';

export interface RetrySettings {
  retries: number;
  minDelayMs: number;
  maxDelayMs: number;
  factor: number;
}

export interface BudgetSettings {
  dailyUsd?: number;
  monthlyUsd?: number;
}

export interface FileSettings {
  /** Used when the MCP client offers no roots; undefined = the server's working directory. */
  roots?: string[];
  maxFileBytes: number;
  maxCallBytes: number;
  maxFiles: number;
}

/** Everything the server needs to know, merged from built-ins, the config file and the environment. */
export interface Settings {
  /** The default model as set (or the built-in one); what a call gets on a given day is defaultModelAt's. */
  defaultModel: string;
  /** Where defaultModel came from: a built-in default follows its retirement, a user's is kept. */
  defaultModelSource: DefaultModelSource;
  timeoutMs: number;
  /** The whole call's deadline: every attempt on every model, retries and their waits included. */
  callTimeoutMs: number;
  /** The most one answer may take, in bytes of JSON text; a longer one is cut (finish_reason length). */
  maxAnswerBytes: number;
  /** How long shutdown over stdio lets calls in flight finish before cancelling them. */
  drainMs: number;
  progressIntervalMs: number;
  /** The longest JSON-RPC message (one stdio line) the server reads, in bytes. */
  maxMessageBytes: number;
  /** How long a conversation thread lives without a new turn (see src/llm/conversation-store.ts). */
  conversationIdleMs: number;
  retry: RetrySettings;
  budget?: BudgetSettings;
  /** Where `chat`'s `files` may be read from, and how much (see src/llm/files.ts). */
  files: FileSettings;
  providers: ProviderDefinition[];
  models: ModelDefinition[];
  aliases: Record<string, string>;
  /** LLM_SERVICE_DB: a SQLite file path, `:memory:`, or a postgres:// URL. */
  dbPath: string;
  /** The per-user data folder (the default ledger, the PostgreSQL ledger's spool). */
  dataDir: string;
  configPath?: string;
  env: Record<string, string | undefined>;
  /** The config file's `http` section, checked; resolved by `serve --http` (src/http/http-settings.ts). */
  http?: HttpSection;
}

/**
 * SPEC §2's default model. OpenAI retires it on 2027-01-14; from that day a call that names no
 * model goes to its replacement instead (defaultModelAt in src/registry/retirement.ts), unless the
 * user set a default of their own.
 */
export const BUILT_IN_DEFAULT_MODEL = 'gpt-4o-mini';

/** Large enough for a prompt of millions of words; no host needs more in one message. */
export const DEFAULT_MAX_MESSAGE_BYTES = 32 * 1024 * 1024;
/** A string Node can build from one line is at most about 512 MiB; half that leaves room. */
export const MAX_MAX_MESSAGE_BYTES = 256 * 1024 * 1024;

/** Node's timers hold at most 2^31 - 1 ms (about 24.8 days); a longer delay fires at once. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** Every problem found in the settings, each a line naming the key path and what was expected. */
export class ConfigError extends Error {
  readonly problems: string[];
  constructor(message: string, problems: string[] = [message]) {
    super(message);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

// Built on first use: most starts have no config file, and building the zod schema costs about
// 20 ms of start-up.
function buildConfigFileSchema() {
  const nonNegative = z.number().nonnegative();
  const positiveInt = z.number().int().positive();
  const timerMs = (min: number) =>
    // multipleOf(1), not int(): int() adds its own "safe integer" complaint to a huge number.
    z.number().multipleOf(1, 'expected a whole number of ms').min(min).max(MAX_TIMER_MS, `at most ${MAX_TIMER_MS} ms (about 24.8 days): a longer time does not fit Node's timers`);

  const optionalPrice = nonNegative.nullable().optional();
  const pricingSchema = z.strictObject({
    inputPerMTok: nonNegative.nullable(),
    outputPerMTok: nonNegative.nullable(),
    cachedInputPerMTok: optionalPrice,
    cacheWritePerMTok: optionalPrice,
    cacheWrite1hPerMTok: optionalPrice,
    // DashScope explicit cache hits (10% of input there).
    explicitCachedInputPerMTok: optionalPrice,
    tiers: z
      .array(
        z.strictObject({
          aboveInputTokens: z.number().int().nonnegative(),
          inputPerMTok: optionalPrice,
          outputPerMTok: optionalPrice,
          cachedInputPerMTok: optionalPrice,
          cacheWritePerMTok: optionalPrice,
          cacheWrite1hPerMTok: optionalPrice,
          explicitCachedInputPerMTok: optionalPrice,
        }),
      )
      .optional(),
    peak: z
      .strictObject({
        multiplier: z.number().positive(),
        hoursUtc: z.array(z.tuple([z.number().int().min(0).max(23), z.number().int().min(1).max(24)])),
      })
      .optional(),
  });

  return z.strictObject({
    $schema: z.string().optional(),
    defaultModel: z.string().min(1).optional(),
    timeoutMs: timerMs(1).optional(),
    callTimeoutMs: timerMs(1).optional(),
    maxAnswerBytes: z.number().int().min(1024).max(4 * 1_048_576).optional(),
    drainMs: timerMs(0).optional(),
    progressIntervalMs: timerMs(0).optional(),
    maxMessageBytes: z.number().int().min(1024).max(MAX_MAX_MESSAGE_BYTES).optional(),
    conversations: z.strictObject({ idleDays: z.number().positive().optional() }).optional(),
    retry: z
      .strictObject({
        retries: z.number().int().min(0).max(10).optional(),
        minDelayMs: timerMs(0).optional(),
        maxDelayMs: timerMs(0).optional(),
        factor: z.number().min(1).optional(),
      })
      .optional(),
    budget: z
      .strictObject({
        dailyUsd: z.number().positive().optional(),
        monthlyUsd: z.number().positive().optional(),
      })
      .optional(),
    files: z
      .strictObject({
        roots: z.array(z.string().min(1)).optional(),
        maxFileBytes: positiveInt.optional(),
        maxCallBytes: positiveInt.optional(),
      })
      .optional(),
    providers: z
      .record(
        z.string().regex(/^[a-z0-9][a-z0-9_.-]*$/, 'expected a lower-case provider id without ":"'),
        z.strictObject({
          type: z.enum(['openai', 'anthropic', 'openai-compatible']),
          baseURL: z.url().optional(),
          apiKeyEnv: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'expected an environment variable name').optional(),
        }),
      )
      .optional(),
    models: z
      .record(
        z.string().min(1),
        z.strictObject({
          provider: z.string().min(1).optional(),
          providerModel: z.string().min(1).optional(),
          contextWindow: positiveInt.optional(),
          maxOutputTokens: positiveInt.optional(),
          pricing: pricingSchema.optional(),
          priceCheckedAt: z.string().optional(),
          capabilities: z
            .strictObject({
              tools: z.boolean().optional(),
              vision: z.boolean().optional(),
              temperature: z.boolean().optional(),
              reasoning: z.boolean().optional(),
            })
            .optional(),
          fallbacks: z.array(z.string().min(1)).optional(),
        }),
      )
      .optional(),
    aliases: z.record(z.string().min(1), z.string().min(1)).optional(),
    http: buildHttpSectionSchema().optional(),
  });
}

let configFileSchema: ReturnType<typeof buildConfigFileSchema> | undefined;

export type ConfigFile = z.infer<ReturnType<typeof buildConfigFileSchema>>;

/** One line per problem, naming the key path and what was expected. */
function describeIssues(error: z.ZodError): string[] {
  return error.issues.map((issue) => {
      const path = issue.path.map(String).join('.');
      if (issue.code === 'unrecognized_keys') {
        return issue.keys.map((key) => `${path ? `${path}.` : ''}${key}: unknown key`).join('; ');
      }
      const message = issue.message.replace(/^Invalid input: /, '');
      return `${path || '(root)'}: ${message}`;
    });
}

/** Parses and checks the config file's text; throws ConfigError with the offending key paths. */
export function parseConfigFile(text: string, path: string): ConfigFile {
  let data: unknown;
  try {
    // Editors on Windows save UTF-8 with a byte order mark, which JSON.parse refuses.
    data = JSON.parse(text.replace(/^\uFEFF/, ''));
  } catch (error) {
    throw new ConfigError(`Config file ${path} is not valid JSON: ${(error as Error).message}`);
  }
  configFileSchema ??= buildConfigFileSchema();
  const result = configFileSchema.safeParse(data);
  if (!result.success) {
    const problems = describeIssues(result.error).map((line) => `Config file ${path}: ${line}`);
    throw new ConfigError(`Config file ${path}: ${describeIssues(result.error).join('; ')}`, problems);
  }
  return result.data;
}

/** The platform's per-user data folder for the ledger. */
export function defaultDataDir(env: Record<string, string | undefined>, platform: NodeJS.Platform = process.platform): string {
  if (platform === 'win32') {
    return join(env.LOCALAPPDATA ?? env.APPDATA ?? join(homedir(), 'AppData', 'Local'), 'llm-service-mcp');
  }
  if (platform === 'darwin') {
    return join(homedir(), 'Library', 'Application Support', 'llm-service-mcp');
  }
  return join(env.XDG_DATA_HOME || join(homedir(), '.local', 'share'), 'llm-service-mcp');
}

function sameUpstream(base: ModelDefinition, provider: string, providerModel: string): boolean {
  return base.provider === provider && base.providerModel === providerModel;
}

/** What a built-in model's provider decides, kept under a config entry: its retirement, its quirks. */
function upstreamFacts(base: ModelDefinition): Pick<ModelDefinition, 'retirement' | 'toolsOnlyWithoutReasoning'> {
  return {
    ...(base.retirement ? { retirement: base.retirement } : {}),
    ...(base.toolsOnlyWithoutReasoning ? { toolsOnlyWithoutReasoning: true } : {}),
  };
}

function mergeModel(base: ModelDefinition | undefined, id: string, entry: NonNullable<ConfigFile['models']>[string]): ModelDefinition {
  const provider = entry.provider ?? base?.provider;
  if (!provider) {
    throw new ConfigError(`models.${id}.provider: required for a model that is not built in`);
  }
  // Tiers and peak hours hold absolute prices that belong to the built-in base price: a config
  // price replaces them unless it brings its own (a cached or cache-write price left out still
  // falls back to the built-in one).
  const { tiers: _tiers, peak: _peak, ...baseFlat } = base?.pricing ?? { inputPerMTok: null, outputPerMTok: null };
  const pricing: Pricing = entry.pricing
    ? ({ ...baseFlat, ...entry.pricing } as Pricing)
    : (base?.pricing ?? { inputPerMTok: null, outputPerMTok: null });
  return {
    id,
    provider,
    providerModel: entry.providerModel ?? base?.providerModel ?? id,
    contextWindow: entry.contextWindow ?? base?.contextWindow ?? null,
    maxOutputTokens: entry.maxOutputTokens ?? base?.maxOutputTokens ?? null,
    pricing,
    capabilities: {
      ...(base?.capabilities ?? { tools: true, vision: false, temperature: true, reasoning: false }),
      ...(entry.capabilities ?? {}),
    },
    priceCheckedAt: entry.priceCheckedAt ?? (entry.pricing ? null : base?.priceCheckedAt ?? null),
    fallbacks: entry.fallbacks ?? base?.fallbacks,
    // The provider's dates and wire quirks hold whatever else the config file says of a built-in
    // model (a price, say), as long as it still names the same provider model.
    ...(base && sameUpstream(base, provider, entry.providerModel ?? base.providerModel) ? upstreamFacts(base) : {}),
  };
}

/** Builds the settings from the environment and, when LLM_SERVICE_CONFIG names one, the config file. */
export function loadSettings(env: Record<string, string | undefined> = process.env): Settings {
  const configPath = env.LLM_SERVICE_CONFIG || undefined;
  let file: ConfigFile = {};
  if (configPath) {
    let text: string;
    try {
      text = readFileSync(configPath, 'utf8');
    } catch (error) {
      throw new ConfigError(`Cannot read config file ${configPath} (LLM_SERVICE_CONFIG): ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
    }
    file = parseConfigFile(text, configPath);
  }
  return buildSettings(file, env, configPath);
}

/**
 * Merges a checked config file over the built-in providers, models and aliases, and checks that
 * every name in it leads somewhere: aliases and fallbacks resolve (without loops), the default
 * model exists. All problems are collected, so one start (or one `doctor`) shows every one.
 */
export function buildSettings(file: ConfigFile, env: Record<string, string | undefined>, configPath?: string): Settings {
  const problems: string[] = [];
  const providers = new Map<string, ProviderDefinition>(BUILT_IN_PROVIDERS.map((p) => [p.id, { ...p }]));
  for (const [id, entry] of Object.entries(file.providers ?? {})) {
    const base = providers.get(id);
    providers.set(id, {
      id,
      type: entry.type,
      baseURL: entry.baseURL ?? base?.baseURL,
      apiKeyEnv: entry.apiKeyEnv ?? base?.apiKeyEnv ?? '',
      baseURLEnv: base?.baseURLEnv,
    });
    if (entry.type === 'openai-compatible' && !entry.baseURL && !base?.baseURL) {
      problems.push(`providers.${id}.baseURL: required for an openai-compatible provider`);
    }
  }
  // Base URLs from the environment win over built-in defaults.
  for (const provider of providers.values()) {
    const fromEnv = provider.baseURLEnv ? env[provider.baseURLEnv] : undefined;
    if (fromEnv) provider.baseURL = fromEnv;
  }

  const models = new Map<string, ModelDefinition>(BUILT_IN_MODELS.map((m) => [m.id, m]));
  for (const [id, entry] of Object.entries(file.models ?? {})) {
    try {
      // A built-in alias (deepseek-chat, once a model of its own) overrides on top of its target, so
      // a config written for the old model keeps working.
      const aliasTarget = BUILT_IN_ALIASES[id];
      models.set(id, mergeModel(models.get(id) ?? (aliasTarget ? models.get(aliasTarget) : undefined), id, entry));
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      problems.push(error.message);
    }
  }
  for (const model of models.values()) {
    if (!providers.has(model.provider)) {
      problems.push(`models.${model.id}.provider: unknown provider '${model.provider}' (known: ${[...providers.keys()].join(', ')})`);
      models.delete(model.id);
    }
  }

  const aliases: Record<string, string> = { ...BUILT_IN_ALIASES, ...(file.aliases ?? {}) };
  const registry = new ModelRegistry([...models.values()], [...providers.values()], aliases);
  for (const alias of Object.keys(aliases)) {
    const problem = tryResolveError(registry, alias);
    if (problem !== undefined) problems.push(`aliases.${alias}: ${problem.replace(/^Unknown model /, 'points at unknown model ')}`);
  }

  const fallbackIds = new Map<string, string[]>();
  for (const model of models.values()) {
    const ids: string[] = [];
    (model.fallbacks ?? []).forEach((name, index) => {
      try {
        ids.push(registry.resolve(name).model.id);
      } catch (error) {
        problems.push(`models.${model.id}.fallbacks[${index}]: ${(error as Error).message}`);
      }
    });
    fallbackIds.set(model.id, ids);
  }
  for (const cycle of fallbackCycles(fallbackIds)) {
    problems.push(`models.${cycle[0]}.fallbacks: fallback cycle ${cycle.map((id) => `'${id}'`).join(' -> ')}; a model cannot fall back to itself, directly or through others`);
  }

  const retry: RetrySettings = {
    retries: file.retry?.retries ?? 2,
    minDelayMs: file.retry?.minDelayMs ?? 2000,
    maxDelayMs: file.retry?.maxDelayMs ?? 60_000,
    factor: file.retry?.factor ?? 2,
  };
  if (retry.minDelayMs > retry.maxDelayMs) {
    problems.push(`retry.minDelayMs: expected at most retry.maxDelayMs (${retry.maxDelayMs})`);
  }

  const defaultModel = env.LLM_SERVICE_DEFAULT_MODEL || file.defaultModel || BUILT_IN_DEFAULT_MODEL;
  const defaultModelSource: DefaultModelSource = env.LLM_SERVICE_DEFAULT_MODEL ? 'LLM_SERVICE_DEFAULT_MODEL' : file.defaultModel ? 'defaultModel' : 'built-in';
  const defaultModelProblem = tryResolveError(registry, defaultModel);
  if (defaultModelProblem !== undefined) {
    problems.push(`${defaultModelSource}: ${defaultModelProblem}`);
  }

  if (problems.length > 0) throw new ConfigError(problems.join('; '), problems);

  const dataDir = defaultDataDir(env);
  const dbPath = env.LLM_SERVICE_DB || join(dataDir, 'ledger.db');
  return {
    defaultModel,
    defaultModelSource,
    timeoutMs: file.timeoutMs ?? 600_000,
    // Room for two full-length attempts under the default timeoutMs (a model timing out, then its
    // retry or fallback answering) plus every default retry wait: a legitimate call is never cut.
    callTimeoutMs: file.callTimeoutMs ?? DEFAULT_CALL_TIMEOUT_MS,
    maxAnswerBytes: file.maxAnswerBytes ?? DEFAULT_MAX_ANSWER_BYTES,
    drainMs: file.drainMs ?? 10_000,
    progressIntervalMs: file.progressIntervalMs ?? 50,
    maxMessageBytes: file.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES,
    conversationIdleMs: (file.conversations?.idleDays ?? 7) * 86_400_000,
    retry,
    budget: file.budget,
    files: {
      roots: file.files?.roots?.map((root) => resolve(root)),
      maxFileBytes: file.files?.maxFileBytes ?? DEFAULT_FILE_LIMITS.maxFileBytes,
      maxCallBytes: file.files?.maxCallBytes ?? DEFAULT_FILE_LIMITS.maxCallBytes,
      maxFiles: DEFAULT_FILE_LIMITS.maxFiles,
    },
    providers: [...providers.values()],
    models: [...models.values()],
    aliases,
    dbPath,
    dataDir,
    configPath,
    env,
    ...(file.http ? { http: file.http } : {}),
  };
}

/** The registry's error for a name, or undefined when it resolves. */
function tryResolveError(registry: ModelRegistry, name: string): string | undefined {
  try {
    registry.resolve(name);
    return undefined;
  } catch (error) {
    return (error as Error).message;
  }
}

/** Each fallback cycle once, as the ids along it with the first repeated at the end. */
function fallbackCycles(edges: Map<string, string[]>): string[][] {
  const cycles: string[][] = [];
  const done = new Set<string>();
  const onPath: string[] = [];
  // Iterative depth-first search: a long chain in a config file must not exhaust the stack.
  for (const root of edges.keys()) {
    if (done.has(root)) continue;
    const stack: Array<{ id: string; next: number }> = [{ id: root, next: 0 }];
    onPath.push(root);
    while (stack.length > 0) {
      const top = stack[stack.length - 1]!;
      const targets = edges.get(top.id) ?? [];
      if (top.next >= targets.length) {
        done.add(top.id);
        stack.pop();
        onPath.pop();
        continue;
      }
      const target = targets[top.next++]!;
      const at = onPath.indexOf(target);
      if (at >= 0) cycles.push([...onPath.slice(at), target]);
      else if (!done.has(target)) {
        stack.push({ id: target, next: 0 });
        onPath.push(target);
      }
    }
  }
  return cycles;
}

/** Whether a provider can be called: a key is present, or it is a custom endpoint that needs none. */
export function isProviderConfigured(provider: ProviderDefinition, env: Record<string, string | undefined>): boolean {
  return notConfiguredReason(provider, env) === undefined;
}

/** Why a provider cannot be called (what to set), or undefined when it can. */
export function notConfiguredReason(provider: ProviderDefinition, env: Record<string, string | undefined>): string | undefined {
  const key = provider.apiKeyEnv ? env[provider.apiKeyEnv] : undefined;
  if (key !== undefined && key.trim() !== '') return undefined;
  const builtIn = BUILT_IN_PROVIDERS.some((p) => p.id === provider.id);
  // A custom endpoint (Ollama, vLLM) often needs no key: being in the config file is enough.
  const keyless = !builtIn && provider.type === 'openai-compatible';
  // A variable set to an empty string is a mistake (a host config's "KEY": ""), not "no key needed":
  // treating it as keyless would show the provider configured and send a dummy key.
  if (key !== undefined) {
    return `${provider.apiKeyEnv} is set but empty: set it to the key${keyless ? ', or unset it if the endpoint needs none' : ''}`;
  }
  if (keyless) return undefined;
  if (!provider.apiKeyEnv) return `it names no key: set providers.${provider.id}.apiKeyEnv in the config file to the variable holding its key`;
  return `set ${provider.apiKeyEnv} in the server's environment`;
}

/** Every API key value present in the environment, so they can be scrubbed from any output. */
export function secretValues(settings: Pick<Settings, 'providers' | 'env'>): string[] {
  const values = new Set<string>();
  for (const provider of settings.providers) {
    const value = provider.apiKeyEnv ? settings.env[provider.apiKeyEnv] : undefined;
    if (value) values.add(value);
  }
  return [...values];
}
