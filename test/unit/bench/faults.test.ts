import { describe, expect, it } from 'vitest';
import { FaultSpecError, parseFaultSpec, validateFaults, type FaultContext } from '../../../bench/faults.js';

describe('bench fault specs', () => {
  it.each([
    ['broker-kill:leader@20+20', { kind: 'broker-kill', broker: 'leader', atS: 20, forS: 20 }],
    ['broker-stop:2@15', { kind: 'broker-stop', broker: 2, atS: 15, forS: 20 }],
    ['broker-kill:0@7.5s+12.5s', { kind: 'broker-kill', broker: 0, atS: 7.5, forS: 12.5 }],
    ['kafka-down@30+10', { kind: 'kafka-down', atS: 30, forS: 10 }],
    ['store-down@10', { kind: 'store-down', atS: 10, forS: 20 }],
    ['writer-kill@20', { kind: 'writer-kill', atS: 20, forS: 0 }],
    ['writer-kill@20+5', { kind: 'writer-kill', atS: 20, forS: 5 }],
    ['gateway-restart@8', { kind: 'gateway-restart', atS: 8, forS: 0 }],
    [' gateway-kill@0+2 ', { kind: 'gateway-kill', atS: 0, forS: 2, text: 'gateway-kill@0+2' }],
    ['gateway-kill:1@20', { kind: 'gateway-kill', gateway: 1, atS: 20, forS: 0 }],
    ['gateway-restart:0@8+2', { kind: 'gateway-restart', gateway: 0, atS: 8, forS: 2 }],
  ])('parses %s', (spec, expected) => {
    expect(parseFaultSpec(spec)).toMatchObject({ text: spec.trim(), ...expected });
  });

  it('has no broker for faults without a target, and no gateway index unless one is given', () => {
    expect('broker' in parseFaultSpec('kafka-down@30+10')).toBe(false);
    expect('gateway' in parseFaultSpec('gateway-kill@20')).toBe(false);
  });

  it.each([
    ['', /empty fault spec; one of: broker-stop:N@T/],
    ['broker-crash:1@20', /"broker-crash:1@20": unknown fault "broker-crash"; one of broker-stop, broker-kill, kafka-down/],
    ['broker-kill@20', /"broker-kill@20": broker-kill needs a broker: broker-kill:<index\|leader>@T\[\+D\], e.g. broker-kill:leader@20\+20/],
    ['broker-kill:@20', /broker-kill needs a broker/],
    ['broker-stop:first@20', /the broker must be "leader" or a broker index \(0, 1, 2\), got "first"/],
    ['broker-stop:-1@20', /the broker must be "leader" or a broker index/],
    ['kafka-down:1@20+5', /"kafka-down:1@20\+5": kafka-down takes no target \(":1"\); write kafka-down@20\+20/],
    ['gateway-kill:first@20', /"gateway-kill:first@20": the gateway must be an index \(0, 1, … up to --gateways − 1\), got "first"/],
    ['gateway-restart:@20', /the gateway must be an index/],
    ['gateway-kill', /"gateway-kill": missing @T, the second of the load at which the fault starts, e.g. gateway-kill@20$/],
    ['broker-kill:leader', /missing @T/],
    ['store-down@soon+5', /"store-down@soon\+5": T \(after @\) must be seconds ≥ 0 \(e.g. 20 or 7.5\), got "soon"/],
    ['store-down@-3+5', /T \(after @\) must be seconds ≥ 0/],
    ['store-down@10+', /D \(after \+\) must be seconds ≥ 0 \(e.g. 20 or 7.5\), got ""/],
    ['store-down@10+5m', /D \(after \+\) must be seconds ≥ 0 .*got "5m"/],
  ])('refuses %j with a clear message', (spec, message) => {
    expect(() => parseFaultSpec(spec)).toThrow(FaultSpecError);
    expect(() => parseFaultSpec(spec)).toThrow(message);
  });
});

describe('bench fault validation against the run', () => {
  const own: FaultContext = { kafkaNodes: 3, splitRoles: true, ownStore: true, durationS: 90, gateways: 1 };
  const faults = (...specs: string[]) => specs.map(parseFaultSpec);

  it('accepts a fault table that fits the run', () => {
    expect(validateFaults(faults('broker-kill:leader@20+20', 'store-down@10+10', 'writer-kill@30', 'gateway-restart@60', 'kafka-down@50+10'), own)).toEqual([]);
  });

  it('refuses to stop brokers of a Kafka the bench did not start', () => {
    const problems = validateFaults(faults('broker-stop:1@10+5', 'kafka-down@30+5', 'gateway-kill@50'), { ...own, kafkaNodes: undefined });
    expect(problems).toEqual([
      'broker-stop:1@10+5: stops Kafka brokers, so it needs the bench\'s own cluster: add --kafka-nodes 3 (the bench never stops a broker it did not start)',
      'kafka-down@30+5: stops Kafka brokers, so it needs the bench\'s own cluster: add --kafka-nodes 3 (the bench never stops a broker it did not start)',
    ]);
  });

  it('refuses a broker index the cluster does not have', () => {
    expect(validateFaults(faults('broker-kill:3@10'), own)).toEqual(['broker-kill:3@10: the bench\'s cluster has 3 brokers (indexes 0–2)']);
    expect(validateFaults(faults('broker-kill:1@10'), { ...own, kafkaNodes: 1 })).toEqual(['broker-kill:1@10: the bench\'s cluster has 1 broker (index 0)']);
  });

  it('needs --split-roles for writer-kill and the bench\'s own store for store-down', () => {
    expect(validateFaults(faults('writer-kill@10', 'store-down@20+5'), { ...own, splitRoles: false, ownStore: false })).toEqual([
      'writer-kill@10: the writer is a process of its own only with --split-roles (without it, gateway-kill kills the one Sluice process)',
      'store-down@20+5: stops the bench\'s own store, so not with --influx (the bench never stops a store it did not start)',
    ]);
  });

  it('refuses a gateway index the run does not have', () => {
    expect(validateFaults(faults('gateway-kill:1@10'), own)).toEqual(['gateway-kill:1@10: the bench runs 1 gateway (index 0); add --gateways N for more']);
    expect(validateFaults(faults('gateway-kill:2@10', 'gateway-restart:1@20'), { ...own, gateways: 2 })).toEqual(['gateway-kill:2@10: the bench runs 2 gateways (indexes 0–1)']);
    expect(validateFaults(faults('gateway-kill:0@10'), own)).toEqual([]);
  });

  it('refuses a fault that does not end before the load does', () => {
    expect(validateFaults(faults('broker-kill:leader@20'), { ...own, durationS: 30 })).toEqual([
      'broker-kill:leader@20: ends at 40 s, not before the load does (--duration 30); recovery could not be measured',
    ]);
  });

  it('refuses overlapping faults on the same component, not on different ones', () => {
    expect(validateFaults(faults('broker-kill:0@10+20', 'kafka-down@25+5'), own)).toEqual([
      'broker-kill:0@10+20 and kafka-down@25+5 overlap on kafka: let one end before the next starts',
    ]);
    expect(validateFaults(faults('broker-kill:0@10+20', 'store-down@15+5', 'gateway-kill@20'), own)).toEqual([]);
  });

  it('lets faults on two different gateways overlap, not two on the same one', () => {
    const two = { ...own, gateways: 2 };
    expect(validateFaults(faults('gateway-kill:0@10+20', 'gateway-kill:1@15+5'), two)).toEqual([]);
    // No index is gateway 0.
    expect(validateFaults(faults('gateway-kill@10+20', 'gateway-restart:0@15'), two)).toEqual(['gateway-kill@10+20 and gateway-restart:0@15 overlap on gateway 0: let one end before the next starts']);
  });
});
