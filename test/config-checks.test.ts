/**
 * Config mistakes stop the server at start with a line that names them (issue #9 item 8, #16
 * items 4 and 6): alias loops (also through provider:model names), fallback typos and cycles,
 * times past what Node's timers hold; a UTF-8 byte order mark is accepted. `doctor` reports each
 * problem on its own line and still shows everything that loaded.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildSettings, ConfigError, loadSettings, MAX_TIMER_MS, parseConfigFile, type ConfigFile } from '../src/config.js';
import { CLI, ensureBuilt } from './support/stdio-child.js';

let dir: string;
beforeAll(() => {
  ensureBuilt();
  dir = mkdtempSync(join(tmpdir(), 'llm-service-mcp-config-checks-'));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

function problemsOf(file: ConfigFile, env: Record<string, string> = {}): string[] {
  try {
    buildSettings(file, env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).problems;
  }
  throw new Error('expected a ConfigError');
}

function writeConfig(name: string, content: string): string {
  const path = join(dir, name);
  writeFileSync(path, content);
  return path;
}

function runCli(args: string[], env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string; ms: number }> {
  const started = Date.now();
  return new Promise((resolve) => {
    const child = execFile(process.execPath, [CLI, ...args], { env: { PATH: process.env.PATH ?? '', HOME: dir, ...env }, timeout: 10_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? ((error as { code?: number }).code ?? null) : 0, stdout, stderr, ms: Date.now() - started });
    });
    child.stdin?.end();
  });
}

describe('aliases', () => {
  it.each<[string, Record<string, string>, RegExp]>([
    ['a two-step loop', { a: 'b', b: 'a' }, /^aliases\.a: Alias loop: 'a' -> 'b' -> 'a'/],
    ['a self-loop', { a: 'a' }, /^aliases\.a: Alias loop: 'a' -> 'a'/],
    ['a loop that only closes after trimming', { a: 'a ' }, /^aliases\.a: Alias loop/],
    ['a loop through provider:model names', { 'openai:x': 'fast2', fast2: 'openai:x' }, /^aliases\.openai:x: Alias loop: 'openai:x' -> 'fast2' -> 'openai:x'/],
  ])('%s is refused at start, not by every call overflowing the stack', (_, aliases, expected) => {
    const problems = problemsOf({ aliases });
    expect(problems.some((p) => expected.test(p)), problems.join('\n')).toBe(true);
    expect(problems.join('\n')).not.toMatch(/call stack/);
  });

  it('an alias to an unknown provider is refused too; a long chain that ends in a model is fine', () => {
    expect(problemsOf({ aliases: { x: 'nope:model' } }).join('\n')).toMatch(/^aliases\.x: Unknown provider 'nope'/);
    const chain = Object.fromEntries(Array.from({ length: 200 }, (_, i) => [`a${i}`, i === 199 ? 'gpt-4o' : `a${i + 1}`]));
    expect(buildSettings({ aliases: chain }, {}).aliases.a0).toBe('a1');
  });
});

describe('fallbacks', () => {
  it('a fallback typo is refused at start, with a suggestion (not "Unknown model" on every call)', () => {
    const problems = problemsOf({ models: { 'gpt-4o-mini': { fallbacks: ['claude-haiku-4-5', 'gpt4o'] } } });
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^models\.gpt-4o-mini\.fallbacks\[1\]: Unknown model 'gpt4o'\. Did you mean: gpt-4o/);
  });

  it.each<[string, ConfigFile, RegExp]>([
    ['a model falling back to itself', { models: { 'gpt-4o': { fallbacks: ['gpt-4o'] } } }, /fallback cycle 'gpt-4o' -> 'gpt-4o'/],
    [
      'a cycle through two models and an alias',
      { aliases: { smart: 'claude-sonnet-4-5' }, models: { 'gpt-4o': { fallbacks: ['smart'] }, 'claude-sonnet-4-5': { fallbacks: ['openai:gpt-4o'] } } },
      /fallback cycle 'gpt-4o' -> 'claude-sonnet-4-5' -> 'gpt-4o'/,
    ],
  ])('%s is refused at start', (_, file, expected) => {
    const problems = problemsOf(file);
    expect(problems.some((p) => expected.test(p)), problems.join('\n')).toBe(true);
  });

  it('fallbacks that lead somewhere, without a cycle, are accepted', () => {
    const settings = buildSettings({ models: { 'gpt-4o': { fallbacks: ['claude-sonnet-4-5', 'openai:gpt-4.1-nano'] }, 'claude-sonnet-4-5': { fallbacks: ['gpt-4o-mini'] } } }, {});
    expect(settings.models.find((m) => m.id === 'gpt-4o')?.fallbacks).toEqual(['claude-sonnet-4-5', 'openai:gpt-4.1-nano']);
  });
});

describe('times and delays', () => {
  it.each([
    ['timeoutMs', { timeoutMs: 2 ** 31 }],
    ['progressIntervalMs', { progressIntervalMs: 2 ** 40 }],
    ['retry.minDelayMs', { retry: { minDelayMs: 2 ** 31 } }],
    ['retry.maxDelayMs', { retry: { maxDelayMs: 1e300 } }],
  ])('%s of 2^31 ms or more is refused, naming the key and the timer limit', (key, file) => {
    expect(() => parseConfigFile(JSON.stringify(file), 'c.json')).toThrow(
      `Config file c.json: ${key}: at most ${MAX_TIMER_MS} ms (about 24.8 days): a longer time does not fit Node's timers`,
    );
  });

  it('2^31 - 1 ms is still accepted', () => {
    const file = parseConfigFile(JSON.stringify({ timeoutMs: MAX_TIMER_MS, retry: { minDelayMs: 10, maxDelayMs: MAX_TIMER_MS } }), 'c.json');
    expect(buildSettings(file, {}).timeoutMs).toBe(MAX_TIMER_MS);
  });
});

describe('reading the file', () => {
  it('accepts a UTF-8 byte order mark', () => {
    const path = writeConfig('bom.json', `\uFEFF${JSON.stringify({ defaultModel: 'fast', aliases: { fast: 'gpt-4o-mini' } })}`);
    expect(loadSettings({ LLM_SERVICE_CONFIG: path }).defaultModel).toBe('fast');
  });

  it('reports every problem at once, not only the first', () => {
    const problems = problemsOf(
      { aliases: { a: 'b', b: 'a' }, models: { 'gpt-4o': { fallbacks: ['gpt4o'] } }, retry: { minDelayMs: 9, maxDelayMs: 1 } },
      { LLM_SERVICE_DEFAULT_MODEL: 'nope' },
    );
    expect(problems.map((p) => p.split(':')[0])).toEqual(['aliases.a', 'aliases.b', 'models.gpt-4o.fallbacks[0]', 'retry.minDelayMs', 'LLM_SERVICE_DEFAULT_MODEL']);
  });
});

describe('the server and doctor (dist/cli.js)', () => {
  it('the server stops at start on an alias loop, in one stderr line, at once', async () => {
    const path = writeConfig('loop.json', JSON.stringify({ aliases: { a: 'b', b: 'a' } }));
    const { code, stdout, stderr, ms } = await runCli([], { LLM_SERVICE_CONFIG: path, LLM_SERVICE_DB: join(dir, 'loop.db') });
    expect(code).toBe(1);
    expect(stdout).toBe('');
    expect(stderr.trim().split('\n')).toHaveLength(1);
    expect(stderr).toMatch(/^llm-service-mcp: aliases\.a: Alias loop: 'a' -> 'b' -> 'a'/);
    expect(ms).toBeLessThan(5_000);
  });

  it('the server starts with a config file saved with a byte order mark', async () => {
    const path = writeConfig('bom-cli.json', `\uFEFF${JSON.stringify({ timeoutMs: 1000 })}`);
    const { code, stdout } = await runCli(['doctor'], { LLM_SERVICE_CONFIG: path, LLM_SERVICE_DB: join(dir, 'bom.db') });
    expect(code).toBe(0);
    expect(stdout).toContain(`config file:   ${path}\n`);
    expect(stdout).toContain('timeout 1000 ms');
  });

  it('doctor reports a fallback typo and exits 1', async () => {
    const path = writeConfig('typo.json', JSON.stringify({ models: { 'gpt-4o': { fallbacks: ['gpt4o-mini'] } } }));
    const { code, stdout } = await runCli(['doctor'], { LLM_SERVICE_CONFIG: path, LLM_SERVICE_DB: join(dir, 'typo.db') });
    expect(code).toBe(1);
    expect(stdout).toMatch(/^PROBLEM: models\.gpt-4o\.fallbacks\[0\]: Unknown model 'gpt4o-mini'\. Did you mean: gpt-4o-mini/m);
  });

  it('doctor with a bad LLM_SERVICE_DEFAULT_MODEL keeps the valid config file in its report', async () => {
    // A default of the file's own (the built-in one changes on 2027-01-14, and this test runs the real clock).
    const path = writeConfig('valid.json', JSON.stringify({ timeoutMs: 1234, defaultModel: 'fast', aliases: { fast: 'gpt-6-luna' } }));
    const { code, stdout } = await runCli(['doctor'], { LLM_SERVICE_CONFIG: path, LLM_SERVICE_DEFAULT_MODEL: 'gpt-9', LLM_SERVICE_DB: join(dir, 'd.db') });
    expect(code).toBe(1);
    expect(stdout).toMatch(/^PROBLEM: LLM_SERVICE_DEFAULT_MODEL: Unknown model 'gpt-9'/m);
    expect(stdout).toContain(`config file:   ${path}\n`);
    expect(stdout).not.toContain('undefined');
    expect(stdout).toContain('timeout 1234 ms');
    expect(stdout).toMatch(/default model: fast \(LLM_SERVICE_DEFAULT_MODEL 'gpt-9' not used: see PROBLEM above\)/);
  });

  it('doctor puts each problem on its own line: a broken file and a bad default model', async () => {
    const path = writeConfig('two.json', JSON.stringify({ aliases: { a: 'b', b: 'a' }, models: { 'gpt-4o': { fallbacks: ['gpt4o'] } } }));
    const { code, stdout } = await runCli(['doctor'], { LLM_SERVICE_CONFIG: path, LLM_SERVICE_DEFAULT_MODEL: 'gpt-9', LLM_SERVICE_DB: join(dir, 'two.db') });
    expect(code).toBe(1);
    const problems = stdout.split('\n').filter((line) => line.startsWith('PROBLEM: '));
    expect(problems.map((line) => line.slice('PROBLEM: '.length).split(':')[0])).toEqual(['aliases.a', 'aliases.b', 'models.gpt-4o.fallbacks[0]', 'LLM_SERVICE_DEFAULT_MODEL']);
    expect(stdout).toContain(`config file:   ${path} (not loaded: see PROBLEM above)`);
    expect(stdout).toMatch(/^openai\s+openai/m);
  });
});
