/**
 * A follower (ephemeral consumer group, read from the beginning) that loses the broker past its
 * retries goes on from where it was, not from the beginning of its stream. kafkajs restarts such a
 * crashed consumer as a new member that starts at the group's committed offsets, and an ephemeral
 * group commits none: after a broker restart every registry, liveness and changelog follower
 * folded its whole stream again, and the processor dropped the streams it held as "taken over by
 * another processor instance" on reading their old changelog records (hardened walk, 2026-12-07;
 * platform/bus/kafka.ts `resumeAt`). The outage is made by cutting the client's connections
 * (KafkaBusOptions.socketFactory), not by restarting the shared broker.
 */
import net from 'node:net';
import { randomUUID } from 'node:crypto';
import { afterAll, expect, it } from 'vitest';
import { KafkaBus } from '../../../platform/bus/index.ts';
import type { ConsumedMessage } from '../../../platform/bus/index.ts';
import { createLogger, silentLogger } from '../../../platform/log.ts';
import { describeWithService, kafkaAvailable, kafkaBrokers } from '../../helpers/services.ts';
import { waitFor } from '../../helpers/wait.ts';

/** Connections to the brokers that can be cut: meanwhile every new one is refused. */
function cuttableSockets() {
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

await describeWithService('KafkaBus follower across a lost broker', kafkaAvailable, () => {
  const publisher = new KafkaBus({ brokers: kafkaBrokers, clientId: 'pulsebridge-test', logger: silentLogger });
  afterAll(async () => { await publisher.close(); });

  it('goes on after its consumer crashed and restarted, without reading the stream again', async () => {
    const stream = `pb.test.resume.${randomUUID()}`;
    await publisher.ensureStreams([{ name: stream, partitions: 1 }]);
    await publisher.publish(stream, [0, 1, 2].map((i) => ({ key: 'k', value: Buffer.from(`m${i}`) })));

    const sockets = cuttableSockets();
    const lines: string[] = [];
    const bus = new KafkaBus({
      brokers: kafkaBrokers, clientId: 'pulsebridge-test', socketFactory: sockets.factory,
      logger: createLogger('warn', {}, (line) => lines.push(line)),
      retries: 1, initialRetryTimeMs: 100, maxRetryTimeMs: 200, connectionTimeoutMs: 1_000, requestTimeoutMs: 2_000,
      consumer: { sessionTimeoutMs: 6_000, heartbeatIntervalMs: 500 },
    });
    const seen: ConsumedMessage[] = [];
    const sub = await bus.subscribe(stream, {
      groupId: `pb-test-resume-${randomUUID()}`, ephemeralGroup: true, fromBeginning: true,
      onBatch: async (batch) => { seen.push(...batch); },
    });
    try {
      await waitFor('the first three messages', () => (seen.length >= 3 ? true : undefined), 15_000);
      sockets.cut();
      await waitFor('the consumer to crash', () => (lines.some((l) => l.includes('kafka consumer crashed')) ? true : undefined), 30_000);
      sockets.restore();
      await publisher.publish(stream, [{ key: 'k', value: Buffer.from('m3') }]);
      await waitFor('m3', () => (seen.some((m) => m.value.toString() === 'm3') ? true : undefined), 30_000);
      expect(seen.map((m) => `${m.offset}:${m.value.toString()}`)).toEqual(['0:m0', '1:m1', '2:m2', '3:m3']);
    } finally {
      await sub.stop().catch(() => {});
      await bus.close().catch(() => {});
    }
  }, 90_000);
});
