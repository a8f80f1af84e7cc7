/** The one shape every payload format is normalized into (contract: ../shared/DESIGN.md §2). */
export interface Reading {
  /** From the authenticated connection, never from the payload. */
  deviceId: string;
  metric: string;
  value: number | boolean | string;
  /** SenML unit names where one applies ("Cel", "%RH", "V"). */
  unit?: string;
  /** Epoch milliseconds: device time when given, else receive time. */
  ts: number;
  /** Epoch milliseconds at the gateway. */
  receivedAt: number;
  tags?: Record<string, string>;
}

/** A device's connection state change, carried on `{prefix}.events`. */
export interface DeviceEvent {
  deviceId: string;
  type: 'online' | 'offline' | 'acl-violation' | 'auth-failed';
  reason: string;
  ts: number;
  remoteAddress?: string;
}

/** A payload (or part of one) that could not become readings, carried on `{prefix}.deadletter`. */
export interface DeadLetter {
  deviceId: string;
  code: string;
  reason: string;
  topic: string;
  /** The original payload, base64. */
  payload: string;
  receivedAt: number;
}
