import { Ledger } from '../dist/ledger/ledger.js';
import Database from 'better-sqlite3';
import { rmSync } from 'node:fs';
const f = '/tmp/bp/c.db';
for (const s of ['', '-wal', '-shm']) rmSync(f + s, { force: true });
Ledger.open(f).close();
const db = new Database(f);
db.pragma('synchronous = OFF');
let t = performance.now();
const now = Date.now();
db.prepare(`
WITH RECURSIVE c(x) AS (SELECT 0 UNION ALL SELECT x + 1 FROM c LIMIT ?)
INSERT INTO calls (call_id, session_id, started_at, model, provider, provider_model, prompt_tokens, completion_tokens,
  cached_tokens, cache_write_tokens, reasoning_tokens, cost_micro_usd, input_price_per_mtok, output_price_per_mtok,
  latency_ms, attempts, status, finish_reason, error, raw_usage)
SELECT printf('%08x-bench-call-%012d', x, x), printf('session-%06d', x / 1000),
  strftime('%Y-%m-%dT%H:%M:%fZ', (? - x * ?) / 1000.0, 'unixepoch'),
  CASE x % 8 WHEN 0 THEN 'gpt-4o-mini' WHEN 1 THEN 'gpt-4.1' WHEN 2 THEN 'claude-sonnet-4' WHEN 3 THEN 'claude-haiku-3.5' WHEN 4 THEN 'deepseek-chat' WHEN 5 THEN 'qwen-plus' WHEN 6 THEN 'gpt-4.1-nano' ELSE 'o4-mini' END,
  CASE x % 8 WHEN 0 THEN 'openai' WHEN 1 THEN 'openai' WHEN 2 THEN 'anthropic' WHEN 3 THEN 'anthropic' WHEN 4 THEN 'deepseek' WHEN 5 THEN 'qwen' WHEN 6 THEN 'openai' ELSE 'openai' END,
  'provider-model-2025-01-01', 100 + x % 2000, 10 + x % 700, x % 50, 0, 0,
  CASE WHEN x % 97 = 0 THEN NULL ELSE 50 + x % 5000 END, 0.15, 0.6, 300 + x % 4000, 1,
  CASE WHEN x % 33 = 0 THEN 'error' ELSE 'ok' END, CASE WHEN x % 33 = 0 THEN NULL ELSE 'stop' END,
  CASE WHEN x % 33 = 0 THEN 'openai: 503 Service Unavailable (upstream overloaded)' ELSE NULL END,
  '{"prompt_tokens":' || (100 + x % 2000) || ',"completion_tokens":' || (10 + x % 700) || ',"total_tokens":0}'
FROM c`).run(1_000_000, now, 2592);
console.log('insert', performance.now() - t); 
db.close();
const l = Ledger.open(f);
for (const g of ['model', 'provider', 'day', 'none']) {
  for (let i = 0; i < 3; i++) { t = performance.now(); const r = l.report({ groupBy: g }); console.log(g, (performance.now() - t).toFixed(1), r.total.calls, r.groups.length); }
}
t = performance.now(); l.report({ groupBy: 'model', since: now - 7 * 86400000 }); console.log('7d model', performance.now() - t);
t = performance.now(); l.report({ groupBy: 'day', since: now - 30 * 86400000 }); console.log('30d day', performance.now() - t);
t = performance.now(); l.report({ groupBy: 'model', model: 'gpt-4.1' }); console.log('model filter', performance.now() - t);
