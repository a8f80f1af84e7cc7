/**
 * Loss and duplicate accounting, from outside the pipeline: what the load generator saw acknowledged against
 * what the store holds. Pure, so it is tested with a known loss and known duplicates.
 */
import { decodeSequence } from './payload.js';

export interface AckedMessages {
  /** acked[deviceIndex][message] is 1 when that message was acknowledged (QoS 1) or sent (QoS 0). */
  has(deviceIndex: number, message: number): boolean;
  count(): number;
}

/** Acknowledgements as one bitmap row of `messagesPerDevice` bytes per device. */
export function ackedFromRows(rows: ReadonlyMap<number, Uint8Array>): AckedMessages {
  return {
    has: (deviceIndex, message) => rows.get(deviceIndex)?.[message] === 1,
    count() {
      let n = 0;
      for (const row of rows.values()) for (const flag of row) n += flag;
      return n;
    },
  };
}

export interface Accounting {
  /** Points in the store, duplicates included. */
  stored: number;
  /** Acknowledged messages the store does not hold. */
  lost: number;
  /** Points stored more than once (a message stored 3 times counts 2). */
  duplicatesStored: number;
  /**
   * Of those, the ones InfluxDB would keep too: a message stored again at another timestamp (InfluxDB keeps one point
   * per series and timestamp, so a re-write of the same reading is not one). Null when the points came without times.
   */
  duplicatesKept: number | null;
  /** Stored points that were never acknowledged (in flight at the end, or not from this run). */
  storedNotAcked: number;
  /** Up to 10 lost messages, for the report. */
  lostExamples: { deviceIndex: number; message: number }[];
}

/** A stored point: its value (the message's sequence), and its timestamp when known. */
export type StoredPoint = number | { value: number; timestamp: number };

export function account(acked: AckedMessages, ackedRows: ReadonlyMap<number, Uint8Array>, storedPoints: Iterable<StoredPoint>): Accounting {
  const seen = new Map<number, Uint8Array>();
  /** Timestamps each message was stored at, once it was stored at more than one point. */
  const firstTimestamp = new Map<number, number>();
  const timestampsOfDuplicates = new Map<number, Set<number>>();
  let timed = true;
  let stored = 0;
  let duplicatesStored = 0;
  let storedNotAcked = 0;
  for (const point of storedPoints) {
    const value = typeof point === 'number' ? point : point.value;
    if (typeof point === 'number') timed = false;
    else if (!firstTimestamp.has(value)) firstTimestamp.set(value, point.timestamp);
    else (timestampsOfDuplicates.get(value) ?? timestampsOfDuplicates.set(value, new Set([firstTimestamp.get(value)!])).get(value)!).add(point.timestamp);
    stored++;
    const { deviceIndex, message } = decodeSequence(value);
    const row = ackedRows.get(deviceIndex);
    let seenRow = seen.get(deviceIndex);
    if (!seenRow) seen.set(deviceIndex, (seenRow = new Uint8Array(Math.max(row?.length ?? 0, message + 1))));
    if (message >= seenRow.length) {
      const grown = new Uint8Array(message + 1);
      grown.set(seenRow);
      seen.set(deviceIndex, (seenRow = grown));
    }
    if (seenRow[message]! > 0) duplicatesStored++;
    seenRow[message] = Math.min(255, seenRow[message]! + 1);
    if (!acked.has(deviceIndex, message)) storedNotAcked++;
  }
  let lost = 0;
  const lostExamples: { deviceIndex: number; message: number }[] = [];
  for (const [deviceIndex, row] of ackedRows) {
    const seenRow = seen.get(deviceIndex);
    for (let message = 0; message < row.length; message++) {
      if (row[message] === 1 && !(seenRow && (seenRow[message] ?? 0) > 0)) {
        lost++;
        if (lostExamples.length < 10) lostExamples.push({ deviceIndex, message });
      }
    }
  }
  let duplicatesKept = 0;
  for (const timestamps of timestampsOfDuplicates.values()) duplicatesKept += timestamps.size - 1;
  return { stored, lost, duplicatesStored, duplicatesKept: timed ? duplicatesKept : null, storedNotAcked, lostExamples };
}
