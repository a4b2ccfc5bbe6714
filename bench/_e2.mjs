import Database from 'better-sqlite3';
const T = `COUNT(*) AS calls, COALESCE(SUM(status <> 'ok'), 0), COALESCE(SUM(prompt_tokens), 0), COALESCE(SUM(completion_tokens), 0), COALESCE(SUM(cost_micro_usd), 0), COALESCE(SUM(cost_micro_usd IS NULL), 0)`;
const q = {
  total: `SELECT '' AS key, ${T} FROM calls`,
  model: `SELECT model AS key, ${T} FROM calls GROUP BY key ORDER BY 6 DESC`,
  day: `SELECT substr(started_at,1,10) AS key, ${T} FROM calls GROUP BY key ORDER BY key`,
};
for (const pr of [[], ['temp_store = MEMORY'], ['temp_store = MEMORY', 'cache_size = -65536'], ['cache_size = -65536']]) {
  const db = new Database('/tmp/bp/c.db', { readonly: true });
  for (const p of pr) db.pragma(p);
  const out = [];
  for (const [k, s] of Object.entries(q)) {
    const st = db.prepare(s); st.all();
    const t = performance.now(); st.all(); out.push(`${k} ${(performance.now() - t).toFixed(0)}`);
  }
  console.log(pr.join(',') || 'default', '|', out.join('  '));
  db.close();
}
