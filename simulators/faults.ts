/**
 * Fault injection, decided deterministically from the seed so a run can be repeated:
 * - per message: malformed (truncated JSON), oversized (past the gateway's payload limit), clock-skewed
 *   (device time far in the future);
 * - per device: wrong secret (CONNACK refusal), abrupt disconnect (socket destroyed without DISCONNECT, so
 *   the broker fires the will `offline` on `devices/{id}/status`).
 */
import { hash32, stringWord, unitHash } from './prng.js';

export type MessageFault = 'malformed' | 'oversized' | 'clock-skew';

export interface FaultShares {
  malformed: number;
  oversized: number;
  clockSkew: number;
  abruptDisconnect: number;
  wrongSecret: number;
}

export const NO_FAULTS: Readonly<FaultShares> = Object.freeze({ malformed: 0, oversized: 0, clockSkew: 0, abruptDisconnect: 0, wrongSecret: 0 });

export function validateShares(shares: FaultShares): string[] {
  const problems: string[] = [];
  for (const [name, share] of Object.entries(shares)) {
    if (!(share >= 0 && share <= 1)) problems.push(`${name} share must be between 0 and 1`);
  }
  if (shares.malformed + shares.oversized + shares.clockSkew > 1) problems.push('message fault shares add up to more than 1');
  return problems;
}

/** The fault (if any) of message `sequence` of device `deviceIndex`: one uniform draw split by the shares. */
export function messageFault(seed: number, deviceIndex: number, sequence: number, shares: FaultShares): MessageFault | undefined {
  const u = unitHash(seed, deviceIndex, sequence, stringWord('message-fault'));
  if (u < shares.malformed) return 'malformed';
  if (u < shares.malformed + shares.oversized) return 'oversized';
  if (u < shares.malformed + shares.oversized + shares.clockSkew) return 'clock-skew';
  return undefined;
}

/**
 * Exactly round(count × share) device indexes, chosen by hash order: a share of 0.1 of 20 devices is 2
 * devices, not "about 2", so tests can count on the effect.
 */
export function pickDevices(seed: number, count: number, share: number, salt: string): Set<number> {
  const wanted = Math.round(count * share);
  if (wanted <= 0) return new Set();
  const word = stringWord(salt);
  const order = Array.from({ length: count }, (_, index) => index).sort((a, b) => hash32(seed, a, word) - hash32(seed, b, word) || a - b);
  return new Set(order.slice(0, wanted));
}

/** A payload that is not valid JSON (cut off mid-object): dead-lettered as INVALID_JSON. */
export function malformedPayload(valid: string): string {
  const cut = Math.max(2, Math.floor(valid.length / 2));
  return `{"truncated": ${valid.slice(0, cut).replace(/^[{[]/, '')}`.replace(/[}\]]+$/, '') + ',';
}

/** A JSON payload of `bytes` bytes (more than the gateway's MAX_PAYLOAD_BYTES): dead-lettered as PAYLOAD_TOO_LARGE. */
export function oversizedPayload(bytes: number): string {
  const head = '{"blob":"';
  const tail = '"}';
  return head + 'x'.repeat(Math.max(0, bytes - head.length - tail.length)) + tail;
}
