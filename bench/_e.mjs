import Database from 'better-sqlite3';
const db = new Database('/tmp/bp/c.db', { readonly: true });
const T = `COUNT(*) AS calls, COALESCE(SUM(status <> 'ok'), 0), COALESCE(SUM(prompt_tokens), 0), COALESCE(SUM(completion_tokens), 0), COALESCE(SUM(cost_micro_usd), 0), COALESCE(SUM(cost_micro_usd IS NULL), 0)`;
const q = {
  total: `SELECT '' AS key, ${T} FROM calls`,
  model: `SELECT model AS key, ${T} FROM calls GROUP BY key ORDER BY 6 DESC`,
  modelplus: `SELECT +model AS key, ${T} FROM calls GROUP BY key`,
  day: `SELECT substr(started_at,1,10) AS key, ${T} FROM calls GROUP BY key ORDER BY key`,
  session: `SELECT ${T} FROM calls WHERE session_id = 'session-000003'`,
  count: `SELECT count(*) FROM calls`,
  sumonly: `SELECT sum(prompt_tokens) FROM calls`,
  modelsince: `SELECT model AS key, ${T} FROM calls WHERE started_at >= '2026-11-19' GROUP BY key`,
};
for (const [k, s] of Object.entries(q)) {
  const plan = db.prepare('EXPLAIN QUERY PLAN ' + s).all().map((r) => r.detail).join(' | ');
  const st = db.prepare(s); st.all();
  const t = performance.now(); st.all(); 
  console.log(k.padEnd(10), (performance.now() - t).toFixed(1).padStart(8), plan);
}
