import { describe, expectTypeOf, it } from 'vitest';
import type { AlertTransition as CoreAlertTransition, RulesReport as CoreRulesReport } from '../../../core/alerts.js';
import type { DeviceEvent, Reading } from '../../../core/reading.js';
import type { DeviceSummary } from '../../../core/seams.js';
import type { AlertTransition, DeviceEventMessage, DeviceStatusName, FleetRow, LatestValues, LiveReading, RulesReport } from '../../../dashboard/protocol.js';

/**
 * dashboard/protocol.ts is compiled for the browser too, without Node's types; it takes core's types from the
 * Node-free core/reading.ts and core/reports.ts. Checked when the tests are type-checked (`npm run typecheck`):
 * a protocol type that drifts from what core/seams.ts exports fails to compile.
 */
describe('dashboard protocol: the types it takes from core are core’s own', () => {
  it('DeviceStatusName is the status of a DeviceSummary', () => {
    expectTypeOf<DeviceStatusName>().toEqualTypeOf<DeviceSummary['status']>();
  });

  it('LatestValues are the latest values of a DeviceSummary', () => {
    expectTypeOf<LatestValues>().toEqualTypeOf<DeviceSummary['latest']>();
  });

  it('a FleetRow is a DeviceSummary with rates', () => {
    expectTypeOf<Omit<FleetRow, 'msgsPerSec' | 'readingsPerSec'>>().toEqualTypeOf<DeviceSummary>();
  });

  it('what protocol.ts takes from core/reading.ts is core’s own type', () => {
    expectTypeOf<DeviceEventMessage>().toEqualTypeOf<DeviceEvent>();
    expectTypeOf<LiveReading>().toEqualTypeOf<Omit<Reading, 'tags'>>();
  });

  it('the alert transition and the rules report are core/alerts.ts’s own', () => {
    expectTypeOf<AlertTransition>().toEqualTypeOf<CoreAlertTransition>();
    expectTypeOf<RulesReport>().toEqualTypeOf<CoreRulesReport>();
  });
});
