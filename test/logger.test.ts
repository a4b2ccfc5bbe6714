import { describe, expect, it } from 'vitest';
import { createLogger, logLevelFromEnv, routeConsoleToLogger, type LogLevel } from '../src/logger.js';

function recorder(level?: LogLevel) {
  const lines: string[] = [];
  return { lines, logger: createLogger({ level, secrets: ['sk-secret-123456'], write: (line) => void lines.push(line) }) };
}

describe('log level', () => {
  it('is warn by default: info and debug lines are dropped', () => {
    const { lines, logger } = recorder();
    logger.debug('d');
    logger.info('i');
    logger.warn('w');
    logger.error('e');
    expect(lines).toEqual(['[llm-service-mcp] warn: w\n', '[llm-service-mcp] error: e\n']);
  });

  it('LLM_SERVICE_LOG_LEVEL picks error, warn, info or debug (any case); anything else warns and keeps warn', () => {
    expect(logLevelFromEnv({})).toEqual({ level: 'warn' });
    expect(logLevelFromEnv({ LLM_SERVICE_LOG_LEVEL: '' })).toEqual({ level: 'warn' });
    for (const level of ['error', 'warn', 'info', 'debug'] as const) {
      expect(logLevelFromEnv({ LLM_SERVICE_LOG_LEVEL: level })).toEqual({ level });
      expect(logLevelFromEnv({ LLM_SERVICE_LOG_LEVEL: ` ${level.toUpperCase()} ` })).toEqual({ level });
    }
    const bad = logLevelFromEnv({ LLM_SERVICE_LOG_LEVEL: 'verbose' });
    expect(bad.level).toBe('warn');
    expect(bad.problem).toBe("LLM_SERVICE_LOG_LEVEL='verbose' is not one of error, warn, info, debug; logging at warn");
  });

  it('each level shows itself and the levels above it', () => {
    const shown = (level: LogLevel) => {
      const { lines, logger } = recorder(level);
      for (const l of ['debug', 'info', 'warn', 'error'] as const) logger[l](l);
      return lines.map((line) => line.split(': ')[1]!.trim());
    };
    expect(shown('error')).toEqual(['error']);
    expect(shown('warn')).toEqual(['warn', 'error']);
    expect(shown('info')).toEqual(['info', 'warn', 'error']);
    expect(shown('debug')).toEqual(['debug', 'info', 'warn', 'error']);
  });

  it('enabled(level) says whether a line at that level would be written (so a per-call line is built only then)', () => {
    const levels = ['debug', 'info', 'warn', 'error'] as const;
    const enabledAt = (level: LogLevel) => levels.filter((l) => recorder(level).logger.enabled?.(l) === true);
    expect(enabledAt('warn')).toEqual(['warn', 'error']);
    expect(enabledAt('info')).toEqual(['info', 'warn', 'error']);
    expect(enabledAt('debug')).toEqual(levels);
    expect(recorder().logger.enabled?.('info')).toBe(false);
  });
});

describe('routeConsoleToLogger', () => {
  it('keeps console.log off stdout, logs a repeated warning once at warn, scrubs keys, and restores', () => {
    const { lines, logger } = recorder('warn');
    const fake = { log: () => {}, info: () => {}, debug: () => {}, warn: () => {}, error: () => {} } as unknown as Console;
    const original = fake.warn;
    const restore = routeConsoleToLogger(logger, fake);
    fake.log('to stdout?');
    for (let i = 0; i < 5; i++) fake.warn("The model 'claude-sonnet-4-5' is deprecated\nPlease migrate.");
    fake.warn('other %s', 'warning sk-secret-123456');
    fake.error('bad');
    expect(lines).toEqual([
      "[llm-service-mcp] warn: The model 'claude-sonnet-4-5' is deprecated Please migrate.\n",
      '[llm-service-mcp] warn: other warning [redacted]\n',
      '[llm-service-mcp] error: bad\n',
    ]);
    restore();
    expect(fake.warn).toBe(original);
  });

  it('at debug level, the repeats and console.log are shown as debug lines', () => {
    const { lines, logger } = recorder('debug');
    const fake = { log: () => {}, info: () => {}, debug: () => {}, warn: () => {}, error: () => {} } as unknown as Console;
    routeConsoleToLogger(logger, fake);
    fake.warn('same');
    fake.warn('same');
    fake.log('x', 1);
    expect(lines).toEqual(['[llm-service-mcp] warn: same\n', '[llm-service-mcp] debug: same\n', '[llm-service-mcp] debug: x 1\n']);
  });
});
