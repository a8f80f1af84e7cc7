/** Installing what is missing: the Debian packages that bring the commands the tests rely on. */
import { accessSync, constants as fsConstants, statSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { LOG_TAIL_LINES, runCommand, tail, type Log } from './helpers.js';

/** Commands the tests rely on, and the Debian package that brings each one. */
const DEBIAN_TOOLS: readonly { command: string; pkg: string }[] = [
  { command: 'java', pkg: 'openjdk-17-jre-headless' },
  { command: 'mvn', pkg: 'maven' },
  { command: 'victoria-metrics', pkg: 'victoria-metrics' },
  { command: 'mosquitto_pub', pkg: 'mosquitto-clients' },
  { command: 'mosquitto_sub', pkg: 'mosquitto-clients' },
  { command: 'mosquitto', pkg: 'mosquitto' },
  { command: 'rabbitmq-server', pkg: 'rabbitmq-server' },
  // The dashboard's end-to-end tests drive Debian's Chromium (never a downloaded browser build).
  { command: 'chromium', pkg: 'chromium' },
];

export async function ensureDebianTools(log: Log): Promise<void> {
  const missing = [...new Set(DEBIAN_TOOLS.filter((tool) => findCommand(tool.command) === undefined).map((tool) => tool.pkg))];
  if (missing.length === 0) return;
  if (process.getuid?.() !== 0) throw new Error(`missing Debian packages; as root run: apt-get install -y ${missing.join(' ')}`);
  log(`installing Debian packages: ${missing.join(' ')}`);
  const install = (): Promise<{ code: number; output: string }> =>
    runCommand('apt-get', ['install', '-y', '--no-install-recommends', ...missing], {
      env: { DEBIAN_FRONTEND: 'noninteractive' },
      progress: { log, label: 'apt-get install still running' },
    });
  let result = await install();
  if (result.code !== 0) {
    // A machine fresh from its image often has no package lists yet.
    log('apt-get install failed; running apt-get update once and retrying');
    await runCommand('apt-get', ['update'], { progress: { log, label: 'apt-get update still running' } });
    result = await install();
  }
  if (result.code !== 0) throw new Error(`apt-get install ${missing.join(' ')} failed:\n${tail(result.output, LOG_TAIL_LINES)}`);
}

/** Like `command -v`, plus the sbin dirs a non-login root shell may lack (mosquitto lives in /usr/sbin). */
export function findCommand(command: string): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/local/sbin', '/usr/sbin', '/sbin'];
  for (const dir of dirs.filter(Boolean)) {
    const candidate = join(dir, command);
    try {
      accessSync(candidate, fsConstants.X_OK);
      if (statSync(candidate).isFile()) return candidate;
    } catch {
      // not in this dir
    }
  }
  return undefined;
}
