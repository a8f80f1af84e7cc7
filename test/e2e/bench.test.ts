import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, inject, it } from 'vitest';
import { sluiceBin, tempDataDir } from '../support/sluice-process.js';

const execFileAsync = promisify(execFile);

describe('sluice bench', () => {
  const kafkaBrokers = inject('kafkaBrokers');

  it('runs a small load end to end and writes the JSON of docs/contracts.md §13 with nothing lost', async () => {
    const out = join(await tempDataDir('sluice-bench-test-'), 'bench.json');
    const { stdout } = await execFileAsync(
      process.execPath,
      [sluiceBin, 'bench', '--devices', '50', '--rate', '5', '--duration', '3', '--qos', '1', '--json', out, '--store-wait', '30'],
      { env: { ...process.env, KAFKA_BROKERS: kafkaBrokers }, timeout: 80_000 },
    );
    expect(stdout).toContain('ingest (acked/s)');
    const report = JSON.parse(await readFile(out, 'utf8')) as Record<string, unknown> & { latencyMs: Record<string, unknown> };
    expect(report).toMatchObject({ devices: 50, qos: 1, durationS: 3 });
    for (const key of ['sent', 'acked', 'stored', 'lost', 'duplicatesStored', 'ingestPerSec', 'gatewayRssMiB']) {
      expect(report[key], key).toBeTypeOf('number');
    }
    for (const key of ['ackP50', 'ackP99', 'livePushP50', 'livePushP99', 'storedP50', 'storedP99']) {
      expect(key in report.latencyMs, key).toBe(true);
    }
    expect(report.sent).toBe(750);
    expect(report.acked).toBe(750);
    expect(report.lost).toBe(0);
    expect(report.stored as number).toBeGreaterThanOrEqual(750);
    expect(report.gatewayRssMiB as number).toBeGreaterThan(10);
    expect(report).toMatchObject({ faults: [], disconnects: 0, resent: 0, errors: 0, recoveryS: null });
  });

  it('with --sink rabbitmq, forwards every acknowledged reading to a RabbitMQ of its own and reports it in the JSON', async () => {
    const out = join(await tempDataDir('sluice-bench-sink-test-'), 'bench.json');
    const { stdout, stderr } = await execFileAsync(
      process.execPath,
      [sluiceBin, 'bench', '--devices', '20', '--rate', '5', '--duration', '3', '--qos', '1', '--sink', 'rabbitmq', '--json', out, '--store-wait', '30', '--sink-wait', '60'],
      { env: { ...process.env, KAFKA_BROKERS: kafkaBrokers }, timeout: 170_000 },
    );
    expect(stdout).toContain('forwarded/s (ingest/s)');
    expect(stderr).toContain("[bench] closing the bench's rabbitmq server");
    const report = JSON.parse(await readFile(out, 'utf8')) as { acked: number; lost: number; ingestPerSec: number; sinks: Record<string, unknown>[] };
    expect(report.acked).toBe(300);
    expect(report.lost).toBe(0);
    expect(report.sinks).toHaveLength(1);
    const [sink] = report.sinks as [{ sink: string; forwarded: number; distinct: number; duplicates: number; lost: number; perSec: number; latencyMs: { p50: unknown; p99: unknown }; drainS: unknown }];
    expect(Object.keys(sink).sort()).toEqual(['distinct', 'drainS', 'duplicates', 'forwarded', 'latencyMs', 'lost', 'perSec', 'sink']);
    // Every reading Kafka acknowledged reached RabbitMQ (at least once: a retried write may repeat some).
    expect(sink).toMatchObject({ sink: 'rabbitmq', lost: 0, distinct: 300 });
    expect(sink.forwarded).toBe(sink.distinct + sink.duplicates);
    expect(sink.perSec).toBeGreaterThan(0);
    expect(sink.latencyMs.p50).toBeTypeOf('number');
    expect(sink.latencyMs.p99).toBeTypeOf('number');
    expect(sink.drainS).toBeTypeOf('number');
  }, 180_000);

  it('loses nothing when the gateway process is killed under load: devices reconnect, resend, and ingest recovers', async () => {
    const out = join(await tempDataDir('sluice-bench-fault-test-'), 'bench.json');
    // Gateway+bridge as its own process (as in production), so the kill hits only the MQTT edge; a 1 s
    // reconnect backoff keeps the run short.
    const { stdout, stderr } = await execFileAsync(
      process.execPath,
      [sluiceBin, 'bench', '--devices', '50', '--rate', '5', '--duration', '20', '--qos', '1', '--split-roles', '--fault', 'gateway-kill@5', '--reconnect-max', '1', '--json', out, '--store-wait', '30'],
      { env: { ...process.env, KAFKA_BROKERS: kafkaBrokers }, timeout: 140_000 },
    );
    expect(stderr).toMatch(/\[bench\] \+5\.\d s gateway-kill: killing \(SIGKILL\) the gateway process/);
    expect(stdout).toContain('fault gateway-kill@5');
    const report = JSON.parse(await readFile(out, 'utf8')) as {
      sent: number;
      acked: number;
      lost: number;
      unacked: number;
      disconnects: number;
      reconnects: number;
      ackMaxMs: number;
      recoveryS: number | null;
      faults: { spec: string; kind: string; target: string; appliedAtS: number; liftedAtS: number; recoveryS: number | null; disconnects: number; minPerSec: number }[];
      timeline: { acked: number[] };
    };
    // Every reading was delivered through the resends, acknowledged, and is in the store.
    expect(report.sent).toBe(5000);
    expect(report.acked).toBe(5000);
    expect(report.unacked).toBe(0);
    expect(report.lost).toBe(0);
    // Each of the 50 devices was connected to the killed process, saw its connection drop and came back.
    expect(report.disconnects).toBeGreaterThanOrEqual(50);
    expect(report.reconnects).toBeGreaterThanOrEqual(50);
    const [fault] = report.faults;
    expect(fault).toMatchObject({ spec: 'gateway-kill@5', kind: 'gateway-kill', target: 'gateway' });
    // The kill stopped ingest (a 1 s window well below the 250/s offered). Whether it reached 0 depends on whether an
    // acknowledgement already on the wire landed in the first second after the kill: not a promise (issue 23).
    expect(fault!.minPerSec).toBeLessThan(50 * 5 * 0.5);
    expect(fault!.appliedAtS).toBeGreaterThanOrEqual(5);
    expect(fault!.liftedAtS).toBeGreaterThan(fault!.appliedAtS);
    expect(fault!.disconnects).toBeGreaterThanOrEqual(50);
    // Ingest came back at the offered rate within the load, and the run's recovery is that fault's.
    expect(fault!.recoveryS).toBeTypeOf('number');
    expect(fault!.recoveryS!).toBeLessThan(20 - fault!.liftedAtS);
    expect(report.recoveryS).toBe(fault!.recoveryS);
    // Messages due while the gateway was down waited (from their first send) until it was back.
    expect(report.ackMaxMs).toBeGreaterThanOrEqual((fault!.liftedAtS - fault!.appliedAtS) * 1000 * 0.9);
    expect(report.timeline.acked.reduce((a, b) => a + b, 0)).toBe(5000);
  }, 150_000);

  it('with two gateways behind its balancer, killing one moves its devices to the other before it is back, and loses nothing', async () => {
    const out = join(await tempDataDir('sluice-bench-gateways-test-'), 'bench.json');
    const { stdout, stderr } = await execFileAsync(
      process.execPath,
      [sluiceBin, 'bench', '--devices', '50', '--rate', '5', '--duration', '25', '--qos', '1', '--gateways', '2', '--fault', 'gateway-kill:1@5+12', '--reconnect-max', '1', '--json', out, '--store-wait', '30'],
      { env: { ...process.env, KAFKA_BROKERS: kafkaBrokers }, timeout: 160_000 },
    );
    expect(stderr).toMatch(/\[bench\] connected 50, refused 0, failed 0 \(per gateway 25 \/ 25\)/);
    expect(stderr).toMatch(/\[bench\] \+5\.\d s gateway-kill: killing \(SIGKILL\) gateway process 1 \(of 2\) \(it held 25 of 50 device connections; 1 other gateway running\)/);
    expect(stdout).toContain('2 behind the bench\'s TCP balancer');
    const report = JSON.parse(await readFile(out, 'utf8')) as {
      sent: number;
      acked: number;
      lost: number;
      gateways: number;
      perGateway: { index: number; connectedAtStart: number; connections: number; restarts: number; cpuPerMessageUs: number | null }[];
      disconnects: number;
      faults: { target: string; gateway: number; heldConnections: number; liftedAtS: number; disconnects: number; reconnectedAtS: number | null }[];
      cpu: { perMessageUs: Record<string, number> };
    };
    expect(report).toMatchObject({ sent: 6250, acked: 6250, lost: 0, gateways: 2 });
    expect(report.perGateway.map((g) => [g.index, g.connectedAtStart, g.restarts])).toEqual([
      [0, 25, 0],
      [1, 25, 1],
    ]);
    // Gateway 0 took the 25 devices of gateway 1 on top of its own.
    expect(report.perGateway[0]!.connections).toBeGreaterThanOrEqual(50);
    expect(Object.keys(report.cpu.perMessageUs)).toEqual(expect.arrayContaining(['gateway+bridge#0', 'gateway+bridge#1', 'writer', 'dashboard']));
    const [fault] = report.faults;
    expect(fault).toMatchObject({ target: 'gateway 1', gateway: 1, heldConnections: 25 });
    // Only the killed gateway's devices dropped, and they were all back (on gateway 0) before it was restarted.
    expect(fault!.disconnects).toBe(25);
    expect(report.disconnects).toBe(25);
    expect(fault!.reconnectedAtS).toBeTypeOf('number');
    expect(fault!.reconnectedAtS!).toBeLessThan(fault!.liftedAtS);
  }, 180_000);
});
