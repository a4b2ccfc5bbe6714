/**
 * doctor's check that better-sqlite3's native module loads. The SQLite ledger needs it, and it is
 * the one part of an install that is compiled (or downloaded prebuilt) for one Node.js version: a
 * Node upgrade or a blocked install script leaves a package that starts and then cannot record a
 * call. The loader is a parameter so the failure text can be tested without breaking the real module.
 */
import { createRequire } from 'node:module';

export interface NativeCheck {
  /** The doctor line: `native module: better-sqlite3 loads`, or the reason it does not. */
  line: string;
  /** Set when the module does not load: what to do about it (doctor prints it as a PROBLEM line). */
  problem?: string;
}

/**
 * Loads better-sqlite3 and opens an in-memory database: `require` alone only reads the JavaScript;
 * the `.node` binary is loaded when the first database is opened.
 */
export function loadBetterSqlite3(): void {
  const require = createRequire(import.meta.url);
  const Database = require('better-sqlite3') as new (file: string) => { close(): void };
  new Database(':memory:').close();
}

/** Runs the loader and describes the outcome. Never throws. */
export function checkNativeModule(load: () => void = loadBetterSqlite3, nodeVersion: string = process.versions.node): NativeCheck {
  try {
    load();
    return { line: 'native module: better-sqlite3 loads' };
  } catch (error) {
    return describeNativeFailure(error, nodeVersion);
  }
}

/** The doctor line and PROBLEM text for a better-sqlite3 that does not load. */
export function describeNativeFailure(error: unknown, nodeVersion: string): NativeCheck {
  const raw = error instanceof Error ? error.message : String(error);
  // The loader's message can span many lines (a whole node-gyp search path); the first says why.
  const reason = (raw.split('\n').find((l) => l.trim() !== '') ?? 'unknown error').trim().slice(0, 300);
  return {
    line: `native module: better-sqlite3 does NOT load (${reason})`,
    problem:
      `better-sqlite3's native module does not load on Node.js ${nodeVersion}, so the SQLite ledger cannot record calls. ` +
      'Rebuild it for this Node.js: in a clone or global install run `npm rebuild better-sqlite3` in the package directory ' +
      '(or reinstall: `npm install -g .` / `npm install -g llm-service-mcp`); for npx, delete the npx cache (`rm -rf ~/.npm/_npx`) ' +
      'and run `npx -y llm-service-mcp --version` once. Building from source needs python3, make and a C++ compiler; ' +
      'if npm blocks install scripts, allow them for better-sqlite3 (see "Installing with npm 11" in the README).',
  };
}
