import { pino, stdSerializers, type Logger, type LoggerOptions } from 'pino';

export type { Logger };

/**
 * The one way an error is logged: the error itself under `err` (`log.warn({ err: error }, '…')`), never only its
 * message. It is written with its type, message, stack, its own properties (a SluiceError's `code`, `retriable`,
 * `details`; Node's `code`, `errno`, `syscall`) and its `cause`, as an error of its own, down the chain.
 * An error already written as JSON (a worker thread's line, relayed by core/log-relay.ts) is a plain object and
 * passes unchanged, so relaying keeps its `type`.
 */
export function errorSerializer(value: unknown): unknown {
  if (typeof value !== 'object' || value === null || Object.getPrototypeOf(value) === Object.prototype) return value;
  return stdSerializers.errWithCause(value as Error);
}

/** The serializers of every Sluice logger, the main thread's and the worker threads'. */
export const logSerializers = { err: errorSerializer };

/**
 * JSON lines for machines; on a terminal, pino-pretty for people. One root logger per process,
 * modules take `logger.child({ module })` so every line says where it came from.
 */
export function createLogger(level: string, options: { pretty?: boolean; destination?: NodeJS.WritableStream } = {}): Logger {
  const pretty = options.pretty ?? Boolean(process.stdout.isTTY);
  const base: LoggerOptions = { level, base: { pid: process.pid }, serializers: logSerializers };
  if (options.destination) return pino(base, options.destination as never);
  if (pretty) {
    return pino({
      ...base,
      transport: { target: 'pino-pretty', options: { colorize: true, ignore: 'pid,hostname', translateTime: 'HH:MM:ss.l' } },
    });
  }
  return pino(base);
}
