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
  /** Stored points that were never acknowledged (in flight at the end, or not from this run). */
  storedNotAcked: number;
  /** Up to 10 lost messages, for the report. */
  lostExamples: { deviceIndex: number; message: number }[];
}

export function account(acked: AckedMessages, ackedRows: ReadonlyMap<number, Uint8Array>, storedValues: Iterable<number>): Accounting {
  const seen = new Map<number, Uint8Array>();
  let stored = 0;
  let duplicatesStored = 0;
  let storedNotAcked = 0;
  for (const value of storedValues) {
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
  return { stored, lost, duplicatesStored, storedNotAcked, lostExamples };
}
