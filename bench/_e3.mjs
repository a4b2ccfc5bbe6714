import Database from 'better-sqlite3';
const db = new Database('/tmp/bp/c.db', { readonly: true });
const T = `COUNT(*) AS calls, COALESCE(SUM(status <> 'ok'), 0) AS failed_calls, COALESCE(SUM(prompt_tokens), 0) AS prompt_tokens, COALESCE(SUM(completion_tokens), 0) AS completion_tokens, COALESCE(SUM(cost_micro_usd), 0) AS cost_micro_usd, COALESCE(SUM(cost_micro_usd IS NULL), 0) AS unpriced_calls`;
const q = {
  total: `SELECT '' AS key, ${T} FROM calls`,
  'model (as shipped)': `SELECT model AS key, ${T} FROM calls GROUP BY key ORDER BY cost_micro_usd DESC, calls DESC, key`,
  'model, NOT INDEXED': `SELECT model AS key, ${T} FROM calls NOT INDEXED GROUP BY key ORDER BY cost_micro_usd DESC, calls DESC, key`,
  'provider (as shipped)': `SELECT provider AS key, ${T} FROM calls GROUP BY key ORDER BY cost_micro_usd DESC, calls DESC, key`,
  'provider NOT INDEXED': `SELECT provider AS key, ${T} FROM calls NOT INDEXED GROUP BY key ORDER BY cost_micro_usd DESC, calls DESC, key`,
  'day': `SELECT substr(started_at, 1, 10) AS key, ${T} FROM calls GROUP BY key ORDER BY key`,
  'model since 7d': `SELECT model AS key, ${T} FROM calls WHERE started_at >= '2026-11-19T00:00:00.000Z' GROUP BY key ORDER BY cost_micro_usd DESC, calls DESC, key`,
  'model since 7d NOT INDEXED': `SELECT model AS key, ${T} FROM calls NOT INDEXED WHERE started_at >= '2026-11-19T00:00:00.000Z' GROUP BY key ORDER BY cost_micro_usd DESC, calls DESC, key`,
  'model since 7d INDEXED BY started_at': `SELECT model AS key, ${T} FROM calls INDEXED BY calls_started_at WHERE started_at >= '2026-11-19T00:00:00.000Z' GROUP BY key ORDER BY cost_micro_usd DESC, calls DESC, key`,
};
for (let round = 0; round < 2; round++) for (const [k, s] of Object.entries(q)) {
  const st = db.prepare(s);
  const plan = db.prepare('EXPLAIN QUERY PLAN ' + s).all().map((r) => r.detail).join(' | ');
  const t = performance.now(); st.all();
  if (round) console.log(k.padEnd(38), (performance.now() - t).toFixed(0).padStart(6), plan);
}
