import { redactSecrets } from './llm/errors.js';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface Logger {
  debug(message: string): void;
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

/**
 * A logger that writes one line per message to stderr (stdout is the MCP channel) and scrubs
 * every known API key from each line before it leaves the process.
 */
export function createLogger(options: { secrets?: string[]; level?: LogLevel; write?: (line: string) => void } = {}): Logger {
  const threshold = ORDER[options.level ?? 'info'];
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
  };
}
