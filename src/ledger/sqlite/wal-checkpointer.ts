/**
 * WAL checkpoints off the calls' path, for a server. SQLite's automatic checkpoint runs inside the
 * commit that fills the WAL past 1,000 pages: with ~12 pages a call, about one call in 80 copied
 * ~1,000 pages into the database file and fsynced it before answering, 5–14 ms on this machine
 * (BENCHMARKS.md, http section): the gateway's p99. Here a worker thread with its own connection
 * runs `PRAGMA wal_checkpoint(PASSIVE)` every `intervalMs`, so no commit has to; a PASSIVE
 * checkpoint never waits for, nor blocks, a writer or a reader.
 *
 * Durability is unchanged: a commit is in the `-wal` file when record() returns, as before; only
 * when its pages are copied into the main file moves. The main connection keeps a far automatic
 * checkpoint as a backstop, and goes back to SQLite's default if the worker fails.
 */
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

// CommonJS run by the worker (eval), so it loads from src/ under the tests and from dist/ alike.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.path, { fileMustExist: true, timeout: 0 });
db.pragma('synchronous = NORMAL');
const timer = setInterval(() => {
  try {
    db.pragma('wal_checkpoint(PASSIVE)');
  } catch (error) {
    // Busy or locked: the next tick tries again.
  }
}, workerData.intervalMs);
parentPort.on('message', () => {
  clearInterval(timer);
  db.close();
  parentPort.close();
});
`;

const STOP_WAIT_MS = 2_000;

export interface WalCheckpointer {
  /** Stops the worker (its connection closes first); resolves once it is gone. */
  stop(): Promise<void>;
}

/** Starts the worker for the database at `path`; `onFailure` runs once if it dies on its own. */
export function startWalCheckpointer(path: string, intervalMs: number, onFailure: (error: Error) => void): WalCheckpointer {
  const driver = createRequire(import.meta.url).resolve('better-sqlite3');
  const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { path, intervalMs, driver } });
  // A server's ledger must not keep a process alive that is otherwise done.
  worker.unref();
  let stopping = false;
  const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
  worker.once('error', (error) => {
    if (!stopping) onFailure(error);
  });
  void exited.then(() => {
    if (!stopping) onFailure(new Error('the WAL checkpoint worker exited'));
  });
  return {
    stop: async () => {
      if (stopping) return exited;
      stopping = true;
      worker.postMessage('stop');
      const timer = setTimeout(() => void worker.terminate(), STOP_WAIT_MS);
      await exited;
      clearTimeout(timer);
    },
  };
}
