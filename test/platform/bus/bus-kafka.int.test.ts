import net from 'node:net';
import { createRequire } from 'node:module';
import { randomUUID } from 'node:crypto';
import { afterAll, expect, it } from 'vitest';
import { Kafka, logLevel } from 'kafkajs';
import { KafkaBus } from '../../../platform/bus/index.ts';
import type { ConsumedMessage, Subscription } from '../../../platform/bus/index.ts';
import { silentLogger } from '../../../platform/log.ts';
import { describeWithService, kafkaAvailable, kafkaBrokers } from '../../helpers/services.ts';

/** Fresh stream name per test, so runs never see each other's messages. */
const streamName = (what: string) => `pb.test.${what}.${randomUUID()}`;

/** Resolves once `count` messages arrived through onBatch; keeps every batch it saw. */
function collector(count: number) {
  const batches: ConsumedMessage[][] = [];
  const messages: ConsumedMessage[] = [];
  let done: () => void = () => {};
  const reached = new Promise<void>((resolve) => (done = resolve));
  return {
    batches,
    messages,
    reached,
    onBatch: async (batch: ConsumedMessage[]) => {
      batches.push(batch);
      messages.push(...batch);
      if (messages.length >= count) done();
    },
  };
}

/** A loopback port with nothing listening on it. */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

const text = (m: ConsumedMessage) => m.value.toString('utf8');

await describeWithService('KafkaBus against a real broker', kafkaAvailable, () => {
  const bus = new KafkaBus({ brokers: kafkaBrokers, clientId: 'pulsebridge-test', logger: silentLogger, consumer: { redeliveryDelayMs: 200 } });
  const subscriptions: Subscription[] = [];
  afterAll(async () => {
    for (const s of subscriptions) await s.stop();
    await bus.close();
  });

  it('creates streams with the requested partition counts and tolerates creating them again', async () => {
    const telemetry = streamName('telemetry');
    const alerts = streamName('alerts');
    const wanted = [
      { name: telemetry, partitions: 6 },
      { name: alerts, partitions: 1 },
    ];
    await bus.ensureStreams(wanted);
    await bus.ensureStreams(wanted);

    const admin = new Kafka({ brokers: kafkaBrokers, logLevel: logLevel.NOTHING }).admin();
    await admin.connect();
    const metadata = await admin.fetchTopicMetadata({ topics: [telemetry, alerts] });
    await admin.disconnect();
    const counts = Object.fromEntries(metadata.topics.map((t) => [t.name, t.partitions.length]));
    expect(counts).toEqual({ [telemetry]: 6, [alerts]: 1 });
  });

  it('delivers every published message, in publish order per key, with key, value, headers and stream', async () => {
    const stream = streamName('order');
    await bus.ensureStreams([{ name: stream, partitions: 3 }]);
    const keys = ['patient-a', 'patient-b', 'patient-c', 'patient-d'];
    const perKey = 25;
    // Several publishes, interleaving keys, so order must survive batching and partitioning.
    for (let i = 0; i < perKey; i++) {
      await bus.publish(
        stream,
        keys.map((key) => ({ key, value: Buffer.from(`${key}#${i}`), headers: { 'content-type': 'text/plain' } })),
      );
    }

    const c = collector(keys.length * perKey);
    subscriptions.push(await bus.subscribe(stream, { groupId: `g-${randomUUID()}`, fromBeginning: true, onBatch: c.onBatch }));
    await c.reached;

    for (const key of keys) {
      const got = c.messages.filter((m) => m.key === key);
      expect(got.map(text)).toEqual(Array.from({ length: perKey }, (_, i) => `${key}#${i}`));
      // One key, one partition: that is what keeps a patient's frames ordered.
      expect(new Set(got.map((m) => m.partition)).size).toBe(1);
    }
    expect(c.messages.length).toBe(keys.length * perKey);
    expect(c.messages.every((m) => m.stream === stream && m.headers?.['content-type'] === 'text/plain')).toBe(true);
    // Offsets are decimal strings, increasing within a partition.
    for (const p of new Set(c.messages.map((m) => m.partition))) {
      const offsets = c.messages.filter((m) => m.partition === p).map((m) => BigInt(m.offset));
      expect(offsets).toEqual([...offsets].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)));
    }
  });

  it('publishes more than the broker takes in one request (message.max.bytes, 1 MiB) in order, as one call', async () => {
    // Issue 9: a gateway's liveness flush of 10,000 devices was one refused request that blocked every later publish.
    const stream = streamName('large');
    await bus.ensureStreams([{ name: stream, partitions: 1 }]);
    const count = 3000;
    await bus.publish(stream, Array.from({ length: count }, (_, i) => ({ key: 'one-key', value: Buffer.from(`${i}:`.padEnd(1000, 'x')) })));
    const c = collector(count);
    subscriptions.push(await bus.subscribe(stream, { groupId: `g-${randomUUID()}`, fromBeginning: true, onBatch: c.onBatch }));
    await c.reached;
    expect(c.messages.map((m) => Number(text(m).split(':')[0]))).toEqual(Array.from({ length: count }, (_, i) => i));
  });

  it('delivers a batch again when the handler threw, and does not move past it', async () => {
    const stream = streamName('redeliver');
    await bus.ensureStreams([{ name: stream, partitions: 1 }]);
    await bus.publish(stream, [1, 2, 3].map((i) => ({ key: 'p1', value: Buffer.from(`m${i}`) })));

    const calls: string[][] = [];
    let delivered: () => void = () => {};
    const secondTime = new Promise<void>((resolve) => (delivered = resolve));
    subscriptions.push(
      await bus.subscribe(stream, {
        groupId: `g-${randomUUID()}`,
        fromBeginning: true,
        onBatch: async (batch) => {
          calls.push(batch.map(text));
          if (calls.length === 1) throw new Error('downstream store is down');
          if (calls.flat().filter((v) => v === 'm3').length >= 2) delivered();
        },
      }),
    );
    await secondTime;
    // The failed batch's first message comes again; nothing is skipped.
    expect(calls[0]).toEqual(['m1', 'm2', 'm3']);
    expect(calls.slice(1).flat()).toEqual(['m1', 'm2', 'm3']);
  });

  it('with concurrentPartitions, handles another partition\'s batch while one is still running (the EHR strip handler waits inside its batch)', async () => {
    const stream = streamName('concurrent');
    await bus.ensureStreams([{ name: stream, partitions: 2 }]);
    await bus.publish(stream, ['a', 'b', 'c', 'd', 'e', 'f'].map((k) => ({ key: k, value: Buffer.from(k) })));
    let firstPartition: number | undefined;
    let otherHandled: () => void = () => {};
    const other = new Promise<'overlapped'>((resolve) => (otherHandled = () => resolve('overlapped')));
    let outcome: string | undefined;
    let finished: () => void = () => {};
    const done = new Promise<void>((resolve) => (finished = resolve));
    subscriptions.push(
      await bus.subscribe(stream, {
        groupId: `g-${randomUUID()}`,
        fromBeginning: true,
        concurrentPartitions: 2,
        onBatch: async (batch) => {
          const partition = batch[0]!.partition;
          if (firstPartition === undefined) {
            firstPartition = partition;
            // Holds its batch until the other partition's batch has been handled (one at a time,
            // that never happens; the bound only ends the wait so the test fails instead of hanging).
            outcome = await Promise.race([other, new Promise<string>((resolve) => setTimeout(() => resolve('serial'), 10_000))]);
            finished();
          } else if (partition !== firstPartition) {
            otherHandled();
          }
        },
      }),
    );
    await done;
    expect(outcome).toBe('overlapped');
  });

  it('lets a new consumer of the same group continue after the last committed batch', async () => {
    const stream = streamName('commit');
    const groupId = `g-${randomUUID()}`;
    await bus.ensureStreams([{ name: stream, partitions: 2 }]);
    await bus.publish(stream, ['a', 'b', 'c', 'd'].map((k) => ({ key: k, value: Buffer.from(`first-${k}`) })));

    const first = collector(4);
    const sub = await bus.subscribe(stream, { groupId, fromBeginning: true, onBatch: first.onBatch });
    await first.reached;
    await sub.stop();

    await bus.publish(stream, ['a', 'b', 'c', 'd'].map((k) => ({ key: k, value: Buffer.from(`second-${k}`) })));
    const second = collector(4);
    subscriptions.push(await bus.subscribe(stream, { groupId, fromBeginning: true, onBatch: second.onBatch }));
    await second.reached;

    expect(first.messages.map(text).sort()).toEqual(['first-a', 'first-b', 'first-c', 'first-d']);
    expect(second.messages.map(text).sort()).toEqual(['second-a', 'second-b', 'second-c', 'second-d']);
  });

  it('subscribes to a stream whose metadata is not there yet, once it is (a component started beside the one creating it)', async () => {
    const stream = streamName('late');
    const late = collector(1);
    // The metadata answers UNKNOWN_TOPIC_OR_PARTITION until the topic exists, as a just-created
    // topic can for a moment; the subscription retries instead of failing the component's start.
    const subscribing = bus.subscribe(stream, { groupId: `late-${randomUUID()}`, fromBeginning: true, onBatch: late.onBatch });
    await new Promise((resolve) => setTimeout(resolve, 400));
    const admin = new Kafka({ brokers: kafkaBrokers, logLevel: logLevel.NOTHING }).admin();
    await admin.connect();
    await admin.createTopics({ waitForLeaders: true, topics: [{ topic: stream, numPartitions: 1 }] });
    await admin.disconnect();
    subscriptions.push(await subscribing);
    await bus.publish(stream, [{ key: 'k', value: Buffer.from('after') }]);
    await late.reached;
    expect(late.messages.map(text)).toEqual(['after']);
  });

  // An operator counted 104 consumer groups after 35 minutes: every start and CLI run left its
  // random groups on the broker (session 32).
  it('deletes an ephemeral group when its subscription stops, and keeps a named one', async () => {
    const stream = streamName('ephemeral');
    await bus.ensureStreams([{ name: stream, partitions: 1 }]);
    await bus.publish(stream, [{ key: 'k', value: Buffer.from('x') }]);
    const groups = async () => {
      const admin = new Kafka({ brokers: kafkaBrokers, logLevel: logLevel.NOTHING }).admin();
      await admin.connect();
      try {
        return (await admin.listGroups()).groups.map((g) => g.groupId);
      } finally {
        await admin.disconnect();
      }
    };
    const ephemeral = `ephemeral-${randomUUID()}`;
    const kept = `kept-${randomUUID()}`;
    const committed = async (groupId: string) => {
      const admin = new Kafka({ brokers: kafkaBrokers, logLevel: logLevel.NOTHING }).admin();
      await admin.connect();
      try {
        return (await admin.fetchOffsets({ groupId, topics: [stream] }))[0]!.partitions.map((p) => p.offset);
      } finally {
        await admin.disconnect();
      }
    };
    const offsets: Record<string, string[]> = {};
    for (const [groupId, ephemeralGroup] of [[ephemeral, true], [kept, false]] as const) {
      const seen = collector(1);
      const sub = await bus.subscribe(stream, { groupId, ephemeralGroup, fromBeginning: true, onBatch: seen.onBatch });
      await seen.reached;
      await new Promise((r) => setTimeout(r, 200));
      offsets[groupId] = await committed(groupId);
      await sub.stop();
    }
    // An ephemeral group commits nothing (a crashed process's leftover is dropped by the broker's next cleanup).
    expect(offsets).toEqual({ [ephemeral]: ['-1'], [kept]: ['1'] });
    const after = await groups();
    expect(after).toContain(kept);
    expect(after).not.toContain(ephemeral);
  });

  it('tells which partitions a subscriber holds: all of them alone, none once stopped', async () => {
    const stream = streamName('assigned');
    await bus.ensureStreams([{ name: stream, partitions: 3 }]);
    const sub = await bus.subscribe(stream, { groupId: `assigned-${randomUUID()}`, fromBeginning: true, onBatch: async () => {} });
    expect([...(sub.assignedPartitions?.() ?? [])].sort()).toEqual([0, 1, 2]);
    await sub.stop();
    expect(sub.assignedPartitions?.()).toEqual([]);
  });

  it("leaves no kafkajs request-queue check armed on idle connections (kafkajs' 1 ms busy loop, platform/bus/kafkajs-request-queue.ts)", async () => {
    // Every queue that checks its requests while a message goes through is recorded; once idle, a
    // queue with nothing pending must have no check armed. Unmended, each one re-arms every 1 ms.
    const RequestQueue = createRequire(import.meta.url)('kafkajs/src/network/requestQueue/index.js') as {
      prototype: { checkPendingRequests(this: IdleQueue): void };
    };
    type IdleQueue = { pending: unknown[]; throttleCheckTimeoutId: unknown };
    const queues = new Set<IdleQueue>();
    const check = RequestQueue.prototype.checkPendingRequests;
    RequestQueue.prototype.checkPendingRequests = function (this: IdleQueue) {
      queues.add(this);
      check.call(this);
    };
    try {
      const stream = streamName('idle');
      await bus.ensureStreams([{ name: stream, partitions: 1 }]);
      const got = collector(1);
      subscriptions.push(await bus.subscribe(stream, { groupId: `idle-${randomUUID()}`, fromBeginning: true, onBatch: got.onBatch }));
      await bus.publish(stream, [{ key: 'k', value: Buffer.from('x') }]);
      await got.reached;
      await new Promise((resolve) => setTimeout(resolve, 500));
      const idle = [...queues].filter((q) => q.pending.length === 0);
      expect(idle.length).toBeGreaterThan(0);
      expect(idle.filter((q) => q.throttleCheckTimeoutId !== null)).toHaveLength(0);
    } finally {
      RequestQueue.prototype.checkPendingRequests = check;
    }
  });

  it('rejects a publish to a stream that was never created instead of creating it', async () => {
    const impatient = new KafkaBus({ brokers: kafkaBrokers, logger: silentLogger, retries: 1, initialRetryTimeMs: 100, maxRetryTimeMs: 200, publishTimeoutMs: 10_000 });
    const stream = streamName('missing');
    await expect(impatient.publish(stream, [{ key: 'k', value: Buffer.from('x') }])).rejects.toMatchObject({ code: 'PB_BUS_UNAVAILABLE' });
    await impatient.close();

    const admin = new Kafka({ brokers: kafkaBrokers, logLevel: logLevel.NOTHING }).admin();
    await admin.connect();
    const topics = await admin.listTopics();
    await admin.disconnect();
    expect(topics).not.toContain(stream);
  });
});

// Needs no broker: nothing listens on the port.
it('rejects a publish to an unreachable broker with PB_BUS_UNAVAILABLE instead of hanging', async () => {
  const port = await closedPort();
  const bus = new KafkaBus({
    brokers: [`127.0.0.1:${port}`],
    logger: silentLogger,
    connectionTimeoutMs: 500,
    requestTimeoutMs: 1_000,
    retries: 2,
    initialRetryTimeMs: 100,
    maxRetryTimeMs: 300,
    publishTimeoutMs: 5_000,
  });
  const error = await bus.publish('pb.telemetry.v1', [{ key: 'p1', value: Buffer.from('x') }]).then(
    () => undefined,
    (e: unknown) => e,
  );
  await bus.close();
  expect(error).toMatchObject({ name: 'PulsebridgeError', code: 'PB_BUS_UNAVAILABLE' });
  expect((error as Error).cause).toBeInstanceOf(Error);
});
