/**
 * The bus port's contract (platform/bus/bus.ts), run against every adapter: the in-process bus always,
 * Kafka when a broker answers (required in CI). Components are tested on the in-process bus, so
 * this is what makes those tests say something about production.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, expect, it } from 'vitest';
import type { Bus, ConsumedMessage, Subscription } from '../../../platform/bus/index.ts';
import { InProcessBus } from '../../../platform/bus/index.ts';
import { KafkaBus } from '../../../platform/bus/index.ts';
import { silentLogger } from '../../../platform/log.ts';
import { describeWithService, kafkaAvailable, kafkaBrokers } from '../../helpers/services.ts';

interface Adapter {
  name: string;
  available: () => Promise<boolean>;
  create: () => Bus;
}

const adapters: Adapter[] = [
  { name: 'InProcessBus', available: async () => true, create: () => new InProcessBus() },
  {
    name: 'KafkaBus',
    available: kafkaAvailable,
    create: () => new KafkaBus({ brokers: kafkaBrokers, clientId: 'pulsebridge-contract', logger: silentLogger, consumer: { redeliveryDelayMs: 200 } }),
  },
];

const text = (m: ConsumedMessage) => m.value.toString('utf8');
const values = (...v: string[]) => v.map((value) => ({ key: 'patient-1', value: Buffer.from(value) }));

/** Collects delivered values; `until(n)` resolves once n values arrived in total. */
function sink() {
  const got: string[] = [];
  const waiters: { n: number; resolve: () => void }[] = [];
  return {
    got,
    onBatch: async (batch: ConsumedMessage[]) => {
      got.push(...batch.map(text));
      for (const w of waiters) if (got.length >= w.n) w.resolve();
    },
    until: (n: number) =>
      new Promise<void>((resolve) => {
        if (got.length >= n) resolve();
        else waiters.push({ n, resolve });
      }),
  };
}

for (const adapter of adapters) {
  await describeWithService(`bus contract: ${adapter.name}`, adapter.available, () => {
    const bus = adapter.create();
    const subscriptions: Subscription[] = [];
    const newStream = async () => {
      const name = `pb.contract.${randomUUID()}`;
      await bus.ensureStreams([{ name, partitions: 1 }]);
      return name;
    };
    const group = () => `contract-${randomUUID()}`;
    afterAll(async () => {
      for (const s of subscriptions) await s.stop();
      await bus.close();
    });

    it('delivers every message published before a from-beginning subscription, in publish order', async () => {
      const stream = await newStream();
      await bus.publish(stream, values('a', 'b'));
      await bus.publish(stream, values('c'));
      const s = sink();
      subscriptions.push(await bus.subscribe(stream, { groupId: group(), fromBeginning: true, onBatch: s.onBatch }));
      await s.until(3);
      expect(s.got).toEqual(['a', 'b', 'c']);
    });

    it('offers the same messages again after the handler threw, skipping none', async () => {
      const stream = await newStream();
      await bus.publish(stream, values('a', 'b', 'c'));
      let failures = 0;
      const s = sink();
      subscriptions.push(
        await bus.subscribe(stream, {
          groupId: group(),
          fromBeginning: true,
          onBatch: async (batch) => {
            if (failures < 2) {
              failures++;
              throw new Error('handler failed');
            }
            await s.onBatch(batch);
          },
        }),
      );
      await s.until(3);
      expect({ failures, got: s.got }).toEqual({ failures: 2, got: ['a', 'b', 'c'] });
    });

    it('gives every group every message', async () => {
      const stream = await newStream();
      await bus.publish(stream, values('a', 'b'));
      const first = sink();
      const second = sink();
      subscriptions.push(await bus.subscribe(stream, { groupId: group(), fromBeginning: true, onBatch: first.onBatch }));
      subscriptions.push(await bus.subscribe(stream, { groupId: group(), fromBeginning: true, onBatch: second.onBatch }));
      await Promise.all([first.until(2), second.until(2)]);
      expect([first.got, second.got]).toEqual([
        ['a', 'b'],
        ['a', 'b'],
      ]);
    });

    it('starts a new group that is not from-beginning at the messages published after subscribe resolved', async () => {
      const stream = await newStream();
      await bus.publish(stream, values('old'));
      const s = sink();
      subscriptions.push(await bus.subscribe(stream, { groupId: group(), fromBeginning: false, onBatch: s.onBatch }));
      await bus.publish(stream, values('new'));
      await s.until(1);
      expect(s.got).toEqual(['new']);
    });

    it('continues a group after its last handled batch when it subscribes again', async () => {
      const stream = await newStream();
      const groupId = group();
      await bus.publish(stream, values('a', 'b'));
      const first = sink();
      const sub = await bus.subscribe(stream, { groupId, fromBeginning: true, onBatch: first.onBatch });
      await first.until(2);
      await sub.stop();
      await bus.publish(stream, values('c'));
      const second = sink();
      subscriptions.push(await bus.subscribe(stream, { groupId, fromBeginning: true, onBatch: second.onBatch }));
      await second.until(1);
      expect([first.got, second.got]).toEqual([['a', 'b'], ['c']]);
    });

    it('rejects a publish after close with PB_BUS_CLOSED', async () => {
      const other = adapter.create();
      await other.close();
      await expect(other.publish('pb.contract.closed', values('x'))).rejects.toMatchObject({ code: 'PB_BUS_CLOSED' });
    });
  });
}
