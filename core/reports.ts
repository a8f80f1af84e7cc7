/**
 * What the API and the pipeline view report: plain data without Node's types, so the dashboard's wire contract
 * (dashboard/protocol.ts), which the browser bundle compiles too, takes them from here instead of copying them.
 * core/seams.ts re-exports them with the seams that produce them.
 */
import type { ReadingValue } from './reading.js';

export type DeviceStatus = 'online' | 'offline';

export interface DeviceSummary {
  id: string;
  status: DeviceStatus | 'unknown';
  /** `ts` of the event that set the status. */
  statusSince?: number;
  /**
   * The connection the status belongs to (docs/contracts.md §7 `session`, `connectedAt`): what a later event of
   * the device is ordered against (core/device-status.ts). Absent when the event that set the status had none.
   */
  session?: string;
  connectedAt?: number;
  /** Epoch ms of the newest reading or status change; 0 when never seen. */
  lastSeen: number;
  latest: Record<string, { value: ReadingValue; unit?: string; ts: number }>;
}

/** Records a consumer group still has to read in one partition. */
export interface PartitionLag {
  partition: number;
  /** Next offset the group will read; null when it has committed nothing yet. */
  committed: string | null;
  /** The partition's end offset (high watermark). */
  end: string;
  lag: number;
}

export interface ConsumerGroupLag {
  groupId: string;
  topic: string;
  totalLag: number;
  partitions: PartitionLag[];
}

export interface ConsumerLagReport {
  /** False when the queue could not be asked (or has no lag to report); `note` says why. */
  available: boolean;
  note?: string;
  groups: ConsumerGroupLag[];
}
