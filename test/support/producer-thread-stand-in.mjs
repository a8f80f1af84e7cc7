// A stand-in for core/streams/kafka-producer-worker.ts that speaks the same protocol without Kafka:
// the first send (counted across restarts in a shared buffer) kills the thread; later sends log what
// arrived and succeed.
import { parentPort, workerData } from 'node:worker_threads';

const sends = new Int32Array(workerData.sends);
const log = (fields) => parentPort.postMessage({ type: 'log', line: JSON.stringify({ level: 30, time: Date.now(), pid: process.pid, ...fields }) });

parentPort.on('message', (message) => {
  if (message.type === 'connect' || message.type === 'disconnect') {
    parentPort.postMessage({ type: 'done', requestId: message.requestId });
  } else if (message.type === 'send') {
    if (Atomics.add(sends, 0, 1) === 0) process.exit(3);
    const [batch] = message.batches;
    log({ msg: 'stand-in received', stream: batch.stream, keys: batch.keys, values: batch.values, timestamps: [...batch.timestamps].map(String) });
    if (batch.keys.includes('refused')) {
      parentPort.postMessage({ type: 'failed', requestId: message.requestId, error: { code: 'KAFKA_REJECTED', message: 'refused by the stand-in', retriable: false } });
    } else {
      parentPort.postMessage({ type: 'done', requestId: message.requestId });
    }
  } else if (message.type === 'close') {
    parentPort.postMessage({ type: 'closed' });
    parentPort.close();
  }
});
