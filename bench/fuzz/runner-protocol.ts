import type { FuzzFigures, FuzzRunOptions } from './runner.js';

/** Messages between the main thread (runner-thread.ts) and the fuzz runner's thread (runner-in-thread.ts). */

/** The thread's workerData: the run's options, less what stays on the main thread. */
export type FuzzThreadInput = Omit<FuzzRunOptions, 'signal' | 'onProgress'>;

export type ToRunnerThread = { type: 'stop' };

export type FromRunnerThread = { type: 'progress' | 'done'; figures: FuzzFigures };
