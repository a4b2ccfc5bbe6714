import { format } from 'node:util';
import { redactSecrets } from './llm/errors.js';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

/**
 * Warn by default: a host shows the server's stderr to people (Claude Code's MCP log, VS Code's
 * output panel), so a healthy server says nothing there, and nothing per call.
 */
export const DEFAULT_LOG_LEVEL: LogLevel = 'warn';

export interface Logger {
  debug(message: string): void;
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
  /**
   * Whether a line at `level` is written: a line per call is then not built at all when it would
   * be dropped (the level is fixed for the logger's life). Absent means every level is.
   */
  enabled?(level: LogLevel): boolean;
}

/**
 * The level `LLM_SERVICE_LOG_LEVEL` asks for (`error`, `warn`, `info`, `debug`, any case), and a
 * problem line when the value is none of them (then the default applies: a typo must not stop
 * the server, nor silence its warnings).
 */
/** Whether `logger` writes a line at `level` (a logger without `enabled` writes every level). */
export function logsAt(logger: Logger | undefined, level: LogLevel): logger is Logger {
  return logger !== undefined && logger.enabled?.(level) !== false;
}

export function logLevelFromEnv(env: Record<string, string | undefined>): { level: LogLevel; problem?: string } {
  const raw = env.LLM_SERVICE_LOG_LEVEL?.trim();
  if (raw === undefined || raw === '') return { level: DEFAULT_LOG_LEVEL };
  const level = raw.toLowerCase();
  if (Object.hasOwn(ORDER, level)) return { level: level as LogLevel };
  return {
    level: DEFAULT_LOG_LEVEL,
    problem: `LLM_SERVICE_LOG_LEVEL='${raw.slice(0, 40)}' is not one of error, warn, info, debug; logging at ${DEFAULT_LOG_LEVEL}`,
  };
}

/**
 * A logger that writes one line per message to stderr (stdout is the MCP channel) and scrubs
 * every known API key from each line before it leaves the process.
 */
export function createLogger(options: { secrets?: string[]; level?: LogLevel; write?: (line: string) => void } = {}): Logger {
  const threshold = ORDER[options.level ?? DEFAULT_LOG_LEVEL];
  const write = options.write ?? ((line: string) => process.stderr.write(line));
  const secrets = options.secrets ?? [];
  const log = (level: LogLevel, message: string): void => {
    if (ORDER[level] < threshold) return;
    write(`[llm-service-mcp] ${level}: ${redactSecrets(message, secrets)}\n`);
  };
  return {
    debug: (m) => log('debug', m),
    info: (m) => log('info', m),
    warn: (m) => log('warn', m),
    error: (m) => log('error', m),
    enabled: (level) => ORDER[level] >= threshold,
  };
}

// Distinct warnings remembered, at most: enough for every model's deprecation notice.
const MAX_REMEMBERED_WARNINGS = 200;

/**
 * Sends what libraries print with `console.*` through the logger: `console.log` would otherwise
 * write to stdout, the protocol channel, and a provider SDK warns with `console.warn` on every
 * call (the Anthropic SDK, for a model near its end of life). A warning is logged at warn level
 * the first time its text appears, then at debug, so stderr is not a per-call stream. Returns
 * a function that restores the console.
 */
export function routeConsoleToLogger(logger: Logger, target: Console = console): () => void {
  const saved = { log: target.log, info: target.info, debug: target.debug, warn: target.warn, error: target.error };
  const seen = new Set<string>();
  const line = (args: unknown[]): string => format(...args).replace(/\s*\n\s*/g, ' ');
  target.log = (...args: unknown[]) => logger.debug(line(args));
  target.info = (...args: unknown[]) => logger.debug(line(args));
  target.debug = (...args: unknown[]) => logger.debug(line(args));
  target.warn = (...args: unknown[]) => {
    const text = line(args);
    // Past the cap, new texts go to debug too: stderr must stay quiet whatever a library does.
    if (seen.has(text) || seen.size >= MAX_REMEMBERED_WARNINGS) return logger.debug(text);
    seen.add(text);
    logger.warn(text);
  };
  target.error = (...args: unknown[]) => logger.error(line(args));
  return () => Object.assign(target, saved);
}
