import type { CommonThreadMessage } from '../core/threads.js';
import type { WriterStatus } from '../core/seams.js';
import type { WriterOptions } from './writer.js';

/** Messages between the main thread and the store writer's thread (writer-thread.ts). */
export interface WriterThreadInput {
  writer: WriterOptions;
  logLevel: string;
}

export type ToWriterThread = { type: 'start' } | { type: 'close' };

export type FromWriterThread = CommonThreadMessage | { type: 'status'; status: WriterStatus };
