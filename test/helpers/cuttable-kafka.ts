/**
 * A KafkaBus whose connections a test can cut (a broker outage without stopping the shared
 * broker), through kafkajs' socket factory (KafkaBusOptions.socketFactory).
 */
import net from 'node:net';
import { KafkaBus } from '../../platform/bus/index.ts';
import { createLogger } from '../../platform/log.ts';
import { kafkaBrokers } from './services.ts';

/** Kafka's API key of FindCoordinator (kafkajs' GroupCoordinator request). */
const FIND_COORDINATOR_API_KEY = 10;

/**
 * Connections to the brokers that can be cut: meanwhile every new one is refused. Or, with
 * `failCoordinatorLookups(true)`, connections are made but one that sends a FindCoordinator request
 * is closed by it: what a broker coming back does to a client (it closes connections while it shuts
 * down, answers "the coordinator is loading" while it loads the group offsets), which kafkajs turns
 * into its non-retriable KafkaJSGroupCoordinatorNotFound. PLAINTEXT only (it reads the request's
 * header: size, then API key).
 */
export function cuttableSockets() {
  const open = new Set<net.Socket>();
  let cut = false;
  let failLookups = false;
  return {
    factory: ({ host, port, onConnect }: { host: string; port: number; onConnect: () => void }) => {
      // Port 1 on loopback: nothing listens there, the connection is refused at once.
      const socket = cut ? net.connect({ host: '127.0.0.1', port: 1 }) : net.connect({ host, port }, onConnect);
      open.add(socket);
      socket.on('close', () => open.delete(socket));
      const write = socket.write.bind(socket) as (...args: unknown[]) => boolean;
      socket.write = ((chunk: unknown, ...rest: unknown[]) => {
        if (failLookups && Buffer.isBuffer(chunk) && chunk.length >= 6 && chunk.readInt16BE(4) === FIND_COORDINATOR_API_KEY) {
          socket.destroy(new Error('connection closed by the test at a coordinator lookup'));
          return false;
        }
        return write(chunk, ...rest);
      }) as typeof socket.write;
      return socket;
    },
    failCoordinatorLookups: (on: boolean) => { failLookups = on; },
    cut: () => {
      cut = true;
      for (const s of open) s.destroy(new Error('connection cut by the test'));
    },
    restore: () => { cut = false; },
  };
}

/** A bus whose connections can be cut, with short retries, logging into `lines`. */
export function cuttableBus(retry: { retries: number; initialRetryTimeMs: number; maxRetryTimeMs: number }) {
  const sockets = cuttableSockets();
  const lines: string[] = [];
  const bus = new KafkaBus({
    brokers: kafkaBrokers, clientId: 'pulsebridge-test', socketFactory: sockets.factory,
    logger: createLogger('warn', {}, (line) => lines.push(line)),
    ...retry, connectionTimeoutMs: 1_000, requestTimeoutMs: 2_000,
    consumer: { sessionTimeoutMs: 6_000, heartbeatIntervalMs: 500 },
    // Every line, repeats too: the tests read the log.
    logRepeatWindowMs: 0,
  });
  return { sockets, lines, bus };
}
