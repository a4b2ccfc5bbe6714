#!/usr/bin/env node
/**
 * What-if for the benchmarks only: runs the built `dist/cli.js` unchanged, except that the
 * ledger it opens is switched from the shipped `synchronous = NORMAL` to `synchronous = FULL`
 * (still WAL): one fsync of the WAL per recorded call, so a row survives an OS crash or power cut
 * too, not only a kill of the server. Side by side with the real `dist/cli.js`, it shows what that
 * stronger guarantee would cost per call. Never used by the product.
 */
import { SqliteLedger } from '../dist/ledger/sqlite/sqlite-ledger.js';

const open = SqliteLedger.open;
SqliteLedger.open = function openWithFullSync(...args) {
  const ledger = open.apply(this, args);
  // `db` is TypeScript-private, but a plain property at run time.
  ledger.db.pragma('synchronous = FULL');
  if (ledger.db.pragma('synchronous', { simple: true }) !== 2) throw new Error('cli-sync-full: synchronous = FULL did not take');
  return ledger;
};

await import('../dist/cli.js');
