/**
 * doctor says whether better-sqlite3's native module loads: the real module here (built dist/cli.js
 * and the function), and the failure text from a loader that really fails to load a `.node` file
 * (better-sqlite3 itself is not mocked).
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkNativeModule, describeNativeFailure } from '../src/native-check.js';
import { CLI, ensureBuilt } from './support/stdio-child.js';

let dir: string;
beforeAll(() => {
  ensureBuilt();
  dir = mkdtempSync(join(tmpdir(), 'llm-service-mcp-doctor-native-'));
});
afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('doctor: better-sqlite3 native module', () => {
  it('the real module loads: the line says so and there is no problem', () => {
    expect(checkNativeModule()).toEqual({ line: 'native module: better-sqlite3 loads' });
  });

  it('built doctor prints the loads line and exits 0', async () => {
    const result = await new Promise<{ code: number | null; stdout: string }>((resolve) => {
      const child = execFile(
        process.execPath,
        [CLI, 'doctor'],
        { env: { PATH: process.env.PATH ?? '', HOME: dir, LLM_SERVICE_DB: join(dir, 'ledger.db') }, timeout: 20_000 },
        (error, stdout) => resolve({ code: error ? ((error as { code?: number }).code ?? null) : 0, stdout }),
      );
      child.stdin?.end();
    });
    expect(result.stdout).toMatch(/^native module: better-sqlite3 loads$/m);
    expect(result.stdout).not.toContain('PROBLEM');
    expect(result.code).toBe(0);
  });

  it('a module that does not load: NOT-loads line with the first line of the reason, and a PROBLEM with the fix', () => {
    // A real load failure: Node's own dlopen of a .node file that is not a shared library.
    const notALibrary = join(dir, 'better_sqlite3.node');
    writeFileSync(notALibrary, 'not an ELF file\nsecond line of noise\n');
    const check = checkNativeModule(() => process.dlopen({ exports: {} }, notALibrary), '99.1.0');
    expect(check.line).toMatch(/^native module: better-sqlite3 does NOT load \(.*better_sqlite3\.node.*\)$/);
    expect(check.line).not.toContain('\n');
    expect(check.problem).toContain('Node.js 99.1.0');
    expect(check.problem).toContain('npm rebuild better-sqlite3');
    expect(check.problem).toContain('rm -rf ~/.npm/_npx');
    expect(check.problem).toContain('npx -y llm-service-mcp --version');
  });

  it('a many-line loader message is cut to its first non-empty line and 300 characters', () => {
    const check = describeNativeFailure(new Error(`\nCould not locate the bindings file. ${'x'.repeat(400)}\n → /a\n → /b`), '20.0.0');
    expect(check.line.startsWith('native module: better-sqlite3 does NOT load (Could not locate the bindings file.')).toBe(true);
    expect(check.line).not.toContain('→');
    expect(check.line.length).toBeLessThan(360);
  });
});
