/**
 * vitest globalSetup for the integration and e2e projects: makes real Kafka and VictoriaMetrics available
 * (docs/contracts.md §15). Servers someone else runs win: when KAFKA_BROKERS and INFLUX_URL are both set they are used
 * as they are. Otherwise scripts/services.ts starts (or reuses) local ones.
 *
 * Tests read the addresses with `inject('kafkaBrokers')` / `inject('influxUrl')`; they are also in
 * process.env, which the worker processes inherit because they start after global setup.
 */
import type { TestProject } from 'vitest/node';
import { servicesDown, servicesUp } from '../../scripts/services.js';

declare module 'vitest' {
  export interface ProvidedContext {
    kafkaBrokers: string;
    influxUrl: string;
  }
}

/** Progress lines, and the error itself (stack, code, cause) when there is one. */
const log = (line: string, fields: { err?: unknown } = {}): void => console.error(`[services] ${line}`, ...(fields.err === undefined ? [] : [fields.err]));

export default async function setup({ provide }: TestProject): Promise<() => Promise<void>> {
  let startedByUs: string[] = [];
  const { KAFKA_BROKERS, INFLUX_URL } = process.env;
  if (KAFKA_BROKERS && INFLUX_URL) {
    provide('kafkaBrokers', KAFKA_BROKERS);
    provide('influxUrl', INFLUX_URL);
  } else {
    const up = await servicesUp({ log });
    startedByUs = up.startedByUs;
    // A second project running this setup in the same vitest process then reuses these as external.
    process.env.KAFKA_BROKERS = up.kafkaBrokers;
    process.env.INFLUX_URL = up.influxUrl;
    provide('kafkaBrokers', up.kafkaBrokers);
    provide('influxUrl', up.influxUrl);
  }

  return async () => {
    // Services that were already running belong to whoever started them, so only ours are stopped.
    if (startedByUs.length === 0 || process.env.SLUICE_KEEP_SERVICES === '1') return;
    await servicesDown({ only: startedByUs, log });
  };
}
