import { createServer } from 'node:net';

/**
 * Local TCP ports, for what starts servers of its own: the services (scripts/services/), the private Kafka cluster
 * (kafka-cluster.ts), the bench's processes and the tests. Here, under scripts/, so that none of them depends on
 * another for it.
 */

/** A port the kernel had free on 127.0.0.1 a moment ago (it may be taken again before it is used). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** Whether nothing listens on 127.0.0.1:`port` (it could be bound just now). */
export function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}
