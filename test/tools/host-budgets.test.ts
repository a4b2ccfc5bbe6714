/**
 * What reaches the host model stays small: SPEC §4 gives `list_models` (every built-in provider
 * configured) and `get_cost` (grouped by model, 10 groups) at most 2,500 bytes in each channel,
 * `content` and `structuredContent`, and the whole `tools/list` at most 5 KB.
 */
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { describe, expect, it } from 'vitest';
import { harnessPerTest, type Harness } from '../support/harness.js';
import { testClock } from '../support/clock.js';

const startHarness = harnessPerTest();
const BUDGET_BYTES = 2500;

function sizes(result: CallToolResult): { content: number; structured: number } {
  const content = result.content.reduce((sum, item) => sum + (item.type === 'text' ? Buffer.byteLength(item.text, 'utf8') : 0), 0);
  const structured = Buffer.byteLength(JSON.stringify(result.structuredContent ?? null), 'utf8');
  return { content, structured };
}

/** Ten models with calls in the ledger, one of them unpriced and one of unknown cost. */
function fillLedger(h: Harness): void {
  const models = h.created.service.listModels().models.slice(0, 9).map((m) => m.id);
  const now = testClock(); // the server's clock (test/support/clock.ts)
  let n = 0;
  for (const model of [...models, 'openai:gpt-unlisted']) {
    for (let i = 0; i < 3; i++) {
      n++;
      h.ledger.record({
        callId: `call-${n}`,
        startedAt: now - n * 60_000,
        model,
        provider: model.startsWith('openai:') ? 'openai' : h.created.service.listModels().models.find((m) => m.id === model)!.provider,
        providerModel: model,
        usage: { promptTokens: 123_456 + n, completionTokens: 7_890 + n, cachedTokens: 0, cacheWriteTokens: 0, reasoningTokens: 0, totalTokens: 131_346 + 2 * n },
        pricing: model.startsWith('openai:') ? null : { inputPerMTok: 1, outputPerMTok: 2 },
        costMicroUsd: model.startsWith('openai:') || n === 4 ? null : 139_236 + n,
        latencyMs: 1000,
        attempts: 1,
        status: n % 7 === 0 ? 'error' : 'ok',
        finishReason: 'stop',
        error: null,
        principal: null,
      } as Parameters<Harness['ledger']['record']>[0]);
    }
  }
}

describe('byte budgets of what reaches the host model', () => {
  it('list_models with every built-in provider configured', async () => {
    const h = await startHarness();
    const result = await h.callTool('list_models', {});
    expect(result.isError).toBeFalsy();
    const size = sizes(result);
    console.log(`list_models: content ${size.content} B, structuredContent ${size.structured} B`);
    expect(size.content).toBeLessThan(BUDGET_BYTES);
    expect(size.structured).toBeLessThan(BUDGET_BYTES);
  });

  it('get_cost grouped by model, 10 groups', async () => {
    const h = await startHarness({ config: { budget: { dailyUsd: 5, monthlyUsd: 50 } } });
    fillLedger(h);
    const result = await h.callTool('get_cost', { group_by: 'model', since: '7d' });
    expect(result.isError).toBeFalsy();
    const size = sizes(result);
    console.log(`get_cost: content ${size.content} B, structuredContent ${size.structured} B`);
    expect(size.content).toBeLessThan(BUDGET_BYTES);
    expect(size.structured).toBeLessThan(BUDGET_BYTES);
  });

  it('the whole tools/list', async () => {
    const h = await startHarness();
    const listed = await h.client.listTools();
    const bytes = Buffer.byteLength(JSON.stringify(listed), 'utf8');
    console.log(`tools/list: ${bytes} B`);
    expect(bytes).toBeLessThan(5000);
  });
});
