/**
 * A Kinesis API of its own (kinesis-local, the kinesis-mock emulator compiled to JavaScript, docs/contracts.md §15)
 * for the Kinesis sink's tests and `sluice bench --sink kinesis`: its own ports and data file, so stopping it never
 * touches a server anything else uses.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, openSync, readFileSync, writeSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import {
  CreateStreamCommand,
  DescribeStreamSummaryCommand,
  GetRecordsCommand,
  GetShardIteratorCommand,
  KinesisClient,
  ListShardsCommand,
  ListStreamsCommand,
  type GetShardIteratorCommandInput,
} from '@aws-sdk/client-kinesis';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { LOG_TAIL_LINES, POLL_MS, PROGRESS_EVERY_MS, seconds, tail } from '../services/helpers.js';
import { freePort } from '../ports.js';
import type { ForwardedMessage, PrivateSinkServer } from './types.js';

export interface PrivateKinesisOptions {
  /** The stream is `{topicPrefix}.telemetry`; default a random `sinktest-xxxx`. */
  topicPrefix?: string;
  log?: (line: string) => void;
  /** Default 2. */
  shards?: number;
  /** How long a start may take before it fails with the log's tail. Default 60 s (a slow machine; ~1 s usual). */
  startDeadlineMs?: number;
}

export interface PrivateKinesis extends PrivateSinkServer {
  readonly sink: 'kinesis';
  readonly stream: string;
  /** http://127.0.0.1:port: the outage gate in front of the emulator's plain-HTTP port. */
  readonly endpoint: string;
  readonly region: string;
  /** The data file and the server's output. */
  readonly dir: string;
}

const REGION = 'us-east-1';
/**
 * The emulator writes its whole state to a JSON file this often, and once more when SIGTERM ends it. A SIGKILL loses
 * what came since the last write — records the sink was told were stored. And after SIGTERM it stops its persist
 * loop but keeps answering on open keep-alive connections until they go idle (it acknowledged PutRecords for 12 s in
 * a trial): records the final write may or may not hold. So `stop()` first shuts a TCP gate of ours in front of it
 * (every connection cut, new ones refused: the outage the sink sees), then sends SIGTERM to a server nobody can
 * reach any more, which then persists everything it acknowledged and exits.
 */
const PERSIST_INTERVAL = '1s';
const STOP_GRACE_MS = 20_000;
const CONSUME_IDLE_POLL_MS = 200;

export async function startPrivateKinesis(options: PrivateKinesisOptions = {}): Promise<PrivateKinesis> {
  const log = options.log ?? ((line: string) => process.stderr.write(`kinesis: ${line}\n`));
  const mainJs = emulatorPath();
  const prefix = options.topicPrefix ?? `sinktest-${randomBytes(3).toString('hex')}`;
  const stream = `${prefix}.telemetry`;
  const shards = options.shards ?? 2;
  const deadlineMs = options.startDeadlineMs ?? 60_000;
  const dir = await mkdtemp(join(tmpdir(), 'sluice-kinesis-'));
  const [gatePort, plainPort, tlsPort] = [await freePort(), await freePort(), await freePort()];
  const endpoint = `http://127.0.0.1:${gatePort}`;
  const gate = createGate(gatePort, plainPort);
  const outFile = join(dir, 'server.out');
  const credentials = { accessKeyId: 'sluice-test', secretAccessKey: 'sluice-test' };
  // Straight to the emulator: starting and stopping look at it, whether the gate is open or not.
  const admin = new KinesisClient({
    region: REGION,
    endpoint: `http://127.0.0.1:${plainPort}`,
    credentials,
    maxAttempts: 1,
    // No kept-alive connection of ours may hold the emulator's SIGTERM up (see PERSIST_INTERVAL).
    requestHandler: new NodeHttpHandler({ connectionTimeout: 2_000, requestTimeout: 10_000, throwOnRequestTimeout: true, httpAgent: { keepAlive: false } }),
  });
  let child: ChildProcess | undefined;
  let exitReason: string | undefined;

  function launch(): void {
    const out = openSync(outFile, 'a');
    writeSync(out, `\n--- ${new Date().toISOString()} ${process.execPath} ${mainJs}\n`);
    exitReason = undefined;
    // Not detached: the server ends with the test process rather than outliving it on its ports.
    const started = spawn(process.execPath, [mainJs], {
      cwd: dir,
      env: {
        PATH: process.env.PATH ?? '',
        KINESIS_MOCK_PLAIN_PORT: String(plainPort),
        KINESIS_MOCK_TLS_PORT: String(tlsPort),
        // The TLS port's self-signed certificate, looked up in the cwd unless named.
        KINESIS_MOCK_CERT_PATH: join(dirname(mainJs), 'server.json'),
        AWS_REGION: REGION,
        SHOULD_PERSIST_DATA: 'true',
        LOAD_DATA_IF_EXISTS: 'true',
        PERSIST_PATH: join(dir, 'data'),
        PERSIST_INTERVAL,
        // Stream creation is instant at 0; a little delay keeps the ACTIVE wait honest without slowing the tests.
        CREATE_STREAM_DURATION: '200ms',
        LOG_LEVEL: 'WARN',
      },
      stdio: ['ignore', out, out],
    });
    closeSync(out);
    started.once('error', (error) => (exitReason = error.message));
    started.once('exit', (code, signal) => (exitReason = signal ? `killed by ${signal}` : `exit code ${code}`));
    child = started;
    log(`launched pid ${started.pid ?? '?'} on port ${plainPort} behind ${endpoint}, data in ${dir}`);
  }

  async function answers(): Promise<boolean> {
    try {
      await admin.send(new ListStreamsCommand({}), { abortSignal: AbortSignal.timeout(2_000) });
      return true;
    } catch {
      return false;
    }
  }

  async function waitUntil(what: string, done: () => Promise<boolean>): Promise<void> {
    const started = Date.now();
    let nextProgress = started + PROGRESS_EVERY_MS;
    for (;;) {
      if (await done()) return;
      if (exitReason !== undefined) throw failure(`kinesis-local stopped while starting (${exitReason})`);
      const now = Date.now();
      if (now - started >= deadlineMs) throw failure(`kinesis-local: ${what} not within ${seconds(deadlineMs)}`);
      if (now >= nextProgress) {
        log(`${what}: not yet, ${seconds(now - started)} of ${seconds(deadlineMs)}`);
        nextProgress += PROGRESS_EVERY_MS;
      }
      await delay(POLL_MS);
    }
  }

  function failure(reason: string): Error {
    const output = existsSync(outFile) ? `\n--- last ${LOG_TAIL_LINES} lines of ${outFile}\n${tail(readFileSync(outFile, 'utf8'), LOG_TAIL_LINES)}` : '';
    return new Error(reason + output);
  }

  async function streamActive(): Promise<boolean> {
    try {
      const summary = await admin.send(new DescribeStreamSummaryCommand({ StreamName: stream }), { abortSignal: AbortSignal.timeout(2_000) });
      return summary.StreamDescriptionSummary?.StreamStatus === 'ACTIVE';
    } catch {
      return false;
    }
  }

  async function start(): Promise<void> {
    if (child && exitReason === undefined) return;
    const started = Date.now();
    launch();
    await waitUntil('answering', answers);
    await waitUntil(`stream ${stream} ACTIVE`, streamActive);
    await gate.open();
    log(`answering with stream ${stream} ACTIVE after ${seconds(Date.now() - started)}`);
  }

  async function stop(): Promise<void> {
    await gate.shut();
    const running = child;
    if (!running || exitReason !== undefined) return;
    const exited = new Promise<void>((resolve) => running.once('exit', () => resolve()));
    running.kill('SIGTERM');
    const timer = setTimeout(() => {
      log(`still running after ${seconds(STOP_GRACE_MS)}, sending SIGKILL (records since the last persist are lost)`);
      running.kill('SIGKILL');
    }, STOP_GRACE_MS);
    await exited;
    clearTimeout(timer);
    // The exit event comes once the process is gone, so its ports no longer answer.
    log(`stopped (${exitReason ?? 'exited'})`);
  }

  launch();
  try {
    await waitUntil('answering', answers);
    await admin.send(new CreateStreamCommand({ StreamName: stream, ShardCount: shards }));
    await waitUntil(`stream ${stream} ACTIVE`, streamActive);
    await gate.open();
  } catch (error) {
    await stop();
    admin.destroy();
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
  log(`stream ${stream} (${shards} shards) ACTIVE at ${endpoint}`);

  const readers = new Set<AbortController>();
  // Readers go through the gate like the sink: they see the outage and resume after it.
  const reader = new KinesisClient({
    region: REGION,
    endpoint,
    credentials,
    maxAttempts: 1,
    requestHandler: new NodeHttpHandler({ connectionTimeout: 2_000, requestTimeout: 10_000, throwOnRequestTimeout: true }),
  });

  return {
    sink: 'kinesis',
    stream,
    endpoint,
    region: REGION,
    dir,
    env: {
      KINESIS_STREAM: stream,
      KINESIS_ENDPOINT: endpoint,
      AWS_REGION: REGION,
      AWS_ACCESS_KEY_ID: credentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey,
    },
    stop,
    start,

    async consume(onMessage) {
      const reading = new AbortController();
      readers.add(reading);
      const shardIds = (await admin.send(new ListShardsCommand({ StreamName: stream }))).Shards?.map((shard) => shard.ShardId ?? '') ?? [];
      const loops = shardIds.map((shardId) => readShard(reader, stream, shardId, onMessage, reading.signal));
      return {
        async close() {
          reading.abort();
          readers.delete(reading);
          await Promise.all(loops);
        },
      };
    },

    async close() {
      for (const reading of readers) reading.abort();
      readers.clear();
      await stop();
      admin.destroy();
      reader.destroy();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** A TCP pass-through on `port` to the emulator on `target`: open, it forwards; shut, it refuses and cuts. */
function createGate(port: number, target: number): { open(): Promise<void>; shut(): Promise<void> } {
  let server: Server | undefined;
  const sockets = new Set<Socket>();
  return {
    async open() {
      if (server) return;
      const listening = createServer((client) => {
        const upstream = connect(target, '127.0.0.1');
        const drop = (): void => {
          client.destroy();
          upstream.destroy();
          sockets.delete(client);
          sockets.delete(upstream);
        };
        for (const socket of [client, upstream]) {
          sockets.add(socket);
          socket.once('error', drop);
          socket.once('close', drop);
        }
        client.pipe(upstream).pipe(client);
      });
      await new Promise<void>((resolve, reject) => {
        listening.once('error', reject);
        listening.listen(port, '127.0.0.1', () => resolve());
      });
      server = listening;
    },
    async shut() {
      const listening = server;
      server = undefined;
      if (!listening) return;
      const closed = new Promise<void>((resolve) => listening.close(() => resolve()));
      for (const socket of sockets) socket.destroy();
      sockets.clear();
      await closed;
    },
  };
}

/** kinesis-local's entry point, wherever npm put the package (not the cwd: a test or the bench may run anywhere). */
function emulatorPath(): string {
  try {
    return createRequire(import.meta.url).resolve('kinesis-local/main.js');
  } catch (error) {
    throw new Error('kinesis-local (a dev dependency) is not installed: run `npm ci` in the repository', { cause: error });
  }
}

/**
 * One shard from its beginning, then live: GetRecords follows NextShardIterator and polls while the shard is quiet.
 * A failed call (the server stopped, an iterator it no longer knows after a restart) resumes after the last
 * sequence number seen, so a reader lives through stop() and start().
 */
async function readShard(
  admin: KinesisClient,
  stream: string,
  shardId: string,
  onMessage: (message: ForwardedMessage) => void,
  signal: AbortSignal,
): Promise<void> {
  let lastSequence: string | undefined;
  let iterator: string | undefined;
  while (!signal.aborted) {
    try {
      if (iterator === undefined) {
        const position: Pick<GetShardIteratorCommandInput, 'ShardIteratorType' | 'StartingSequenceNumber'> =
          lastSequence === undefined ? { ShardIteratorType: 'TRIM_HORIZON' } : { ShardIteratorType: 'AFTER_SEQUENCE_NUMBER', StartingSequenceNumber: lastSequence };
        iterator = (await admin.send(new GetShardIteratorCommand({ StreamName: stream, ShardId: shardId, ...position }), { abortSignal: signal })).ShardIterator;
        if (iterator === undefined) return; // a closed shard that is fully read
      }
      const batch = await admin.send(new GetRecordsCommand({ ShardIterator: iterator, Limit: 10_000 }), { abortSignal: signal });
      for (const record of batch.Records ?? []) {
        lastSequence = record.SequenceNumber ?? lastSequence;
        onMessage({ body: Buffer.from(record.Data ?? new Uint8Array()), ...(record.PartitionKey ? { key: record.PartitionKey } : {}), arrivedAt: Date.now() });
      }
      iterator = batch.NextShardIterator;
      if (iterator === undefined) return;
      if ((batch.Records?.length ?? 0) === 0) await delay(CONSUME_IDLE_POLL_MS, undefined, { signal }).catch(() => undefined);
    } catch {
      if (signal.aborted) return;
      iterator = undefined;
      await delay(500, undefined, { signal }).catch(() => undefined);
    }
  }
}
