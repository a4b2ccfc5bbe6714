/**
 * A team gateway of three instances sharing one PostgreSQL ledger, end to end: three built
 * `serve --http` processes on 127.0.0.1, each with its own data folder (its own spool), driven by
 * the SDK client over Streamable HTTP with static bearer tokens; the loopback upstream answers.
 * Start-up on an empty database migrates once; one budget across the three (a concurrent race
 * overspends by at most one call's worst case); a thread started on one instance goes on on another;
 * kill -9 of one instance loses no answered call; the database stopped for 10 s loses no row.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createToken } from '../../src/http/auth.js';
import { POSTGRES_SCHEMA_VERSION } from '../../src/ledger/postgres/postgres-migrations.js';
import { childEnv, ensureBuilt } from '../ledger-integration/fixtures/helpers.js';
import { connectHttpClient, spawnGateway, type Gateway } from '../support/gateway.js';
import { freshDatabase, queryRows, startPostgresCluster, type PostgresCluster } from '../support/postgres-server.js';
import type { RecordedRequest } from '../support/upstream.js';
import { useUpstream } from '../support/use-upstream.js';

const alice = createToken('alice');
const bob = createToken('bob');

/** Output-priced model: max_tokens 1000 at $100/MTok holds $0.10; an answer of n tokens costs n × $0.0001. */
const METERED = { metered: { provider: 'openai', providerModel: 'metered-1', pricing: { inputPerMTok: 0, outputPerMTok: 100 } } };
/** Priced at nothing: under a budget its calls go through admission, holding $0. */
const FREE = { free: { provider: 'openai', providerModel: 'free-1', pricing: { inputPerMTok: 0, outputPerMTok: 0 } } };
const WORST_MICRO = 100_000;

const upstream = useUpstream();
let dir: string;
const gateways: Gateway[] = [];
const clients: Client[] = [];
const drops: Array<() => Promise<void>> = [];

beforeAll(async () => {
  await ensureBuilt();
  dir = mkdtempSync(join(tmpdir(), 'llm-service-mcp-instances-'));
}, 180_000);

afterAll(async () => {
  await Promise.all(clients.map((client) => client.close().catch(() => undefined)));
  for (const gateway of gateways) gateway.kill();
  await Promise.all(gateways.map((gateway) => gateway.exit));
  await Promise.all(drops.map((drop) => drop().catch(() => undefined)));
  if (dir) rmSync(dir, { recursive: true, force: true });
}, 60_000);

async function database(serverUrl: string, prefix: string): Promise<string> {
  const created = await freshDatabase(serverUrl, prefix);
  drops.push(created.drop);
  return created.url;
}

/** Three instances on `dbUrl`, started at once, each with its own home (data folder, spool). */
async function startInstances(name: string, dbUrl: string, config: Record<string, unknown> = {}): Promise<Gateway[]> {
  return Promise.all(
    [0, 1, 2].map(async (i) => {
      const home = join(dir, `${name}-${i}`);
      mkdirSync(home, { recursive: true });
      const gateway = await spawnGateway({
        dir: home,
        env: childEnv(upstream, home, { LLM_SERVICE_DB: dbUrl, LLM_SERVICE_LOG_LEVEL: 'info' }),
        config: {
          retry: { retries: 0, minDelayMs: 10, maxDelayMs: 100, factor: 2 },
          models: { ...METERED, ...FREE },
          http: { maxConcurrentPerPrincipal: 300, tokens: [alice.entry, bob.entry] },
          ...config,
        },
      });
      gateways.push(gateway);
      return gateway;
    }),
  );
}

async function client(gateway: Gateway, token: string): Promise<Client> {
  const connected = await connectHttpClient(gateway.url, token);
  clients.push(connected);
  return connected;
}

interface ChatReply {
  isError?: boolean;
  content: Array<{ type: string; text: string }>;
  structuredContent?: { call_id: string; conversation_id?: string; notes?: string[]; content: string };
}

async function chat(on: Client, args: Record<string, unknown>): Promise<ChatReply> {
  return (await on.callTool({ name: 'chat', arguments: { model: 'metered', ...args } })) as unknown as ChatReply;
}

/** The text of the last user message of a request the upstream received. */
function lastUserText(request: RecordedRequest): string {
  return request.body?.messages?.at(-1)?.content ?? '';
}

describe('three instances started together on an empty database, one global budget', () => {
  let instances: Gateway[];
  let url: string;

  beforeAll(async () => {
    url = await database(inject('postgresUrl'), 'gateway_race');
    instances = await startInstances('race', url, { budget: { dailyUsd: (30 * WORST_MICRO) / 1e6 } });
  }, 120_000);

  it('migrate the database once: one schema row at the current version, and all three serve', async () => {
    // A second migration would fail on CREATE TABLE of a table the first made, and that instance
    // would exit: all three started, so each found the schema current or made it, one at a time.
    expect(await queryRows(url, 'SELECT version FROM ledger_schema')).toEqual([{ version: POSTGRES_SCHEMA_VERSION }]);
    for (const gateway of instances) expect((await fetch(`${gateway.base}/readyz`)).status).toBe(200);
  });

  it('300 concurrent calls over the three against a cap worth 30 overspend by at most one call; every answer has its row', async () => {
    // Every answer costs its worst case, so the cap admits exactly 30 calls however they
    // interleave (spend plus holds is always $0.10 per admitted call): one admission that did not
    // see another's hold would let a 31st through. Answers of less than the worst case are in the
    // ledger contract test (test/ledger/contract.test.ts), on both stores.
    upstream.setDefault({ kind: 'openai', usage: { prompt_tokens: 0, completion_tokens: 1000 }, delayMs: 20 });
    try {
      const callers = await Promise.all(instances.map((gateway) => client(gateway, alice.token)));
      // First fill each instance's pool of database connections (calls holding $0): otherwise the
      // first admissions are spaced out by connections being opened, and would not race.
      await Promise.all(Array.from({ length: 60 }, (_, i) => chat(callers[i % 3]!, { model: 'free', prompt: `warm-${i}`, store: false })));
      // An admission takes well under a millisecond, so on a small machine two rarely overlap (with
      // the admission lock taken out, this race still admitted exactly 30): the database itself (a
      // trigger, no mock) makes each hold's insert take 100 ms, so admissions that were not
      // serialised would read the holds before each other's commit (without the lock: 31 admitted).
      await queryRows(
        url,
        `CREATE FUNCTION slow_hold() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep(0.1); RETURN NEW; END $$;
         CREATE TRIGGER slow_hold BEFORE INSERT ON reservations FOR EACH ROW EXECUTE FUNCTION slow_hold()`,
      );
      const replies = await Promise.all(Array.from({ length: 300 }, (_, i) => chat(callers[i % 3]!, { prompt: `race-${i}`, max_tokens: 1000 })));
      const answered = replies.filter((reply) => !reply.isError);
      const refused = replies.filter((reply) => reply.isError);
      for (const reply of refused) expect(reply.content[0]!.text).toMatch(/^Daily budget of \$3\.00 reached \(/);
      expect(answered.length + refused.length).toBe(300);
      expect(answered.length).toBe(30);

      const rows = await queryRows<{ call_id: string; cost: number }>(url, "SELECT call_id, cost_micro_usd::float8 AS cost FROM calls WHERE model = 'metered'");
      expect(rows.map((row) => row.call_id).sort()).toEqual(answered.map((reply) => reply.structuredContent!.call_id).sort());
      const spent = rows.reduce((sum, row) => sum + row.cost, 0);
      // The guarantee is at most one call's worst case over the cap; answers that cost their worst
      // case leave no room for even that.
      expect(spent).toBe(30 * WORST_MICRO);
      // Every hold was settled with its call.
      expect(await queryRows(url, 'SELECT id FROM reservations')).toEqual([]);
    } finally {
      upstream.setDefault({ kind: 'auto' });
    }
  }, 120_000);
});

describe('three instances, no budget', () => {
  let instances: Gateway[];
  let url: string;

  beforeAll(async () => {
    url = await database(inject('postgresUrl'), 'gateway_instances');
    instances = await startInstances('plain', url);
  }, 120_000);

  it("a conversation started on one instance goes on on another with its history; a third refuses another principal", async () => {
    const [a, b, c] = [await client(instances[0]!, alice.token), await client(instances[1]!, alice.token), await client(instances[2]!, bob.token)];
    const first = await chat(a, { prompt: 'Name a colour' });
    expect(first.isError).toBeFalsy();
    const id = first.structuredContent!.conversation_id!;
    expect(id).toEqual(expect.any(String));

    const second = await chat(b, { prompt: 'And another one?', conversation_id: id });
    expect(second.isError).toBeFalsy();
    expect(second.structuredContent!.conversation_id).toBe(id);
    const sent = upstream.requests.filter((request) => lastUserText(request) === 'And another one?');
    expect(sent).toHaveLength(1);
    expect(sent[0]!.body.messages).toEqual([
      { role: 'user', content: 'Name a colour' },
      { role: 'assistant', content: 'echo: Name a colour' },
      { role: 'user', content: 'And another one?' },
    ]);

    const before = upstream.requests.length;
    const stranger = await chat(c, { prompt: 'Show me their thread', conversation_id: id });
    expect(stranger.isError).toBe(true);
    expect(stranger.content[0]!.text).toContain(`No conversation '${id}'`);
    expect(upstream.requests.length).toBe(before);
    // Both of alice's turns are recorded as turns of the thread, whichever instance served them.
    expect(await queryRows(url, `SELECT principal, conversation_id FROM calls WHERE conversation_id = '${id}'`)).toEqual([
      { principal: 'alice', conversation_id: id },
      { principal: 'alice', conversation_id: id },
    ]);
  });

  it('kill -9 of one instance under load: every answered call has its row, once; the others carry on', async () => {
    upstream.setDefault({ kind: 'openai', delayMs: 10 });
    try {
      const callers = await Promise.all(instances.map((gateway) => client(gateway, alice.token)));
      const answered: string[][] = [[], [], []];
      const failed = [0, 0, 0];
      // Four workers per instance, each calling one after the other: the killed instance's stop at
      // their first failure, the others after 20 calls each (bounded either way).
      const workers = callers.flatMap((caller, i) =>
        Array.from({ length: 4 }, async (_, w) => {
          for (let n = 0; n < (i === 0 ? 1_000 : 20); n++) {
            try {
              const reply = await chat(caller, { prompt: `load-${i}-${w}-${n}`, store: false });
              if (reply.isError) throw new Error(reply.content[0]!.text);
              answered[i]!.push(reply.structuredContent!.call_id);
            } catch {
              failed[i]!++;
              return;
            }
          }
        }),
      );
      const deadline = Date.now() + 30_000;
      while (answered[0]!.length < 20 && Date.now() < deadline) await sleep(10);
      instances[0]!.kill();
      await Promise.all(workers);
      expect(await instances[0]!.exit).toBeNull();

      expect(answered[0]!.length).toBeGreaterThanOrEqual(20);
      expect(failed[0]).toBeGreaterThan(0);
      expect([answered[1]!.length, answered[2]!.length, failed[1], failed[2]]).toEqual([80, 80, 0, 0]);
      const rows = await queryRows<{ call_id: string }>(url, "SELECT call_id FROM calls WHERE conversation_id IS NULL");
      const stored = new Set(rows.map((row) => row.call_id));
      expect(answered.flat().filter((callId) => !stored.has(callId))).toEqual([]);
      // Nothing twice; at most the calls in flight at the kill are there unanswered.
      expect(rows.length).toBe(stored.size);
      expect(rows.length - answered.flat().length).toBeLessThanOrEqual(4);
    } finally {
      upstream.setDefault({ kind: 'auto' });
    }
  }, 120_000);
});

describe('the database stops for 10 s while three instances answer 100 calls', () => {
  let cluster: PostgresCluster;
  let instances: Gateway[];
  let url: string;

  beforeAll(async () => {
    cluster = await startPostgresCluster();
    url = await database(cluster.url, 'gateway_blink');
    instances = await startInstances('blink', url);
  }, 120_000);
  afterAll(async () => {
    await cluster?.remove();
  }, 60_000);

  it('every call is answered (with a note while it is away), spooled and written once it is back: 0 rows lost, none twice', async () => {
    const callers = await Promise.all(instances.map((gateway) => client(gateway, alice.token)));
    const replies: Array<Promise<ChatReply>> = [];
    const spread = async (from: number, to: number, overMs: number): Promise<void> => {
      for (let i = from; i < to; i++) {
        replies.push(chat(callers[i % 3]!, { prompt: `blink-${i}`, store: false }));
        await sleep(overMs / (to - from));
      }
    };
    // 15 calls before, 70 over the 10 s the database is away, 15 after it is back.
    await spread(0, 15, 1_500);
    await Promise.all(replies);
    await cluster.stop();
    const stoppedAt = Date.now();
    await spread(15, 85, 9_000);
    await Promise.all(replies);
    await sleep(Math.max(0, 10_000 - (Date.now() - stoppedAt)));
    await cluster.start();
    await spread(85, 100, 1_500);
    const answers = await Promise.all(replies);

    for (const answer of answers) expect(answer.isError, answer.content[0]?.text).toBeFalsy();
    const spooled = answers.filter((answer) => answer.structuredContent!.notes?.some((note) => note.startsWith('the cost ledger is unreachable; this call was kept locally')));
    expect(spooled.length).toBeGreaterThanOrEqual(70);
    const callIds = answers.map((answer) => answer.structuredContent!.call_id).sort();

    // Each instance writes its spool within a retry (2 s) of the database answering again.
    const deadline = Date.now() + 30_000;
    let rows: Array<{ call_id: string }> = [];
    while (Date.now() < deadline) {
      rows = await queryRows<{ call_id: string }>(url, 'SELECT call_id FROM calls');
      if (rows.length >= 100) break;
      await sleep(250);
    }
    expect(rows.map((row) => row.call_id).sort()).toEqual(callIds);
    const [sums] = await queryRows<{ calls: number; hourly: number }>(
      url,
      'SELECT SUM(cost_micro_usd)::float8 AS calls, (SELECT SUM(cost_micro_usd) FROM hourly_totals)::float8 AS hourly FROM calls',
    );
    // The upstream's default answer: 7 completion tokens at $100/MTok.
    expect(sums).toEqual({ calls: 100 * 700, hourly: 100 * 700 });
    for (const gateway of instances) expect((await fetch(`${gateway.base}/readyz`)).status).toBe(200);
  }, 120_000);
});
