import type { Logger } from '../logger.js';
import type { CompactedTable, StoredRegistration } from '../seams.js';
import { decodeRegistrationBytes, encodeRegistration } from './record.js';
import type { RegistryBacking } from './registry.js';

/**
 * The registry in production (docs/contracts.md §12): the compacted topic `{prefix}.devices`, key = device id,
 * value = the registration (a tombstone removes it). Read to its end before a gateway accepts connections, then
 * followed, so a change made anywhere reaches every gateway within the table's fetch wait.
 */
export function tableRegistryBacking(table: CompactedTable, options: { logger?: Logger } = {}): RegistryBacking {
  const log = options.logger?.child({ module: 'registry' });
  let readToEnd = false;
  let skipped = 0;

  return {
    kind: 'kafka',
    async open(apply) {
      await table.follow((records) => {
        const changes = new Map<string, StoredRegistration | undefined>();
        for (const record of records) {
          if (record.value === null) {
            changes.set(record.key, undefined);
            continue;
          }
          const registration = decodeRegistrationBytes(record.value);
          if ('problem' in registration) {
            // Written by another version or by hand: this device cannot be verified, so it is not admitted.
            skipped++;
            log?.error({ deviceId: record.key, problem: registration.problem }, 'registration skipped: this device cannot log in until it is registered again');
            changes.set(record.key, undefined);
          } else {
            changes.set(record.key, registration);
          }
        }
        apply(changes);
      });
      readToEnd = true;
    },

    write: (changes) => table.write([...changes].map(([key, registration]) => ({ key, value: registration ? encodeRegistration(registration) : null }))),

    health() {
      const table_ = table.health();
      const notes = [
        ...(readToEnd ? [] : ['the registry topic is not read to its end yet']),
        ...(table_.note ? [table_.note] : []),
        ...(skipped > 0 ? [`${skipped} registration record(s) could not be read (see the log); those devices are refused`] : []),
      ];
      return { ready: readToEnd && table_.following, ...(notes.length > 0 ? { note: notes.join('; ') } : {}) };
    },

    close: () => table.close(),
  };
}
