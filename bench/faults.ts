/**
 * Fault specs of `sluice bench --fault SPEC` (repeatable). T and D are seconds from the start of the load:
 *
 *   broker-stop:N@T[+D]      SIGTERM broker N (controlled shutdown) at T, start it again at T+D (default D 20)
 *   broker-kill:N@T[+D]      SIGKILL broker N (a crash) at T, start it again at T+D (default D 20)
 *                            N is a broker index (0-based) or `leader`: the broker leading the most partitions
 *                            of the telemetry topic at T
 *   kafka-down@T[+D]         every broker stopped at T, all started again at T+D (default D 20)
 *   store-down@T[+D]         the bench's own store stopped at T, started again with its data at T+D (default D 20)
 *   writer-kill@T[+D]        SIGKILL the writer process (--split-roles) at T, a new one started at T+D (default 0)
 *   gateway-restart[:N]@T[+D] SIGTERM the gateway (+bridge) process at T, started again on the same ports at T+D
 *   gateway-kill[:N]@T[+D]   SIGKILL it instead (default D 0 for both); N is the gateway's index with --gateways
 *                            (0 by default): the others serve its devices meanwhile, through the bench's balancer
 *
 * Parsing and validation are pure, so every message is tested; ./fault-runner.ts applies them.
 */

export const FAULT_KINDS = ['broker-stop', 'broker-kill', 'kafka-down', 'store-down', 'writer-kill', 'gateway-restart', 'gateway-kill'] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

/** What a fault hits; two faults on the same component may not overlap. */
export type FaultComponent = 'kafka' | 'store' | 'writer' | 'gateway';

export interface FaultSpec {
  /** As given on the command line. */
  text: string;
  kind: FaultKind;
  /** Broker faults only: an index, or the broker leading the most telemetry partitions at `atS`. */
  broker?: number | 'leader';
  /** Gateway faults only: the index of the gateway process it hits (0 unless given). */
  gateway?: number;
  /** Seconds from the start of the load. */
  atS: number;
  /** Seconds the component stays down (for a restart: between stop and start). */
  forS: number;
}

/** Default D when a spec gives none. */
export const DEFAULT_DOWN_S: Record<FaultKind, number> = {
  'broker-stop': 20,
  'broker-kill': 20,
  'kafka-down': 20,
  'store-down': 20,
  'writer-kill': 0,
  'gateway-restart': 0,
  'gateway-kill': 0,
};

export const FAULT_SYNTAX =
  'broker-stop:N@T[+D], broker-kill:N@T[+D] (N = leader or a broker index), kafka-down@T[+D], store-down@T[+D], writer-kill@T[+D], gateway-restart[:G]@T[+D], gateway-kill[:G]@T[+D] (G = a gateway index with --gateways, 0 by default); T and D in seconds from the start of the load';

export class FaultSpecError extends Error {
  readonly code = 'BENCH_FAULT_SPEC';
  constructor(message: string) {
    super(message);
    this.name = 'FaultSpecError';
  }
}

const isKind = (value: string): value is FaultKind => (FAULT_KINDS as readonly string[]).includes(value);
export const isBrokerFault = (kind: FaultKind): kind is 'broker-stop' | 'broker-kill' => kind === 'broker-stop' || kind === 'broker-kill';
export const isGatewayFault = (kind: FaultKind): kind is 'gateway-restart' | 'gateway-kill' => kind === 'gateway-restart' || kind === 'gateway-kill';

export function faultComponent(kind: FaultKind): FaultComponent {
  if (isBrokerFault(kind) || kind === 'kafka-down') return 'kafka';
  if (kind === 'store-down') return 'store';
  if (kind === 'writer-kill') return 'writer';
  return 'gateway';
}

/**
 * What a fault hits, for telling which faults may overlap and which run one after another: its component, or for a
 * gateway fault the one gateway process ("gateway 1"), so faults on two different gateways may overlap.
 */
export function faultTarget(fault: Pick<FaultSpec, 'kind' | 'gateway'>): string {
  return isGatewayFault(fault.kind) ? `gateway ${fault.gateway ?? 0}` : faultComponent(fault.kind);
}

/** Seconds: a plain non-negative decimal, optionally with an `s` suffix ("20", "7.5", "20s"). */
function seconds(raw: string, what: string, spec: string): number {
  const match = /^(\d+(?:\.\d+)?)s?$/.exec(raw);
  if (!match) throw new FaultSpecError(`"${spec}": ${what} must be seconds ≥ 0 (e.g. 20 or 7.5), got "${raw}"`);
  return Number(match[1]);
}

export function parseFaultSpec(input: string): FaultSpec {
  const text = input.trim();
  if (text === '') throw new FaultSpecError(`empty fault spec; one of: ${FAULT_SYNTAX}`);
  const at = text.indexOf('@');
  const head = at < 0 ? text : text.slice(0, at);
  const colon = head.indexOf(':');
  const kind = colon < 0 ? head : head.slice(0, colon);
  const target = colon < 0 ? undefined : head.slice(colon + 1);
  if (!isKind(kind)) throw new FaultSpecError(`"${text}": unknown fault "${kind}"; one of ${FAULT_KINDS.join(', ')} (${FAULT_SYNTAX})`);
  const example = isBrokerFault(kind) ? `${kind}:leader@20+20` : `${kind}@20${DEFAULT_DOWN_S[kind] > 0 ? '+20' : ''}`;

  let broker: number | 'leader' | undefined;
  let gateway: number | undefined;
  if (isGatewayFault(kind)) {
    if (target !== undefined) {
      if (!/^\d+$/.test(target)) throw new FaultSpecError(`"${text}": the gateway must be an index (0, 1, … up to --gateways − 1), got "${target}"`);
      gateway = Number(target);
    }
  } else if (isBrokerFault(kind)) {
    if (target === undefined || target === '') throw new FaultSpecError(`"${text}": ${kind} needs a broker: ${kind}:<index|leader>@T[+D], e.g. ${example}`);
    if (target === 'leader') broker = 'leader';
    else if (/^\d+$/.test(target)) broker = Number(target);
    else throw new FaultSpecError(`"${text}": the broker must be "leader" or a broker index (0, 1, 2), got "${target}"`);
  } else if (target !== undefined) {
    throw new FaultSpecError(`"${text}": ${kind} takes no target (":${target}"); write ${example}`);
  }

  if (at < 0) throw new FaultSpecError(`"${text}": missing @T, the second of the load at which the fault starts, e.g. ${example}`);
  const when = text.slice(at + 1);
  const plus = when.indexOf('+');
  const atS = seconds(plus < 0 ? when : when.slice(0, plus), 'T (after @)', text);
  const forS = plus < 0 ? DEFAULT_DOWN_S[kind] : seconds(when.slice(plus + 1), 'D (after +)', text);
  return { text, kind, ...(broker !== undefined ? { broker } : {}), ...(gateway !== undefined ? { gateway } : {}), atS, forS };
}

export interface FaultContext {
  /** Nodes of the bench's own Kafka cluster; undefined when Kafka is someone else's (--kafka / KAFKA_BROKERS). */
  kafkaNodes: number | undefined;
  splitRoles: boolean;
  /** The bench runs its own store (no --influx). */
  ownStore: boolean;
  durationS: number;
  /** Gateway processes of the run (--gateways). */
  gateways: number;
}

/** Everything wrong with a set of faults for this run, one clear sentence each; empty when they can run. */
export function validateFaults(faults: readonly FaultSpec[], context: FaultContext): string[] {
  const problems: string[] = [];
  for (const fault of faults) {
    const { kind, text } = fault;
    if (isBrokerFault(kind) || kind === 'kafka-down') {
      if (context.kafkaNodes === undefined) {
        problems.push(`${text}: stops Kafka brokers, so it needs the bench's own cluster: add --kafka-nodes 3 (the bench never stops a broker it did not start)`);
      } else if (typeof fault.broker === 'number' && fault.broker >= context.kafkaNodes) {
        problems.push(`${text}: the bench's cluster has ${context.kafkaNodes} broker${context.kafkaNodes === 1 ? ' (index 0)' : `s (indexes 0–${context.kafkaNodes - 1})`}`);
      }
    }
    if (kind === 'writer-kill' && !context.splitRoles) problems.push(`${text}: the writer is a process of its own only with --split-roles (without it, gateway-kill kills the one Sluice process)`);
    if (isGatewayFault(kind) && (fault.gateway ?? 0) >= context.gateways) {
      problems.push(`${text}: the bench runs ${context.gateways === 1 ? '1 gateway (index 0); add --gateways N for more' : `${context.gateways} gateways (indexes 0–${context.gateways - 1})`}`);
    }
    if (kind === 'store-down' && !context.ownStore) problems.push(`${text}: stops the bench's own store, so not with --influx (the bench never stops a store it did not start)`);
    if (fault.atS + fault.forS >= context.durationS) {
      problems.push(`${text}: ends at ${fault.atS + fault.forS} s, not before the load does (--duration ${context.durationS}); recovery could not be measured`);
    }
  }
  const sorted = [...faults].sort((a, b) => a.atS - b.atS);
  for (let i = 0; i < sorted.length; i++) {
    for (let j = i + 1; j < sorted.length; j++) {
      const a = sorted[i]!;
      const b = sorted[j]!;
      if (faultTarget(a) === faultTarget(b) && b.atS <= a.atS + a.forS) {
        problems.push(`${a.text} and ${b.text} overlap on ${faultTarget(a)}: let one end before the next starts`);
      }
    }
  }
  return problems;
}
