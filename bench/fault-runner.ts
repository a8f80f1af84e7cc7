/**
 * Applies the faults of a bench run (./faults.ts) at their second of the load, and lifts them: stops or kills
 * Kafka brokers of the bench's own cluster, the bench's store, the writer or the gateway process, and starts
 * them again. Every step is logged as it happens ("+20.0 s broker-kill: killed broker 2 …") and recorded with
 * its times, for the report. Faults on the same target (a component, or one gateway of several) run one after
 * another; others run side by side.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { PrivateKafka } from '../scripts/kafka-cluster.js';
import { faultComponent, faultTarget, type FaultSpec } from './faults.js';
import type { Restartable } from './processes.js';

export interface FaultTargets {
  /** The bench's own Kafka cluster (broker faults need it). */
  kafka?: Pick<PrivateKafka, 'stop' | 'kill' | 'start' | 'running' | 'leaders' | 'brokerList'>;
  /** The topic whose partition leaders `leader` refers to. */
  telemetryTopic: string;
  store?: Restartable;
  writer?: Restartable;
  /** The gateway processes, by index (one without --gateways). */
  gateways: readonly Restartable[];
  /** Device connections open to each gateway now, when a balancer spreads them (--gateways N > 1). */
  gatewayConnections?: () => number[];
}

/** What happened to one fault; times in ms from the start of the load. */
export interface AppliedFault {
  spec: FaultSpec;
  /** What it hit, in words: "broker 2", "all 3 brokers", "store", "writer", "gateway" ("gateway 1" with --gateways). */
  target: string;
  broker: number | null;
  /** Gateway faults: the index of the gateway process hit. */
  gateway: number | null;
  /** With a balancer: the device connections open to that gateway when it was hit. */
  heldConnections: number | null;
  /** Gateway faults: how many other gateway processes were running when it was hit (its devices reconnect to them). */
  othersRunning: number | null;
  /** Telemetry partitions the broker led when it was hit, and how many there are. */
  ledPartitions: number | null;
  partitions: number | null;
  /** When the stop or kill was sent. */
  appliedAtMs: number | null;
  /** When the process (every process) had exited. */
  downAtMs: number | null;
  /** When the restart was done: the broker answered, the store served, Sluice listened. */
  liftedAtMs: number | null;
  error?: string;
}

export interface FaultSchedule {
  /** Settles when every fault is applied and lifted (or failed, or was cancelled). */
  done: Promise<AppliedFault[]>;
  /** Stops applying what has not happened yet; a fault already under way finishes its step. */
  cancel(): void;
}

const seconds = (ms: number): string => `+${(ms / 1000).toFixed(1)} s`;

export function scheduleFaults(faults: readonly FaultSpec[], startAt: number, targets: FaultTargets, log: (line: string) => void): FaultSchedule {
  const abort = new AbortController();
  const since = (): number => Date.now() - startAt;
  const until = async (atS: number): Promise<void> => {
    const wait = startAt + atS * 1000 - Date.now();
    if (wait > 0) await sleep(wait, undefined, { signal: abort.signal });
  };
  const chains = new Map<string, Promise<unknown>>();

  async function apply(fault: FaultSpec): Promise<AppliedFault> {
    const record: AppliedFault = {
      spec: fault,
      target: faultComponent(fault.kind),
      broker: null,
      gateway: null,
      heldConnections: null,
      othersRunning: null,
      ledPartitions: null,
      partitions: null,
      appliedAtMs: null,
      downAtMs: null,
      liftedAtMs: null,
    };
    const say = (what: string): void => log(`${seconds(since())} ${fault.kind}: ${what}`);
    try {
      await until(fault.atS);
      switch (fault.kind) {
        case 'broker-stop':
        case 'broker-kill': {
          const kafka = targets.kafka!;
          const leaders = await kafka.leaders(targets.telemetryTopic).catch(() => new Map<number, number>());
          const led = (index: number): number => [...leaders.values()].filter((leader) => leader === index).length;
          let index: number;
          if (fault.broker === 'leader') {
            // The broker leading the most telemetry partitions now (ties: the lowest index).
            const counts = kafka.brokerList.map((_, i) => led(i));
            index = counts.indexOf(Math.max(...counts));
          } else {
            index = fault.broker!;
          }
          record.broker = index;
          record.target = `broker ${index}`;
          record.ledPartitions = leaders.size > 0 ? led(index) : null;
          record.partitions = leaders.size > 0 ? leaders.size : null;
          const leading = record.ledPartitions === null ? 'partition leaders unknown' : `led ${record.ledPartitions} of ${record.partitions} telemetry partitions`;
          if (!kafka.running(index)) throw new Error(`broker ${index} is not running`);
          record.appliedAtMs = since();
          say(`${fault.kind === 'broker-kill' ? 'killing (SIGKILL)' : 'stopping (SIGTERM)'} broker ${index} (${leading})`);
          await (fault.kind === 'broker-kill' ? kafka.kill(index) : kafka.stop(index));
          record.downAtMs = since();
          say(`broker ${index} ${fault.kind === 'broker-kill' ? 'killed' : 'stopped'}${record.downAtMs - record.appliedAtMs > 500 ? ` (exited after ${((record.downAtMs - record.appliedAtMs) / 1000).toFixed(1)} s)` : ''}`);
          await until(fault.atS + fault.forS);
          const restartAt = since();
          say(`starting broker ${index} again`);
          await kafka.start(index);
          record.liftedAtMs = since();
          say(`broker ${index} back (answering after ${((record.liftedAtMs - restartAt) / 1000).toFixed(1)} s)`);
          break;
        }
        case 'kafka-down': {
          const kafka = targets.kafka!;
          const all = kafka.brokerList.map((_, i) => i).filter((i) => kafka.running(i));
          record.target = `all ${all.length} broker${all.length === 1 ? '' : 's'}`;
          record.appliedAtMs = since();
          say(`stopping (SIGTERM) ${record.target}`);
          await Promise.all(all.map((i) => kafka.stop(i)));
          record.downAtMs = since();
          say(`${record.target} stopped${record.downAtMs - record.appliedAtMs > 500 ? ` (the last exited after ${((record.downAtMs - record.appliedAtMs) / 1000).toFixed(1)} s)` : ''}`);
          await until(fault.atS + fault.forS);
          const restartAt = since();
          say(`starting ${record.target} again`);
          // Launched together: each start waits until the whole cluster answers.
          await Promise.all(all.map((i) => kafka.start(i)));
          record.liftedAtMs = since();
          say(`Kafka back (answering after ${((record.liftedAtMs - restartAt) / 1000).toFixed(1)} s)`);
          break;
        }
        default: {
          const component = faultComponent(fault.kind) as 'store' | 'writer' | 'gateway';
          const signal = fault.kind === 'store-down' || fault.kind === 'gateway-restart' ? 'SIGTERM' : 'SIGKILL';
          let target: Restartable | undefined;
          let name: string;
          let held = '';
          if (component === 'gateway') {
            const index = fault.gateway ?? 0;
            const several = targets.gateways.length > 1;
            target = targets.gateways[index];
            if (!target) throw new Error(`no gateway ${index} to ${signal === 'SIGKILL' ? 'kill' : 'stop'} (${targets.gateways.length} gateways)`);
            record.gateway = index;
            record.othersRunning = targets.gateways.filter((other, i) => i !== index && other.running).length;
            // One gateway of several: say which, and how many devices it held (they move to the others).
            record.target = several ? `gateway ${index}` : 'gateway';
            name = several ? `gateway process ${index} (of ${targets.gateways.length})` : 'gateway process';
            const connections = targets.gatewayConnections?.();
            if (connections) {
              record.heldConnections = connections[index] ?? 0;
              held = ` (it held ${record.heldConnections} of ${connections.reduce((a, b) => a + b, 0)} device connections; ${record.othersRunning} other gateway${record.othersRunning === 1 ? '' : 's'} running)`;
            }
          } else {
            target = targets[component];
            if (!target) throw new Error(`no ${component} to ${fault.kind === 'store-down' ? 'stop' : 'kill'}`);
            record.target = component;
            name = component === 'writer' ? 'writer process' : 'store';
          }
          const the = component === 'gateway' && record.target !== 'gateway' ? '' : 'the ';
          record.appliedAtMs = since();
          say(`${signal === 'SIGKILL' ? 'killing (SIGKILL)' : 'stopping (SIGTERM)'} ${the}${name}${held}`);
          await target.halt(signal);
          record.downAtMs = since();
          say(`${the}${name} is down${record.downAtMs - record.appliedAtMs > 500 ? ` (exited after ${((record.downAtMs - record.appliedAtMs) / 1000).toFixed(1)} s)` : ''}`);
          await until(fault.atS + fault.forS);
          const restartAt = since();
          say(`starting ${the}${name} again${component === 'store' ? ' (same port, same data)' : ' (same ports)'}`);
          await target.resume();
          record.liftedAtMs = since();
          say(`${the}${name} is back (${component === 'store' ? 'serving' : 'listening'} after ${((record.liftedAtMs - restartAt) / 1000).toFixed(1)} s)`);
        }
      }
    } catch (error) {
      if (abort.signal.aborted) {
        record.error = record.appliedAtMs === null ? 'not applied: the run ended first' : 'not lifted: the run ended first';
      } else {
        record.error = (error as Error).message;
        say(`failed: ${record.error}`);
      }
    }
    return record;
  }

  const done = Promise.all(
    [...faults].sort((a, b) => a.atS - b.atS).map((fault) => {
      // Faults on the same target run one after another (two gateways may be hit side by side).
      const target = faultTarget(fault);
      const run = (chains.get(target) ?? Promise.resolve()).then(() => apply(fault));
      chains.set(target, run);
      return run;
    }),
  );
  return { done, cancel: () => abort.abort() };
}
