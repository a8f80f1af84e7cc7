import type { Logger } from '../core/logger.js';
import type { Reading } from '../core/reading.js';
import { decodeReadings } from '../core/records.js';
import type { HistoryProgress, HistoryRange, HistoryReader, ReadingStore } from '../core/seams.js';
import { createBatcher } from '../core/batcher.js';
import { writeSplittingRefused } from './writer.js';

export type { HistoryReader };

export interface ReplayDeps {
  readHistory: HistoryReader;
  store: ReadingStore;
  logger: Logger;
}

export interface ReplayResult {
  records: number;
  written: number;
  refused: number;
}

/**
 * Re-reads a range of the telemetry stream into the store. Points are identified by series and
 * timestamp, so replaying a range twice (or one the writer already stored) adds nothing. Readings the
 * store refuses were dead-lettered when first written; here they are counted and logged only.
 */
export async function replayTelemetry(
  range: Omit<HistoryRange, 'stream'>,
  options: { batchSize: number; onProgress?: (progress: HistoryProgress & { written: number }) => void },
  deps: ReplayDeps,
): Promise<ReplayResult> {
  const log = deps.logger.child({ module: 'replay' });
  const result: ReplayResult = { records: 0, written: 0, refused: 0 };
  let lastProgress: HistoryProgress = { total: 0, read: 0 };
  const batcher = createBatcher<Reading>({
    lingerMs: 50,
    maxBatchItems: options.batchSize,
    maxPendingItems: options.batchSize * 4,
    flush: async (readings) => {
      await writeSplittingRefused(deps.store, readings, async (reading, storeMessage) => {
        result.refused++;
        log.warn({ deviceId: reading.deviceId, metric: reading.metric, ts: reading.ts, storeMessage }, 'store refused a replayed reading');
      });
      result.written += readings.length;
      options.onProgress?.({ ...lastProgress, written: result.written });
    },
    onFlushError: (error, attempt) => {
      if (attempt === 0) log.error({ err: error }, 'store write failed; retrying');
    },
  });
  await deps.readHistory(
    { ...range, stream: 'telemetry' },
    async (records) => {
      result.records += records.length;
      const { readings, invalid } = decodeReadings(records);
      if (invalid.length > 0) log.warn({ count: invalid.length }, 'skipped records that are not readings');
      // Waiting here (not only at the end) keeps memory bounded by what the store can take.
      await batcher.add(readings);
    },
    (progress) => {
      lastProgress = progress;
      options.onProgress?.({ ...progress, written: result.written });
    },
  );
  await batcher.close();
  return result;
}
