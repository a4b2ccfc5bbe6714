/**
 * `doctor` shows the gateway's `http` settings (built dist/cli.js): address, origins, limits,
 * token names and roles, JWT issuer/audience/JWKS, and a PROBLEM line (exit 1) when `serve --http`
 * would refuse to start. Never a token, its hash, or a secret in a URL.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createToken } from '../src/http/auth.js';
import { CLI, ensureBuilt } from './support/stdio-child.js';

let dir: string;
beforeAll(() => {
  ensureBuilt();
  dir = mkdtempSync(join(tmpdir(), 'llm-service-mcp-doctor-http-'));
});
afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function doctor(config: unknown, env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const name = `c-${Math.random().toString(36).slice(2)}`;
  const path = join(dir, `${name}.json`);
  writeFileSync(path, JSON.stringify(config));
  return new Promise((resolve) => {
    const child = execFile(
      process.execPath,
      [CLI, 'doctor'],
      { env: { PATH: process.env.PATH ?? '', HOME: dir, LLM_SERVICE_CONFIG: path, LLM_SERVICE_DB: join(dir, `${name}.db`), ...env }, timeout: 20_000 },
      (error, stdout, stderr) => resolve({ code: error ? ((error as { code?: number }).code ?? null) : 0, stdout, stderr }),
    );
    child.stdin?.end();
  });
}

describe('doctor and the http section', () => {
  it('shows address, origins, limits, token names and roles, and the JWT settings; never a token, hash or URL password', async () => {
    const alice = createToken('alice');
    const ops = createToken('ops');
    const { code, stdout, stderr } = await doctor({
      http: {
        host: '0.0.0.0',
        port: 9999,
        allowedOrigins: ['https://app.example'],
        maxBodyBytes: 1048576,
        maxConcurrentPerPrincipal: 4,
        drainMs: 5000,
        tokens: [{ ...alice.entry, budget: { dailyUsd: 2 } }, { ...ops.entry, role: 'admin' }],
        jwt: { jwksUrl: 'https://idp-user:idp-PASSWORD@idp.example/jwks.json?key=QUERY-SECRET', issuer: 'https://idp.example/', audience: ['https://llm.example/mcp', 'llm'] },
      },
    });
    expect(code, stdout + stderr).toBe(0);
    expect(stdout).toContain('http gateway:  serve --http listens on 0.0.0.0:9999; --host/--port override');
    expect(stdout).toContain('  tokens:      2 static: alice (user, own budget), ops (admin)');
    expect(stdout).toContain('  jwt:         JWKS https://idp.example/jwks.json?…, issuer https://idp.example/, audience https://llm.example/mcp, llm, principal claim sub');
    expect(stdout).toContain('  origins:     https://app.example');
    expect(stdout).toContain('  limits:      body 1048576 bytes (1.0 MiB), 4 concurrent requests per principal, drain 5000 ms');
    expect(stdout).not.toContain('PROBLEM');
    for (const secret of [alice.token, ops.token, alice.entry.sha256, ops.entry.sha256, 'idp-PASSWORD', 'idp-user', 'QUERY-SECRET']) {
      expect(stdout + stderr).not.toContain(secret);
    }
  }, 30_000);

  it('says PROBLEM and exits 1 when serve --http would refuse: a non-loopback host with no authentication', async () => {
    const { code, stdout } = await doctor({ http: { host: '0.0.0.0' } });
    expect(code).toBe(1);
    expect(stdout).toContain('  auth:        none\n');
    expect(stdout).toMatch(/^PROBLEM: http: refusing to listen on 0\.0\.0\.0 with no authentication: add http\.tokens/m);
  }, 30_000);

  it('takes LLM_SERVICE_HTTP_HOST over the file, as serve --http does, and catches the same problem there', async () => {
    const { code, stdout } = await doctor({ http: { port: 8800 } }, { LLM_SERVICE_HTTP_HOST: '10.1.2.3' });
    expect(code).toBe(1);
    expect(stdout).toContain('http gateway:  serve --http listens on 10.1.2.3:8800 (LLM_SERVICE_HTTP_HOST from the environment)');
    expect(stdout).toMatch(/^PROBLEM: http: refusing to listen on 10\.1\.2\.3/m);
  }, 30_000);

  it('with a config file that does not load, says the defaults are shown for that reason', async () => {
    const { code, stdout } = await doctor({ http: { port: 'eighty' } });
    expect(code).toBe(1);
    expect(stdout).toMatch(/^PROBLEM: Config file .*http\.port/m);
    expect(stdout).toContain('http gateway:  serve --http listens on 127.0.0.1:8787 (defaults: the config file did not load, see PROBLEM above)');
  }, 30_000);

  it('without an http section shows the defaults: loopback, no authentication, and no problem', async () => {
    const { code, stdout } = await doctor({});
    expect(code).toBe(0);
    expect(stdout).toContain('http gateway:  serve --http listens on 127.0.0.1:8787 (defaults: no http section in the config file)');
    expect(stdout).toContain('  auth:        none: every request is admitted as the local user (loopback only)');
    expect(stdout).toContain('  limits:      body 4194304 bytes (4.0 MiB), 16 concurrent requests per principal, drain 30000 ms');
    expect(stdout).toContain('  origins:     none allowed');
  }, 30_000);
});
