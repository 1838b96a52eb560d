/**
 * BusFollower.sync on a real broker: it reads each partition's high watermark (ListOffsets) and
 * resolves once the follower has folded everything below, on a stream of several partitions, one of
 * them empty and one holding only the markers older versions wrote (pb.log-sync.v1). The follower
 * writes nothing to catch up (the ACL side: kafka-acl.int.test.ts).
 */
import { randomUUID } from 'node:crypto';
import { Kafka, Partitioners, logLevel } from 'kafkajs';
import { afterAll, expect, it } from 'vitest';
import { BusFollower, KafkaBus } from '../../../platform/bus/index.ts';
import { silentLogger } from '../../../platform/log.ts';
import { describeWithService, kafkaAvailable, kafkaBrokers } from '../../helpers/services.ts';

await describeWithService('BusFollower.sync against a real broker', kafkaAvailable, () => {
  const writer = new KafkaBus({ brokers: kafkaBrokers, clientId: 'pulsebridge-test-writer', logger: silentLogger });
  const reader = new KafkaBus({ brokers: kafkaBrokers, clientId: 'pulsebridge-test-reader', logger: silentLogger });
  const producer = new Kafka({ brokers: kafkaBrokers, logLevel: logLevel.NOTHING }).producer({ createPartitioner: Partitioners.DefaultPartitioner });
  afterAll(async () => {
    await producer.disconnect();
    await reader.close();
    await writer.close();
  });

  it('catches up on three partitions — one empty, one with only old sync markers — and sees later and own publishes after sync', async () => {
    const stream = { name: `pb.test.follow.${randomUUID()}`, partitions: 3 };
    await writer.ensureStreams([stream]);
    await producer.connect();
    // What a follower of an older version left: markers only, in partition 0. Partition 2 stays empty.
    const marker = (nonce: string) => ({ value: JSON.stringify({ schema: 'pb.log-sync.v1', nonce }), partition: 0, key: 'sync' });
    await producer.send({ topic: stream.name, acks: -1, messages: [marker('a'), marker('b')] });
    await producer.send({ topic: stream.name, acks: -1, messages: [{ key: 'k1', value: JSON.stringify({ n: 1 }), partition: 1 }] });

    const seen: unknown[] = [];
    const follower = await BusFollower.open({ bus: reader, stream, logger: silentLogger, onMessage: (value) => seen.push(value) });
    try {
      expect(seen).toEqual([{ n: 1 }]);
      await writer.publish(stream.name, [{ key: 'k2', value: Buffer.from(JSON.stringify({ n: 2 })) }]);
      await follower.sync();
      expect(seen).toContainEqual({ n: 2 });
      await follower.publish('k3', { n: 3 });
      await follower.sync();
      expect(seen).toContainEqual({ n: 3 });
      expect(seen).toHaveLength(3);
    } finally {
      await follower.close();
    }
  });

  it('opens on an empty stream and syncs on it', async () => {
    const stream = { name: `pb.test.follow-empty.${randomUUID()}`, partitions: 2 };
    const seen: unknown[] = [];
    const follower = await BusFollower.open({ bus: reader, stream, logger: silentLogger, onMessage: (value) => seen.push(value) });
    try {
      await follower.sync();
      expect(seen).toEqual([]);
    } finally {
      await follower.close();
    }
  });
});
