import { describe, expect, it } from 'vitest';
import { InProcessBus } from '../../../platform/bus/index.ts';
import type { ConsumedMessage } from '../../../platform/bus/index.ts';
import { waitFor } from '../../helpers/wait.ts';

const msg = (i: number) => ({ key: 'k', value: Buffer.from(String(i)) });
const values = (ms: readonly ConsumedMessage[]) => ms.map((m) => Number(m.value.toString()));

const until = (cond: () => boolean) => waitFor('the consumers to catch up', () => cond() || undefined, 5000);

describe('in-process bus retention (embedded mode)', () => {
  it('drops the oldest messages every group has committed once a stream holds more than the limit, and offsets keep counting', async () => {
    const bus = new InProcessBus({ maxRetainedMessages: 10 });
    await bus.ensureStreams([{ name: 's', partitions: 1 }]);
    const seen: ConsumedMessage[] = [];
    const sub = await bus.subscribe('s', { groupId: 'g', fromBeginning: true, onBatch: async (b) => { seen.push(...b); } });
    for (let i = 0; i < 40; i++) await bus.publish('s', [msg(i)]);
    await until(() => seen.length === 40);
    await bus.publish('s', [msg(40)]); // the trim runs on publish, after the group committed
    await until(() => seen.length === 41);
    expect(values(seen)).toEqual(Array.from({ length: 41 }, (_, i) => i));
    expect(seen.map((m) => m.offset)).toEqual(Array.from({ length: 41 }, (_, i) => String(i)));
    const kept = bus.read('s');
    expect(kept.length).toBeLessThanOrEqual(13); // trimmed to 10, in steps of a quarter
    expect(kept.at(-1)!.offset).toBe('40');
    await sub.stop();
  });

  it('never drops a message a subscribed group has yet to read', async () => {
    const bus = new InProcessBus({ maxRetainedMessages: 5 });
    await bus.ensureStreams([{ name: 's', partitions: 1 }]);
    const fast: number[] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => { release = r; });
    const slow: number[] = [];
    const a = await bus.subscribe('s', { groupId: 'fast', fromBeginning: true, onBatch: async (b) => { fast.push(...values(b)); } });
    const b = await bus.subscribe('s', { groupId: 'slow', fromBeginning: true, onBatch: async (batch) => { await gate; slow.push(...values(batch)); } });
    for (let i = 0; i < 30; i++) await bus.publish('s', [msg(i)]);
    await until(() => fast.length === 30);
    expect(bus.read('s')).toHaveLength(30); // the slow group holds them all
    release();
    await until(() => slow.length === 30);
    expect(slow).toEqual(Array.from({ length: 30 }, (_, i) => i));
    await a.stop();
    await b.stop();
  });

  it('never trims compacted or kept-forever streams, and keeps everything without a limit', async () => {
    const bus = new InProcessBus({ maxRetainedMessages: 2 });
    await bus.ensureStreams([{ name: 'c', partitions: 1, compacted: true }, { name: 'f', partitions: 1, retainForever: true }]);
    const subs = await Promise.all(['c', 'f'].map((s) => bus.subscribe(s, { groupId: 'g', fromBeginning: true, onBatch: async () => {} })));
    for (let i = 0; i < 20; i++) await bus.publish('c', [msg(i)]), await bus.publish('f', [msg(i)]);
    await new Promise((r) => setTimeout(r, 50));
    await bus.publish('c', [msg(20)]);
    await bus.publish('f', [msg(20)]);
    expect(bus.read('c')).toHaveLength(21);
    expect(bus.read('f')).toHaveLength(21);
    for (const s of subs) await s.stop();

    const unlimited = new InProcessBus();
    const sub = await unlimited.subscribe('s', { groupId: 'g', fromBeginning: true, onBatch: async () => {} });
    for (let i = 0; i < 50; i++) await unlimited.publish('s', [msg(i)]);
    expect(unlimited.read('s')).toHaveLength(50);
    await sub.stop();
  });

  it('a group that subscribes later from the beginning starts at the oldest retained message', async () => {
    const bus = new InProcessBus({ maxRetainedMessages: 4 });
    await bus.ensureStreams([{ name: 's', partitions: 1 }]);
    const first = await bus.subscribe('s', { groupId: 'g1', fromBeginning: true, onBatch: async () => {} });
    for (let i = 0; i < 20; i++) { await bus.publish('s', [msg(i)]); await new Promise((r) => setImmediate(r)); }
    await new Promise((r) => setTimeout(r, 20));
    await bus.publish('s', [msg(20)]);
    const oldest = Number(bus.read('s')[0]!.offset);
    expect(oldest).toBeGreaterThan(0);
    const late: ConsumedMessage[] = [];
    const second = await bus.subscribe('s', { groupId: 'g2', fromBeginning: true, onBatch: async (b) => { late.push(...b); } });
    await until(() => late.length === 21 - oldest);
    expect(late[0]!.offset).toBe(String(oldest));
    await first.stop();
    await second.stop();
  });
});
