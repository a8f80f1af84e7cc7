import { pino, type Logger, type LoggerOptions } from 'pino';

export type { Logger };

/**
 * JSON lines for machines; on a terminal, pino-pretty for people. One root logger per process,
 * modules take `logger.child({ module })` so every line says where it came from.
 */
export function createLogger(level: string, options: { pretty?: boolean; destination?: NodeJS.WritableStream } = {}): Logger {
  const pretty = options.pretty ?? Boolean(process.stdout.isTTY);
  const base: LoggerOptions = { level, base: { pid: process.pid } };
  if (options.destination) return pino(base, options.destination as never);
  if (pretty) {
    return pino({
      ...base,
      transport: { target: 'pino-pretty', options: { colorize: true, ignore: 'pid,hostname', translateTime: 'HH:MM:ss.l' } },
    });
  }
  return pino(base);
}
