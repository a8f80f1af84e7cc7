import { pino } from 'pino';
import { logSerializers, type Logger } from './logger.js';

/* A worker thread's log lines travel to the main thread as JSON and are logged again there, by the one logger. */

/**
 * A pino logger inside a thread whose JSON lines go to `post`, for `relayLogLine` on the main thread. Errors are
 * written here, with the serializer of the main thread's logger (stack, code, retriable, cause), because an Error
 * does not cross postMessage whole: the structured clone drops its own properties, `code` and `retriable` among them.
 */
export function threadLogger(level: string, thread: string, post: (line: string) => void): Logger {
  return pino({ level, base: { thread }, serializers: logSerializers }, { write: post });
}

const PINO_LEVELS: Record<number, 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal'> = {
  10: 'trace',
  20: 'debug',
  30: 'info',
  40: 'warn',
  50: 'error',
  60: 'fatal',
};

/** Logs a thread's JSON line again through the main thread's logger, its fields and level kept. */
export function relayLogLine(log: Logger, line: string): void {
  let entry: Record<string, unknown>;
  try {
    entry = JSON.parse(line) as Record<string, unknown>;
  } catch {
    log.warn({ line }, 'unreadable log line from a worker thread');
    return;
  }
  const { level, msg, time: _time, pid: _pid, hostname: _hostname, ...fields } = entry;
  log[PINO_LEVELS[level as number] ?? 'info'](fields, typeof msg === 'string' ? msg : '');
}
