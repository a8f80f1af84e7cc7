import { execFile } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface TestCertificates {
  dir: string;
  ca: string;
  serverCert: string;
  serverKey: string;
  client(cn: string): Promise<{ cert: string; key: string }>;
}

/** A throwaway CA with a server certificate for 127.0.0.1 and client certificates on demand (openssl). */
export async function makeTestCertificates(): Promise<TestCertificates> {
  const dir = await mkdtemp(join(tmpdir(), 'sluice-certs-'));
  const path = (name: string) => join(dir, name);
  const ecKey = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  await run('openssl', ['req', '-x509', ...ecKey, '-keyout', path('ca.key'), '-out', path('ca.crt'), '-subj', '/CN=sluice-test-ca', '-days', '2']);
  await writeFile(path('server.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  const sign = async (name: string, cn: string, ext?: string) => {
    await run('openssl', ['req', ...ecKey, '-keyout', path(`${name}.key`), '-out', path(`${name}.csr`), '-subj', `/CN=${cn}`]);
    await run('openssl', ['x509', '-req', '-in', path(`${name}.csr`), '-CA', path('ca.crt'), '-CAkey', path('ca.key'), '-CAcreateserial', '-out', path(`${name}.crt`), '-days', '2', ...(ext ? ['-extfile', ext] : [])]);
    return { cert: path(`${name}.crt`), key: path(`${name}.key`) };
  };
  const server = await sign('server', 'localhost', path('server.ext'));
  return {
    dir,
    ca: path('ca.crt'),
    serverCert: server.cert,
    serverKey: server.key,
    client: (cn) => sign(`client-${cn}`, cn),
  };
}
