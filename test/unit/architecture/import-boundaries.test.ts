import { join } from 'node:path';
import { ESLint } from 'eslint';
import { describe, expect, it } from 'vitest';

/** The import rules of ARCHITECTURE.md, as lint enforces them: each probe is linted as if it lived at `file`. */
const root = join(import.meta.dirname, '..', '..', '..');
const eslint = new ESLint({ cwd: root });

async function restrictedImports(file: string, source: string): Promise<string[]> {
  const [result] = await eslint.lintText(source, { filePath: join(root, file) });
  return result!.messages.filter((m) => m.ruleId === 'no-restricted-imports').map((m) => m.message);
}

describe('import boundaries (ARCHITECTURE.md)', () => {
  it.each([
    ['gateway/probe.ts', "import type { Bridge } from '../bridge/bridge.js';\nexport type X = Bridge;\n", /do not import bridge\//],
    ['bridge/probe.ts', "import type { Writer } from '../consumers/writer.js';\nexport type X = Writer;\n", /do not import consumers\//],
    ['consumers/probe.ts', "import type { Dashboard } from '../dashboard/dashboard.js';\nexport type X = Dashboard;\n", /do not import dashboard\//],
    ['dashboard/probe.ts', "import type { Gateway } from '../gateway/gateway.js';\nexport type X = Gateway;\n", /do not import gateway\//],
    ['gateway/probe.ts', "import type { startSluice } from '../cli/start.js';\nexport type X = typeof startSluice;\n", /do not import cli\//],
    ['core/probe.ts', "import type { Gateway } from '../gateway/gateway.js';\nexport type X = Gateway;\n", /do not import gateway\//],
    ['dashboard/probe.ts', "import { Kafka } from '../core/streams/kafkajs.js';\nexport const k = Kafka;\n", /only core\/streams\/ touches the Kafka client/],
    ['consumers/probe.ts', "import { Kafka } from 'kafkajs';\nexport const k = Kafka;\n", /loads kafkajs' patches first/],
    ['consumers/probe.ts', "import { createKafkaBus } from '../core/streams/kafka.js';\nexport const k = createKafkaBus;\n", /the roles in cli\/roles\/ choose and open the adapters/],
    ['bridge/probe.ts', "import type { KafkaConnection } from '../core/streams/connection.js';\nexport type X = KafkaConnection;\n", /the roles in cli\/roles\/ choose and open the adapters/],
    ['consumers/probe.ts', "import { createInfluxStore } from './stores/influx.js';\nexport const s = createInfluxStore;\n", /the roles in cli\/roles\/ open the InfluxDB store/],
    ['scripts/probe.ts', "import { startSluiceChild } from '../bench/processes.js';\nexport const s = startSluiceChild;\n", /scripts\/ import core\/ and scripts\/ only: do not import bench\//],
    ['scripts/services/probe.ts', "import type { TestBrowser } from '../../test/support/browser.js';\nexport type X = TestBrowser;\n", /do not import test\//],
  ])('%s: refuses %s', async (file, source, message) => {
    expect(await restrictedImports(file, source)).toEqual([expect.stringMatching(message)]);
  });

  it.each([
    ['gateway/probe.ts', "import type { Ingest } from '../core/seams.js';\nexport type X = Ingest;\n"],
    ['core/streams/probe.ts', "import { Kafka } from './kafkajs.js';\nexport const k = Kafka;\n"],
    ['bench/baselines-probe.ts', "import type { Gateway } from '../gateway/gateway.js';\nexport type X = Gateway;\n"],
    ['test/support/probe.ts', "import { Kafka } from '../../core/streams/kafkajs.js';\nexport const k = Kafka;\n"],
    ['scripts/probe.ts', "import { Kafka } from '../core/streams/kafkajs.js';\nimport { freePort } from './ports.js';\nexport const x = [Kafka, freePort];\n"],
    ['bench/probe.ts', "import { freePort } from '../scripts/ports.js';\nexport const f = freePort;\n"],
    ['cli/roles/probe.ts', "import { createKafkaBus } from '../../core/streams/kafka.js';\nimport { createInfluxStore } from '../../consumers/stores/influx.js';\nexport const x = [createKafkaBus, createInfluxStore];\n"],
  ])('%s: allows %s', async (file, source) => {
    expect(await restrictedImports(file, source)).toEqual([]);
  });
});
