import { Worker } from 'node:worker_threads';

/**
 * Parallel MQTT logins from a thread of their own, so the attacker's client work does not share the event
 * loop that times the good devices. Real mqtt.js clients; resolves with each attempt's CONNACK code
 * (0 accepted, -1 no CONNACK before the connection closed or timed out).
 */
export function loginStorm(options: { port: number; localAddress: string; attempts: { username: string; password: string }[]; connectTimeoutMs?: number }): {
  /** Every attempt's TCP connection is open (its CONNECT is on the way). */
  connected: Promise<void>;
  codes: Promise<number[]>;
} {
  const worker = new Worker(
    `
    const { parentPort, workerData } = require('node:worker_threads');
    const net = require('node:net');
    const { MqttClient } = require('mqtt');
    const { port, localAddress, attempts, connectTimeoutMs } = workerData;
    let connected = 0;
    const open = () => {
      const socket = net.connect({ host: '127.0.0.1', port, localAddress });
      socket.once('connect', () => ++connected === attempts.length && parentPort.postMessage({ connected: true }));
      return socket;
    };
    const attempt = ({ username, password }, i) => new Promise((resolve) => {
      const client = new MqttClient(open, {
        username, password, clientId: 'storm-' + i + '-' + Math.random().toString(36).slice(2, 8), protocolVersion: 4, keepalive: 30,
        reconnectPeriod: 0, connectTimeout: connectTimeoutMs,
      });
      let code;
      client.once('connect', () => { code = 0; client.end(true); });
      client.once('error', (error) => { code = typeof error.code === 'number' ? error.code : -1; client.end(true); });
      client.once('close', () => resolve(code ?? -1));
    });
    Promise.all(attempts.map(attempt)).then((codes) => parentPort.postMessage({ codes }));
    `,
    { eval: true, workerData: { ...options, connectTimeoutMs: options.connectTimeoutMs ?? 30_000 } },
  );
  let onConnected!: () => void;
  const connected = new Promise<void>((resolve) => (onConnected = resolve));
  const codes = new Promise<number[]>((resolve, reject) => {
    worker.on('message', (message: { connected?: boolean; codes?: number[] }) => {
      if (message.connected) onConnected();
      if (message.codes) {
        resolve(message.codes);
        void worker.terminate();
      }
    });
    worker.once('error', reject);
  });
  return { connected, codes };
}
