/**
 * Every usage shape billed as the provider bills it (issue #10), end to end: a real MCP Client
 * calls `chat` against the loopback upstream speaking each wire, and the cost is checked in three
 * places — the chat result, the ledger row and `get_cost`.
 *
 * Each expected value is computed here from the provider's published formula and the catalog
 * price restated below (the registry test pins the catalog to the same numbers), never from
 * src/ledger/cost.ts.
 */
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { harnessPerTest, resultText } from '../support/harness.js';
import type { Reply } from '../support/upstream.js';
import { useUpstream } from '../support/use-upstream.js';

/** USD per million tokens: input, output, cache read, 5-minute and 1-hour cache write, DashScope explicit cache hit. */
interface Price {
  input: number;
  output: number;
  cached: number;
  write5m?: number;
  write1h?: number;
  explicitHit?: number;
}

const PRICE = {
  'gpt-4o-mini': { input: 0.15, output: 0.6, cached: 0.075 },
  'o4-mini': { input: 1.1, output: 4.4, cached: 0.275 },
  'gpt-5': { input: 1.25, output: 10, cached: 0.125 },
  'gpt-5.4': { input: 2.5, output: 15, cached: 0.25 },
  // OpenAI: a gpt-5.4 call with more than 272K input tokens is billed 2x input and cache, 1.5x output.
  'gpt-5.4 above 272K': { input: 5, output: 22.5, cached: 0.5 },
  // Anthropic: cache read 0.1x input, 5-minute write 1.25x, 1-hour write 2x.
  'claude-sonnet-4-5': { input: 3, output: 15, cached: 0.3, write5m: 3.75, write1h: 6 },
  // Anthropic long context (more than 200K input tokens): 2x input and every cache price, 1.5x output.
  'claude-sonnet-4-5 above 200K': { input: 6, output: 22.5, cached: 0.6, write5m: 7.5, write1h: 12 },
  'claude-haiku-4-5': { input: 1, output: 5, cached: 0.1, write5m: 1.25, write1h: 2 },
  'claude-opus-5-5': { input: 4, output: 20, cached: 0.2, write5m: 5, write1h: 8 },
  // DeepSeek off-peak; peak (weekdays 01-04 and 06-10 UTC) is 2x.
  'deepseek-flash': { input: 0.15, output: 0.6, cached: 0.003 },
  'deepseek-v4-pro': { input: 0.66, output: 1.98, cached: 0.022 },
  // DashScope (context-cache page): implicit cache hit 20% of input; explicit cache creation 125%,
  // explicit cache hit 10%.
  'qwen-turbo': { input: 0.05, output: 0.2, cached: 0.01, write5m: 0.0625, explicitHit: 0.005 },
  'qwen-plus': { input: 0.4, output: 1.2, cached: 0.08, write5m: 0.5, explicitHit: 0.04 },
  'qwen-max': { input: 1.6, output: 6.4, cached: 0.32, write5m: 2, explicitHit: 0.16 },
} satisfies Record<string, Price>;

interface Tokens {
  uncached?: number;
  cached?: number;
  /** DashScope explicit cache hits (the request carried cache_control markers). */
  explicitHit?: number;
  write5m?: number;
  write1h?: number;
  output: number;
}

/** The published formula: each token class times its price per million, summed, in micro-dollars, rounded once. */
function bill(price: Price, t: Tokens, multiplier = 1): number {
  const sum =
    (t.uncached ?? 0) * price.input +
    (t.cached ?? 0) * price.cached +
    (t.explicitHit ?? 0) * (price.explicitHit ?? price.cached) +
    (t.write5m ?? 0) * (price.write5m ?? price.input) +
    (t.write1h ?? 0) * (price.write1h ?? price.input) +
    t.output * price.output;
  return Math.round(sum * multiplier);
}

// A Wednesday: noon is off-peak for DeepSeek, 02:30 is peak; the Saturday 02:30 is off-peak.
const WEEKDAY_NOON = '2026-11-25T12:00:00.000Z';
const WEEKDAY_PEAK = '2026-11-25T02:30:00.000Z';
const SATURDAY_PEAK_HOUR = '2026-11-28T02:30:00.000Z';

interface Shape {
  name: string;
  model: string;
  /** Streamed (the host asked for progress) or one JSON answer. */
  stream: boolean;
  /** One reply per attempt, in order. */
  reply: Reply | Reply[];
  /** The call's start; default a weekday noon. */
  at?: string;
  args?: Record<string, unknown>;
  /** Micro-dollars, or null where nobody can know the bill. */
  micro: number | null;
  /** The model has no price (counted as unpriced); other null bills are unknown cost. */
  unpriced?: boolean;
  /** The call fails (the tool result is an error), but the ledger still records what was billed. */
  fails?: boolean;
  /** Ledger columns to check besides the cost. */
  row?: Record<string, unknown>;
  /** One ledger row per model tried (fallbacks), each with its cost; default one row of `micro`. */
  rows?: Array<number | null>;
  /** The host cancels the call this long after its request reached the provider. */
  cancelAfterMs?: number;
}

const big = (n: number) => n; // readability: token counts as written by the providers

const SHAPES: Shape[] = [
  // OpenAI: prompt_tokens includes cached_tokens; reasoning_tokens are inside completion_tokens.
  {
    name: 'OpenAI plain',
    model: 'gpt-4o-mini',
    stream: false,
    reply: { kind: 'openai', usage: { prompt_tokens: 1200, completion_tokens: 300 } },
    micro: bill(PRICE['gpt-4o-mini'], { uncached: 1200, output: 300 }),
  },
  {
    name: 'OpenAI cached tokens',
    model: 'gpt-4o-mini',
    stream: false,
    reply: { kind: 'openai', usage: { prompt_tokens: 5000, cached_tokens: 4096, completion_tokens: 100 } },
    micro: bill(PRICE['gpt-4o-mini'], { uncached: 904, cached: 4096, output: 100 }),
    row: { cached_tokens: 4096 },
  },
  {
    name: 'OpenAI reasoning tokens billed once, with cache',
    model: 'o4-mini',
    stream: false,
    // Before OpenAI shut o4-mini down on 2026-10-23 (a Wednesday, off-peak).
    at: '2026-10-21T12:00:00.000Z',
    reply: { kind: 'openai', usage: { prompt_tokens: 20_000, cached_tokens: 19_200, completion_tokens: 1500, reasoning_tokens: 1200 } },
    micro: bill(PRICE['o4-mini'], { uncached: 800, cached: 19_200, output: 1500 }),
    row: { reasoning_tokens: 1200 },
  },
  {
    name: 'OpenAI streamed, usage in the final chunk',
    model: 'gpt-4o-mini',
    stream: true,
    reply: { kind: 'openai', usage: { prompt_tokens: 3000, cached_tokens: 1024, completion_tokens: 250 } },
    micro: bill(PRICE['gpt-4o-mini'], { uncached: 1976, cached: 1024, output: 250 }),
  },
  {
    name: 'OpenAI streamed reasoning model, cache and reasoning in the final chunk',
    model: 'gpt-5',
    stream: true,
    reply: { kind: 'openai', usage: { prompt_tokens: 50_000, cached_tokens: 40_000, completion_tokens: 5000, reasoning_tokens: 4000 } },
    micro: bill(PRICE['gpt-5'], { uncached: 10_000, cached: 40_000, output: 5000 }),
  },
  {
    name: 'gpt-5.4 at exactly 272K input: base tier',
    model: 'gpt-5.4',
    stream: false,
    reply: { kind: 'openai', usage: { prompt_tokens: big(272_000), cached_tokens: 100_000, completion_tokens: 2000 } },
    micro: bill(PRICE['gpt-5.4'], { uncached: 172_000, cached: 100_000, output: 2000 }),
  },
  {
    name: 'gpt-5.4 above 272K input: the whole call at the higher tier',
    model: 'gpt-5.4',
    stream: false,
    reply: { kind: 'openai', usage: { prompt_tokens: big(272_001), cached_tokens: 100_000, completion_tokens: 2000 } },
    micro: bill(PRICE['gpt-5.4 above 272K'], { uncached: 172_001, cached: 100_000, output: 2000 }),
    row: { input_price_per_mtok: 5, cached_input_price_per_mtok: 0.5, output_price_per_mtok: 22.5 },
  },
  {
    name: 'gpt-5.4 above 272K, streamed',
    model: 'gpt-5.4',
    stream: true,
    reply: { kind: 'openai', usage: { prompt_tokens: big(400_000), completion_tokens: 1000 } },
    micro: bill(PRICE['gpt-5.4 above 272K'], { uncached: 400_000, output: 1000 }),
  },
  {
    name: 'OpenAI stream cut after text, before its usage chunk: unknown',
    model: 'gpt-4o-mini',
    stream: true,
    reply: { kind: 'openai', chunks: ['partial ', 'answer ', 'cut'], cutAfterChunks: 2 },
    micro: null,
    fails: true,
  },
  // Anthropic: input_tokens excludes cache reads and writes; cache_creation splits the writes.
  {
    name: 'Anthropic JSON: cache read and 5-minute write (total only, no split)',
    model: 'claude-sonnet-4-5',
    stream: false,
    reply: { kind: 'anthropic', usage: { input_tokens: 1000, cache_read_input_tokens: 50_000, cache_creation_input_tokens: 10_000, output_tokens: 800 } },
    micro: bill(PRICE['claude-sonnet-4-5'], { uncached: 1000, cached: 50_000, write5m: 10_000, output: 800 }),
    row: { prompt_tokens: 61_000, cached_tokens: 50_000, cache_write_tokens: 10_000, cache_write_1h_tokens: 0 },
  },
  {
    name: 'Anthropic JSON: 5-minute and 1-hour writes split',
    model: 'claude-sonnet-4-5',
    stream: false,
    reply: {
      kind: 'anthropic',
      usage: {
        input_tokens: 500,
        cache_read_input_tokens: 2000,
        cache_creation_input_tokens: 9000,
        cache_creation: { ephemeral_5m_input_tokens: 3000, ephemeral_1h_input_tokens: 6000 },
        output_tokens: 400,
      },
    },
    micro: bill(PRICE['claude-sonnet-4-5'], { uncached: 500, cached: 2000, write5m: 3000, write1h: 6000, output: 400 }),
    row: { cache_write_tokens: 9000, cache_write_1h_tokens: 6000, cache_write_price_per_mtok: 3.75, cache_write_1h_price_per_mtok: 6 },
  },
  {
    name: 'Anthropic JSON: 1-hour writes only',
    model: 'claude-haiku-4-5',
    stream: false,
    reply: {
      kind: 'anthropic',
      usage: { input_tokens: 20, cache_creation_input_tokens: 4096, cache_creation: { ephemeral_5m_input_tokens: 0, ephemeral_1h_input_tokens: 4096 }, output_tokens: 50 },
    },
    micro: bill(PRICE['claude-haiku-4-5'], { uncached: 20, write1h: 4096, output: 50 }),
    row: { cache_write_1h_tokens: 4096 },
  },
  {
    name: 'Anthropic streamed: input and split writes in message_start, output in message_delta',
    model: 'claude-sonnet-4-5',
    stream: true,
    reply: {
      kind: 'anthropic',
      usage: {
        input_tokens: 700,
        cache_read_input_tokens: 12_000,
        cache_creation_input_tokens: 5000,
        cache_creation: { ephemeral_5m_input_tokens: 1000, ephemeral_1h_input_tokens: 4000 },
        output_tokens: 900,
      },
    },
    micro: bill(PRICE['claude-sonnet-4-5'], { uncached: 700, cached: 12_000, write5m: 1000, write1h: 4000, output: 900 }),
    row: { cache_write_1h_tokens: 4000, completion_tokens: 900 },
  },
  {
    name: 'Anthropic streamed: message_delta repeats the input totals',
    model: 'claude-haiku-4-5',
    stream: true,
    reply: { kind: 'anthropic', fullDeltaUsage: true, usage: { input_tokens: 300, cache_read_input_tokens: 8000, cache_creation_input_tokens: 2000, output_tokens: 640 } },
    micro: bill(PRICE['claude-haiku-4-5'], { uncached: 300, cached: 8000, write5m: 2000, output: 640 }),
  },
  {
    name: 'Anthropic long context: above 200K input, the whole call at the long-context rates',
    model: 'claude-sonnet-4-5',
    stream: false,
    reply: {
      kind: 'anthropic',
      usage: {
        input_tokens: 150_000,
        cache_read_input_tokens: 40_000,
        cache_creation_input_tokens: 20_000,
        cache_creation: { ephemeral_5m_input_tokens: 5000, ephemeral_1h_input_tokens: 15_000 },
        output_tokens: 3000,
      },
    },
    micro: bill(PRICE['claude-sonnet-4-5 above 200K'], { uncached: 150_000, cached: 40_000, write5m: 5000, write1h: 15_000, output: 3000 }),
  },
  {
    name: 'Anthropic at exactly 200K input: standard rates',
    model: 'claude-sonnet-4-5',
    stream: false,
    reply: { kind: 'anthropic', usage: { input_tokens: 160_000, cache_read_input_tokens: 40_000, output_tokens: 1000 } },
    micro: bill(PRICE['claude-sonnet-4-5'], { uncached: 160_000, cached: 40_000, output: 1000 }),
  },
  {
    name: 'Anthropic Opus 5.5 streamed: cache read at its own price (0.05x input)',
    model: 'claude-opus-5-5',
    stream: true,
    reply: { kind: 'anthropic', usage: { input_tokens: 100, cache_read_input_tokens: 30_000, output_tokens: 2000 } },
    micro: bill(PRICE['claude-opus-5-5'], { uncached: 100, cached: 30_000, output: 2000 }),
  },
  {
    name: 'Anthropic stream cut after message_start: the tokens it reported are billed',
    model: 'claude-haiku-4-5',
    stream: true,
    // The fake reports min(1, output) output tokens in message_start, as the API does.
    reply: { kind: 'anthropic', chunks: ['par', 'tial', ' answer'], cutAfterChunks: 1, usage: { input_tokens: 2000, cache_read_input_tokens: 1000, output_tokens: 50 } },
    micro: bill(PRICE['claude-haiku-4-5'], { uncached: 2000, cached: 1000, output: 1 }),
    fails: true,
  },
  // DeepSeek: prompt_cache_hit_tokens at the cache-hit price, the rest at the miss price; peak 2x.
  {
    name: 'DeepSeek cache hit and miss, off-peak',
    model: 'deepseek-flash',
    stream: false,
    reply: { kind: 'openai', usage: { prompt_tokens: 3000, completion_tokens: 400, extra: { prompt_cache_hit_tokens: 2944, prompt_cache_miss_tokens: 56 } } },
    micro: bill(PRICE['deepseek-flash'], { uncached: 56, cached: 2944, output: 400 }),
    row: { cached_tokens: 2944, input_price_per_mtok: 0.15 },
  },
  {
    name: 'DeepSeek in the weekday peak window: twice the price',
    model: 'deepseek-flash',
    stream: false,
    at: WEEKDAY_PEAK,
    reply: { kind: 'openai', usage: { prompt_tokens: 3000, completion_tokens: 400, extra: { prompt_cache_hit_tokens: 2944, prompt_cache_miss_tokens: 56 } } },
    micro: bill(PRICE['deepseek-flash'], { uncached: 56, cached: 2944, output: 400 }, 2),
    row: { input_price_per_mtok: 0.3, output_price_per_mtok: 1.2, cached_input_price_per_mtok: 0.006 },
  },
  {
    name: 'DeepSeek at a peak hour on a Saturday: off-peak',
    model: 'deepseek-v4-pro',
    stream: false,
    at: SATURDAY_PEAK_HOUR,
    reply: { kind: 'openai', usage: { prompt_tokens: 10_000, completion_tokens: 1000, extra: { prompt_cache_hit_tokens: 0, prompt_cache_miss_tokens: 10_000 } } },
    micro: bill(PRICE['deepseek-v4-pro'], { uncached: 10_000, output: 1000 }),
  },
  {
    name: 'DeepSeek streamed via the retired name deepseek-chat, usage on the finish chunk',
    model: 'deepseek-chat',
    stream: true,
    reply: { kind: 'openai', includeUsage: 'with-finish', usage: { prompt_tokens: 5000, completion_tokens: 700, extra: { prompt_cache_hit_tokens: 4800, prompt_cache_miss_tokens: 200 } } },
    micro: bill(PRICE['deepseek-flash'], { uncached: 200, cached: 4800, output: 700 }),
    row: { model: 'deepseek-flash', provider_model: 'deepseek-flash' },
  },
  {
    name: 'DeepSeek reasoning tokens are part of completion_tokens, peak',
    model: 'deepseek-v4-pro',
    stream: false,
    at: WEEKDAY_PEAK,
    reply: { kind: 'openai', usage: { prompt_tokens: 100, completion_tokens: 2000, reasoning_tokens: 1800, extra: { prompt_cache_hit_tokens: 0, prompt_cache_miss_tokens: 100 } } },
    micro: bill(PRICE['deepseek-v4-pro'], { uncached: 100, output: 2000 }, 2),
  },
  // Qwen (DashScope compatible mode).
  {
    name: 'Qwen implicit cache hit: 20% of the input price',
    model: 'qwen-turbo',
    stream: false,
    reply: { kind: 'openai', usage: { prompt_tokens: 10_000, cached_tokens: 6000, completion_tokens: 1000 } },
    micro: bill(PRICE['qwen-turbo'], { uncached: 4000, cached: 6000, output: 1000 }),
  },
  {
    name: 'Qwen explicit cache creation: 125% of the input price',
    model: 'qwen-plus',
    stream: false,
    reply: {
      kind: 'openai',
      usage: {
        prompt_tokens: 8000,
        completion_tokens: 500,
        extra: { prompt_tokens_details: { text_tokens: 8000, cached_tokens: 0, cache_creation_input_tokens: 6000, cache_creation: { ephemeral_5m_input_tokens: 6000 }, cache_type: 'ephemeral' } },
      },
    },
    micro: bill(PRICE['qwen-plus'], { uncached: 2000, write5m: 6000, output: 500 }),
    row: { cache_write_tokens: 6000 },
  },
  {
    // The context-cache page's second response: the explicit cache is hit (cache_type still says so).
    name: 'Qwen explicit cache hit: 10% of the input price, not the implicit 20%',
    model: 'qwen-plus',
    stream: false,
    reply: {
      kind: 'openai',
      usage: {
        prompt_tokens: 18_628,
        completion_tokens: 445,
        extra: { prompt_tokens_details: { text_tokens: 18_628, cache_creation_input_tokens: 0, cache_type: 'ephemeral', cached_tokens: 18_613 } },
      },
    },
    micro: bill(PRICE['qwen-plus'], { uncached: 15, explicitHit: 18_613, output: 445 }),
    // The row keeps the price the hits were billed at.
    row: { cached_tokens: 18_613, cached_input_price_per_mtok: 0.04 },
  },
  {
    name: 'Qwen explicit cache hit and a new cache block in one request',
    model: 'qwen-max',
    stream: false,
    reply: {
      kind: 'openai',
      usage: {
        prompt_tokens: 1524,
        completion_tokens: 1534,
        extra: {
          prompt_tokens_details: { cache_creation: { ephemeral_5m_input_tokens: 213 }, cache_creation_input_tokens: 213, cache_type: 'ephemeral', cached_tokens: 1305 },
          completion_tokens_details: { reasoning_tokens: 1187 },
        },
      },
    },
    micro: bill(PRICE['qwen-max'], { uncached: 6, explicitHit: 1305, write5m: 213, output: 1534 }),
    row: { cached_tokens: 1305, cache_write_tokens: 213, cached_input_price_per_mtok: 0.16, cache_write_price_per_mtok: 2 },
  },
  {
    name: 'Qwen explicit cache hit, streamed: cache_type in the final chunk',
    model: 'qwen-turbo',
    stream: true,
    reply: {
      kind: 'openai',
      usage: { prompt_tokens: 5000, completion_tokens: 200, extra: { prompt_tokens_details: { cached_tokens: 4096, cache_creation_input_tokens: 0, cache_type: 'ephemeral' } } },
    },
    micro: bill(PRICE['qwen-turbo'], { uncached: 904, explicitHit: 4096, output: 200 }),
  },
  {
    // Implicit hits carry no cache_type: the page's implicit example.
    name: 'Qwen implicit cache hit without cache_type stays at 20%',
    model: 'qwen-plus',
    stream: false,
    reply: { kind: 'openai', usage: { prompt_tokens: 15_365, completion_tokens: 1, extra: { prompt_tokens_details: { cached_tokens: 15_232 } } } },
    micro: bill(PRICE['qwen-plus'], { uncached: 133, cached: 15_232, output: 1 }),
    row: { cached_input_price_per_mtok: 0.08 },
  },
  {
    name: 'Qwen streamed with cached tokens in the final chunk',
    model: 'qwen-max',
    stream: true,
    reply: { kind: 'openai', usage: { prompt_tokens: 3000, cached_tokens: 2048, completion_tokens: 300 } },
    micro: bill(PRICE['qwen-max'], { uncached: 952, cached: 2048, output: 300 }),
  },
  // Unknown prices: null, never $0.
  {
    name: 'A model without a price (provider:model): unknown',
    unpriced: true,
    model: 'openai:gpt-4.1-nano',
    stream: false,
    reply: { kind: 'openai', usage: { prompt_tokens: 100, completion_tokens: 10 } },
    micro: null,
  },
  {
    name: 'A stream whose provider sent no usage at all: unknown',
    model: 'gpt-4o-mini',
    stream: true,
    reply: { kind: 'openai', includeUsage: false },
    micro: null,
  },
  // Retries and fallbacks after a billed attempt: every attempt's reported tokens are billed.
  {
    name: 'Retry after a billed attempt: the stream cut after message_start is billed, then the retry',
    model: 'claude-haiku-4-5',
    stream: true,
    reply: [
      { kind: 'anthropic', cutAfterChunks: 0, usage: { input_tokens: 4000, cache_read_input_tokens: 1000, output_tokens: 30 } },
      { kind: 'anthropic', usage: { input_tokens: 4000, cache_read_input_tokens: 1000, output_tokens: 300 } },
    ],
    // The cut attempt reported message_start's usage: its input, cache reads and 1 output token.
    micro:
      bill(PRICE['claude-haiku-4-5'], { uncached: 4000, cached: 1000, output: 1 }) +
      bill(PRICE['claude-haiku-4-5'], { uncached: 4000, cached: 1000, output: 300 }),
    row: { attempts: 2, prompt_tokens: 10_000, completion_tokens: 301 },
  },
  {
    name: 'Fallback after billed attempts: the first model keeps its bill on its own row',
    model: 'claude-sonnet-4-5',
    stream: true,
    args: { fallback_models: ['gpt-4o-mini'] },
    reply: [
      { kind: 'anthropic', cutAfterChunks: 0, usage: { input_tokens: 1000, cache_creation_input_tokens: 2000, cache_creation: { ephemeral_5m_input_tokens: 0, ephemeral_1h_input_tokens: 2000 }, output_tokens: 9 } },
      { kind: 'anthropic', cutAfterChunks: 0, usage: { input_tokens: 1000, cache_read_input_tokens: 2000, output_tokens: 9 } },
      { kind: 'anthropic', cutAfterChunks: 0, usage: { input_tokens: 1000, cache_read_input_tokens: 2000, output_tokens: 9 } },
      { kind: 'openai', usage: { prompt_tokens: 3000, completion_tokens: 200 } },
    ],
    rows: [
      bill(PRICE['claude-sonnet-4-5'], { uncached: 1000, write1h: 2000, output: 1 }) + 2 * bill(PRICE['claude-sonnet-4-5'], { uncached: 1000, cached: 2000, output: 1 }),
      bill(PRICE['gpt-4o-mini'], { uncached: 3000, output: 200 }),
    ],
    micro:
      bill(PRICE['claude-sonnet-4-5'], { uncached: 1000, write1h: 2000, output: 1 }) +
      2 * bill(PRICE['claude-sonnet-4-5'], { uncached: 1000, cached: 2000, output: 1 }) +
      bill(PRICE['gpt-4o-mini'], { uncached: 3000, output: 200 }),
  },
  // Cancellation by the host.
  {
    name: 'Cancelled while streaming, after message_start: the tokens it reported are billed',
    model: 'claude-opus-5-5',
    stream: true,
    reply: { kind: 'anthropic', chunks: ['a', 'b', 'c'], stallAfterChunks: 1, usage: { input_tokens: 500, cache_read_input_tokens: 20_000, output_tokens: 40 } },
    cancelAfterMs: 150,
    micro: bill(PRICE['claude-opus-5-5'], { uncached: 500, cached: 20_000, output: 1 }),
    fails: true,
    row: { status: 'cancelled' },
  },
  {
    name: 'Cancelled while a JSON answer was being made: nobody can know the bill',
    model: 'gpt-4o-mini',
    stream: false,
    reply: { kind: 'hang' },
    cancelAfterMs: 150,
    micro: null,
    fails: true,
    row: { status: 'cancelled' },
  },
];

const upstream = useUpstream();
const start = harnessPerTest();

function rowsOf(dbPath: string): Array<Record<string, any>> {
  const db = new Database(dbPath, { readonly: true });
  try {
    return db.prepare('SELECT * FROM calls ORDER BY id').all() as Array<Record<string, any>>;
  } finally {
    db.close();
  }
}

describe('every usage shape is billed as the provider bills it: chat result, ledger row and get_cost agree', () => {
  it('has at least 25 shapes', () => {
    expect(SHAPES.length).toBeGreaterThanOrEqual(25);
  });

  it.each(SHAPES.map((shape) => [shape.name, shape] as const))('%s', async (_name, shape) => {
    const at = Date.parse(shape.at ?? WEEKDAY_NOON);
    // The clock stands still at the call's start: peak hours are decided by it.
    const h = await start({ upstream, now: () => at });
    const before = upstream.requests.length;
    upstream.enqueue(...(Array.isArray(shape.reply) ? shape.reply : [shape.reply]));
    const args = { prompt: 'price me', model: shape.model, ...shape.args };
    const controller = new AbortController();
    const options = { ...(shape.stream ? { onprogress: () => undefined } : {}), signal: controller.signal };
    const call = h.callTool('chat', args, options);
    const usd = shape.micro === null ? null : shape.micro / 1e6;
    const expectedRows = shape.rows ?? [shape.micro];

    if (shape.cancelAfterMs !== undefined) {
      await upstream.waitForRequests(before + 1);
      await new Promise((resolve) => setTimeout(resolve, shape.cancelAfterMs));
      controller.abort();
      await expect(call).rejects.toThrow();
      // The row is written once the cancelled call has unwound: wait for it (bounded).
      for (let i = 0; i < 100 && rowsOf(h.dbPath).length < expectedRows.length; i++) await new Promise((resolve) => setTimeout(resolve, 20));
    } else {
      const result = await call;
      if (shape.fails) {
        expect(result.isError, resultText(result)).toBe(true);
      } else {
        expect(result.isError, resultText(result)).toBeFalsy();
        expect((result.structuredContent as { cost_usd: number | null }).cost_usd).toBe(usd);
      }
    }

    const rows = rowsOf(h.dbPath);
    expect(rows.map((row) => row.cost_micro_usd)).toEqual(expectedRows);
    if (shape.row) expect(rows[0]).toMatchObject(shape.row);

    const report = await h.callTool('get_cost', { group_by: 'none' });
    expect(report.isError, resultText(report)).toBeFalsy();
    const total = (report.structuredContent as { total: { cost_usd: number; unpriced_calls: number; unknown_cost_calls: number } }).total;
    expect(total.cost_usd).toBe(usd ?? 0);
    // No price and an unknown bill are counted apart (SPEC §4: unpriced_calls, unknown_cost_calls).
    expect(total.unpriced_calls).toBe(shape.unpriced ? 1 : 0);
    expect(total.unknown_cost_calls).toBe(shape.micro === null && !shape.unpriced ? 1 : 0);
  });

});
