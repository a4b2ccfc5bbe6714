/**
 * The shared tool table (tool-table.ts) over Streamable HTTP: the built `serve --http` on
 * 127.0.0.1, the SDK's StreamableHTTPClientTransport with a static bearer token.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { createToken } from '../../src/http/auth.js';
import { childEnv, ensureBuilt } from '../ledger-integration/fixtures/helpers.js';
import { connectHttpClient, postRaw, spawnGateway } from '../support/gateway.js';
import { FAKE_KEYS } from '../support/harness.js';
import { describeToolTable } from './tool-table.js';
import { useUpstream } from '../support/use-upstream.js';

const upstream = useUpstream();
let dir: string;

beforeAll(async () => {
  await ensureBuilt();
  dir = mkdtempSync(join(tmpdir(), 'llm-service-mcp-http-'));
}, 180_000);

afterAll(async () => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describeToolTable({
  name: 'Streamable HTTP',
  start: async () => {
    const { token, entry } = createToken('table');
    const gateway = await spawnGateway({
      dir,
      env: childEnv(upstream, dir, { LLM_SERVICE_DB: join(dir, 'table.db') }),
      config: { http: { tokens: [entry] } },
    });
    const client = await connectHttpClient(gateway.url, token);
    return {
      client,
      raw: async (body) => {
        const res = await postRaw(gateway.url, token, body);
        return { status: res.status, answer: await res.json() };
      },
      stderr: () => gateway.stderr(),
      close: async () => {
        await client.close();
        gateway.kill();
      },
    };
  },
  quietStderr: /^llm-service-mcp: serving MCP over HTTP at http:\/\/127\.0\.0\.1:\d+\/mcp \(1 static token\(s\)\); ledger \S+\n$/,
  upstream: () => upstream,
  keys: { openai: FAKE_KEYS.OPENAI_API_KEY, anthropic: FAKE_KEYS.ANTHROPIC_API_KEY },
});
