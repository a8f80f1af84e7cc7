import { describe, expect, it, afterEach } from 'vitest';
import { ErrorCodes } from '../../core/errors.js';
import type { DeviceRegistry, RegistryChange } from '../../core/seams.js';
import { hashSecret } from '../../core/registry/secrets.js';

/**
 * Two registries over one backing store, as two processes (a gateway and `sluice devices`) see it, and ways to
 * reach the store beneath them.
 */
export interface RegistryPair {
  a: DeviceRegistry;
  b: DeviceRegistry;
  /** Everything the backing store holds, as text: where a plain-text secret would show. */
  rawText(): Promise<string>;
  /** Stores an entry for `id` that is not a registration (another version's, or hand-written). */
  writeGarbage(id: string): Promise<void>;
  close(): Promise<void>;
}

/** How long another process may take to see a change (docs/contracts.md §12: "within a second"). */
const PROPAGATION_MS = 1000;

/**
 * The contract both registries keep (docs/contracts.md §12), run against the file registry and the Kafka one:
 * test/unit/registry/registry.test.ts and test/integration/registry-kafka.test.ts.
 */
export function registryContract(name: string, makePair: () => Promise<RegistryPair>): void {
  describe(`device registry contract: ${name}`, () => {
    const pairs: RegistryPair[] = [];
    afterEach(async () => {
      for (const pair of pairs.splice(0)) await pair.close();
    });
    const open = async () => {
      const pair = await makePair();
      pairs.push(pair);
      await pair.a.open();
      await pair.b.open();
      return pair;
    };
    const seenBy = (registry: DeviceRegistry, id: string, present = true) =>
      expect.poll(() => registry.get(id) !== undefined, { timeout: PROPAGATION_MS, interval: 20 }).toBe(present);

    it('a device added in one process logs in on another within a second, with its secret and no other', async () => {
      const { a, b } = await open();
      const [created] = await a.add(['dev-1']);
      expect(a.get('dev-1')).toMatchObject({ id: 'dev-1', secretHash: 'hmac-sha256' });
      await seenBy(b, 'dev-1');
      expect(await b.verify('dev-1', created!.secret)).toBe(true);
      expect(await b.verify('dev-1', `${created!.secret}x`)).toBe(false);
      expect(await b.verify('nobody', created!.secret)).toBe(false);
    });

    it('keeps no secret in plain text; a chosen secret is kept with scrypt, a generated one with a salted HMAC', async () => {
      const { a, b, rawText } = await open();
      const [generated] = await a.add(['gen-1']);
      await a.add(['chosen-1'], { secret: { value: 'correct horse battery staple', origin: 'chosen' } });
      const raw = await rawText();
      expect(raw).toContain('gen-1');
      expect(raw).not.toContain(generated!.secret);
      expect(raw).not.toContain('correct horse');
      await seenBy(b, 'chosen-1');
      expect(b.get('chosen-1')?.secretHash).toBe('scrypt');
      expect(b.get('gen-1')?.secretHash).toBe('hmac-sha256');
      expect(await b.verify('chosen-1', 'correct horse battery staple')).toBe(true);
      expect(await b.verify('chosen-1', 'correct horse battery stapler')).toBe(false);
    });

    it('a removal anywhere ends the device everywhere: the other process is told (to close sessions) and refuses it', async () => {
      const { a, b } = await open();
      const [created] = await a.add(['gone-1', 'stays-1']);
      await seenBy(b, 'gone-1');
      const changes: RegistryChange[] = [];
      b.onChange((change) => changes.push(change));
      expect(await a.remove('gone-1')).toBe(true);
      expect(await a.remove('gone-1')).toBe(false);
      await expect.poll(() => changes, { timeout: PROPAGATION_MS, interval: 20 }).toEqual([{ deviceId: 'gone-1', change: 'removed' }]);
      expect(await b.verify('gone-1', created!.secret)).toBe(false);
      expect(b.get('stays-1')).toBeDefined();
    });

    it('disabling keeps the registration and tells every process; enabling lets the device in again', async () => {
      const { a, b } = await open();
      await a.add(['dis-1']);
      await seenBy(b, 'dis-1');
      const changes: RegistryChange[] = [];
      b.onChange((change) => changes.push(change));
      expect(await a.setDisabled('dis-1', true)).toBe(true);
      await expect.poll(() => changes, { timeout: PROPAGATION_MS, interval: 20 }).toEqual([{ deviceId: 'dis-1', change: 'disabled' }]);
      expect(b.get('dis-1')?.disabled).toBe(true);
      expect(await a.setDisabled('dis-1', false)).toBe(true);
      await expect.poll(() => b.get('dis-1')?.disabled, { timeout: PROPAGATION_MS, interval: 20 }).toBeUndefined();
      expect(await a.setDisabled('nobody', true)).toBe(false);
    });

    it('a forced payload format is set, seen elsewhere, and cleared; unknown devices are refused', async () => {
      const { a, b } = await open();
      await a.add(['fmt-1'], { format: 'senml' });
      await expect.poll(() => b.get('fmt-1')?.format, { timeout: PROPAGATION_MS, interval: 20 }).toBe('senml');
      expect(await a.setFormat('fmt-1', undefined)).toBe(true);
      await expect.poll(() => b.get('fmt-1')?.format, { timeout: PROPAGATION_MS, interval: 20 }).toBeUndefined();
      expect(await a.setFormat('nobody', 'senml')).toBe(false);
    });

    it('registering a device again gives it a new secret: the old one stops working, its creation time stays', async () => {
      const { a, b } = await open();
      const [first] = await a.add(['again-1']);
      await seenBy(b, 'again-1');
      const createdAt = b.get('again-1')!.createdAt;
      expect(await b.verify('again-1', first!.secret)).toBe(true);
      expect(b.verifyRemembered('again-1', first!.secret)).toBe(true);
      const [second] = await a.add(['again-1']);
      await expect.poll(() => b.verify('again-1', second!.secret), { timeout: PROPAGATION_MS, interval: 20 }).toBe(true);
      expect(b.verifyRemembered('again-1', first!.secret)).toBe(false);
      expect(await b.verify('again-1', first!.secret)).toBe(false);
      expect(b.get('again-1')!.createdAt).toBe(createdAt);
    });

    it('imports registrations with their hashes: the devices keep their secrets', async () => {
      const { a, b } = await open();
      // An entry of another registry's devices.json, hash and all, as `sluice devices import` reads it.
      const fromFile = { hash: await hashSecret('a secret from the old registry', 'chosen'), createdAt: '2026-01-02T03:04:05.000Z', format: 'json' as const };
      expect(await b.import({ 'imp-1': fromFile })).toBe(1);
      await seenBy(a, 'imp-1');
      expect(await a.verify('imp-1', 'a secret from the old registry')).toBe(true);
      expect(a.get('imp-1')).toMatchObject({ createdAt: fromFile.createdAt, format: 'json', secretHash: 'scrypt' });
    });

    it('refuses an invalid device id and adds none of the batch', async () => {
      const { a } = await open();
      await expect(a.add(['ok-1', 'not ok/'])).rejects.toMatchObject({ code: ErrorCodes.DEVICE_ID_INVALID });
      expect(a.list()).toEqual([]);
    });

    it('an entry that is not a registration admits nobody and breaks nothing else', async () => {
      const { a, b, writeGarbage } = await open();
      const [created] = await a.add(['bad-1', 'good-1']);
      await seenBy(b, 'bad-1');
      await writeGarbage('bad-1');
      await seenBy(b, 'bad-1', false);
      expect(await b.verify('bad-1', created!.secret)).toBe(false);
      expect(b.get('good-1')).toBeDefined();
      expect(b.health().ready).toBe(true);
    });
  });
}
