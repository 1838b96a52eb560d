/**
 * A KafkaBus whose connections a test can cut (a broker outage without stopping the shared
 * broker), through kafkajs' socket factory (KafkaBusOptions.socketFactory).
 */
import net from 'node:net';
import { KafkaBus } from '../../platform/bus/index.ts';
import { createLogger } from '../../platform/log.ts';
import { kafkaBrokers } from './services.ts';

/** Connections to the brokers that can be cut: meanwhile every new one is refused. */
export function cuttableSockets() {
  const open = new Set<net.Socket>();
  let cut = false;
  return {
    factory: ({ host, port, onConnect }: { host: string; port: number; onConnect: () => void }) => {
      // Port 1 on loopback: nothing listens there, the connection is refused at once.
      const socket = cut ? net.connect({ host: '127.0.0.1', port: 1 }) : net.connect({ host, port }, onConnect);
      open.add(socket);
      socket.on('close', () => open.delete(socket));
      return socket;
    },
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
