// A stand-in for bridge/bridge-worker.ts that speaks the same protocol without Kafka. The first ingest batch
// (counted across restarts in a shared buffer) kills the thread; later batches settle at once: a payload
// "reject" fails with a coded error, "lose" with an uncoded one that has a stack and a cause, any other settles
// with its byte length as the reading count.
import { parentPort, workerData } from 'node:worker_threads';

const batches = new Int32Array(workerData.batches);
const post = (message) => parentPort.postMessage(message);

parentPort.on('message', (message) => {
  if (message.type === 'ingest') {
    if (Atomics.add(batches, 0, 1) === 0) process.exit(3);
    const { batch } = message;
    const text = Buffer.from(batch.payloads.buffer, batch.payloads.byteOffset, batch.payloads.byteLength).toString();
    post({ type: 'log', line: JSON.stringify({ level: 30, msg: 'stand-in batch', payloads: text, deviceIds: batch.deviceIds, formats: batch.formats, receivedAtNss: Array.from(batch.receivedAtNss, String) }) });
    const settled = { type: 'settled', ids: [], outcomes: [], failed: [] };
    let start = 0;
    batch.ids.forEach((id, i) => {
      const payload = text.slice(start, batch.payloadEnds[i]);
      start = batch.payloadEnds[i];
      if (payload === 'reject') settled.failed.push({ id, error: { code: 'KAFKA_REJECTED', message: 'refused by the stand-in', retriable: false } });
      else if (payload === 'lose') settled.failed.push({ id, error: { message: 'producer is disconnected', retriable: true, stack: 'KafkaJSError: producer is disconnected\n    at the stand-in', cause: { code: 'ECONNREFUSED', message: 'connect ECONNREFUSED', retriable: false } } });
      else {
        settled.ids.push(id);
        settled.outcomes.push({ readings: payload.length, rejected: 0 });
      }
    });
    post({ type: 'metrics', updates: [{ metric: 'readingsNormalized', method: 'inc', args: [batch.ids.length] }] });
    post(settled);
  } else if (message.type === 'event') {
    post({ type: 'settled', ids: [message.id], outcomes: [{ readings: 0, rejected: 0 }], failed: [] });
  } else if (message.type === 'close') {
    post({ type: 'closed' });
    parentPort.close();
  }
});
post({ type: 'ready' });
