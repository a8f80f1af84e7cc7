import { MessageChannel } from 'node:worker_threads';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ErrorCodes } from '../../../core/errors.js';
import { createDeviceRegistry } from '../../../core/registry/registry.js';
import { fileRegistryBacking } from '../../../core/registry/file-backing.js';
import { loadDashboardToken } from '../../../dashboard/token.js';
import { readCredentials } from '../../../simulators/credentials.js';
import { runBridgeInThread } from '../../../bridge/bridge-in-thread.js';
import { defaultNormalizeOptions } from '../../../bridge/normalize/index.js';
import type { FromBridgeThread, ToBridgeThread } from '../../../bridge/bridge-protocol.js';

/** Errors that leave their module carry a code of core/errors.ts, so callers branch on it rather than on text. */
const tempDir = () => mkdtemp(join(tmpdir(), 'sluice-codes-'));

describe('error codes', () => {
  it('DEVICE_ID_INVALID: the registry refuses a device id outside its pattern, and adds none of the batch', async () => {
    const registry = createDeviceRegistry(fileRegistryBacking(await tempDir()));
    await registry.open();
    await expect(registry.add(['ok-1', 'not ok/'])).rejects.toMatchObject({ code: ErrorCodes.DEVICE_ID_INVALID, retriable: false, message: expect.stringContaining('"not ok/"') });
    expect(registry.list()).toEqual([]);
    await registry.close();
  });

  it('DASHBOARD_TOKEN_INVALID: a damaged token digest file', async () => {
    const dataDir = await tempDir();
    await writeFile(join(dataDir, 'dashboard-token.sha256'), 'not a digest\n');
    await expect(loadDashboardToken(dataDir, undefined)).rejects.toMatchObject({
      code: ErrorCodes.DASHBOARD_TOKEN_INVALID,
      retriable: false,
      details: { path: join(dataDir, 'dashboard-token.sha256') },
    });
  });

  it.each([
    ['not JSON', '{"dev-1": '],
    ['not an object', '["dev-1"]'],
    ['a device without its secret', '{"dev-1": {"secret": "s"}, "dev-2": {}}'],
  ])('CREDENTIALS_INVALID: a credentials file that is %s', async (_what, text) => {
    const path = join(await tempDir(), 'devices.json');
    await writeFile(path, text);
    await expect(readCredentials(path)).rejects.toMatchObject({ code: ErrorCodes.CREDENTIALS_INVALID, details: { path } });
  });

  it('KAFKA_UNAVAILABLE, retriable: a bridge thread handed a publish before it is ready refuses it as the restarting bridge does', async () => {
    const { port1, port2 } = new MessageChannel();
    const input = { bridge: { lingerMs: 5, maxBatchRecords: 100, maxInflightRecords: 100, normalize: defaultNormalizeOptions }, producers: 1, logLevel: 'silent' };
    // Producers that never open: the thread stays not ready.
    runBridgeInThread(port1, input, () => new Promise(() => {}));
    const settled = new Promise<FromBridgeThread>((resolve) => port2.on('message', (message: FromBridgeThread) => message.type === 'settled' && resolve(message)));
    port2.postMessage({ type: 'event', id: 7, event: { deviceId: 'd1', type: 'online', reason: 'connected', ts: 1 } } satisfies ToBridgeThread);
    try {
      expect(await settled).toMatchObject({ failed: [{ id: 7, error: { code: ErrorCodes.KAFKA_UNAVAILABLE, retriable: true, message: 'bridge thread not ready' } }] });
    } finally {
      port2.close();
    }
  });
});
