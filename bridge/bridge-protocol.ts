import type { DeviceEvent } from '../core/reading.js';
import type { SerializedError } from '../core/errors.js';
import type { CommonThreadMessage } from '../core/threads.js';
import type { BridgeOptions } from './bridge.js';
import type { IngestOutcome } from '../core/seams.js';
import type { PayloadFormat } from './normalize/index.js';

/** Messages between the main thread and the bridge's thread (bridge-thread.ts). */
export interface BridgeThreadInput {
  bridge: BridgeOptions;
  /** Producers the thread opens (see runBridgeInThread). */
  producers: number;
  logLevel: string;
}

/**
 * Publishes of one event-loop turn, as columns. Payloads travel in one buffer of their own, transferred rather
 * than copied: a device payload is usually a slice of an 8 KiB pool, which a structured clone copies whole.
 */
export interface IngestColumns {
  ids: number[];
  deviceIds: string[];
  topics: string[];
  receivedAts: Float64Array;
  /** Each publish's receive stamp in epoch ns (core/seams.ts IngestInput.receivedAtNs). */
  receivedAtNss: BigInt64Array;
  formats: (PayloadFormat | null)[];
  payloads: Uint8Array;
  /** End of each payload in `payloads`. */
  payloadEnds: Uint32Array;
}

/** A failed publish's error, as core/errors.ts serializes errors for postMessage (code, retriable, stack, cause). */
export type { SerializedError };

export type ToBridgeThread = { type: 'ingest'; batch: IngestColumns } | { type: 'event'; id: number; event: DeviceEvent } | { type: 'close' };

export type FromBridgeThread =
  | CommonThreadMessage
  /** Ingests and events of one turn that settled: outcomes in `ids` order, failures with their error. */
  | { type: 'settled'; ids: number[]; outcomes: IngestOutcome[]; failed: { id: number; error: SerializedError }[] };
