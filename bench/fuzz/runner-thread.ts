import { startThreadModule } from '../../core/threads.js';
import type { FuzzFigures, FuzzRunOptions } from './runner.js';
import type { FromRunnerThread, FuzzThreadInput, ToRunnerThread } from './runner-protocol.js';

/** `runFuzz` in a worker thread of its own (runner-in-thread.ts); same options, same figures. */
export function runFuzzInThread(options: FuzzRunOptions): Promise<FuzzFigures> {
  const { signal, onProgress, ...data } = options;
  const input: FuzzThreadInput = data;
  const worker = startThreadModule(import.meta.url, 'runner-in-thread', input);
  const stop = (): void => worker.postMessage({ type: 'stop' } satisfies ToRunnerThread);
  signal?.addEventListener('abort', stop, { once: true });
  return new Promise<FuzzFigures>((resolve, reject) => {
    worker.on('message', (message: FromRunnerThread) => {
      if (message.type === 'progress') onProgress?.(message.figures);
      if (message.type === 'done') {
        resolve(message.figures);
        void worker.terminate();
      }
    });
    worker.once('error', reject);
    worker.once('exit', (code) => reject(new Error(`the fuzz thread exited with code ${code} before reporting`)));
  }).finally(() => signal?.removeEventListener('abort', stop));
}
