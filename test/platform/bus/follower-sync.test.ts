/**
 * BusFollower.sync (platform/bus/follower.ts) catches up by reading where the stream ends, not by
 * writing a marker: a follower whose bus refuses its writes (a Kafka user with Read but no Write on
 * the stream, platform/bus/acl-spec.ts) opens, syncs and sees everything published before the call.
 * Markers that older versions wrote (pb.log-sync.v1) are still skipped.
 */
import { describe, expect, it } from 'vitest';
import type { Bus, BusMessage } from '../../../platform/bus/index.ts';
import { BusFollower, InProcessBus } from '../../../platform/bus/index.ts';
import { silentLogger } from '../../../platform/log.ts';
import { ReadOnlyBus } from './read-only-bus.ts';

const STREAM = { name: 'pb.test.followed', partitions: 1 };
const json = (value: unknown): BusMessage => ({ key: 'k', value: Buffer.from(JSON.stringify(value)) });

async function openReader(bus: Bus, visibleTimeoutMs?: number) {
  const seen: unknown[] = [];
  const follower = await BusFollower.open({ bus, stream: STREAM, logger: silentLogger, onMessage: (value) => seen.push(value), ...(visibleTimeoutMs ? { visibleTimeoutMs } : {}) });
  return { follower, seen };
}

describe('BusFollower.sync without writing to the stream', () => {
  it('a follower that may not write opens caught up and sees what others published before each sync', async () => {
    const bus = new InProcessBus();
    await bus.publish(STREAM.name, [json({ n: 1 }), json({ n: 2 })]);
    const readOnly = new ReadOnlyBus(bus);
    const { follower, seen } = await openReader(readOnly);
    expect(seen).toEqual([{ n: 1 }, { n: 2 }]);
    await bus.publish(STREAM.name, [json({ n: 3 })]);
    await follower.sync();
    expect(seen).toEqual([{ n: 1 }, { n: 2 }, { n: 3 }]);
    expect(readOnly.writesTried).toBe(0);
    await follower.close();
  });

  it('waits for a lagging consumer to fold what was published before the call', async () => {
    const bus = new InProcessBus();
    const readOnly = new ReadOnlyBus(bus);
    const { follower, seen } = await openReader(readOnly);
    let release!: () => void;
    readOnly.gate = new Promise<void>((r) => (release = r));
    await bus.publish(STREAM.name, [json({ n: 1 })]);
    let synced = false;
    const sync = follower.sync().then(() => { synced = true; });
    for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
    expect(synced).toBe(false);
    expect(seen).toEqual([]);
    release();
    await sync;
    expect(seen).toEqual([{ n: 1 }]);
    await follower.close();
  });

  it('sees its own publish after sync (read-your-writes)', async () => {
    const bus = new InProcessBus();
    const { follower, seen } = await openReader(bus);
    await follower.publish('k', { mine: true });
    await follower.sync();
    expect(seen).toEqual([{ mine: true }]);
    // Nothing but the message itself was written: no marker.
    expect(bus.read(STREAM.name).map((m) => JSON.parse(m.value.toString()))).toEqual([{ mine: true }]);
    await follower.close();
  });

  it('opens on an empty stream, and syncs on it again', async () => {
    const readOnly = new ReadOnlyBus(new InProcessBus());
    const { follower, seen } = await openReader(readOnly);
    await follower.sync();
    expect(seen).toEqual([]);
    await follower.close();
  });

  it('a stream holding only markers of older versions: skipped, and the follower is caught up past them', async () => {
    const bus = new InProcessBus();
    await bus.publish(STREAM.name, [json({ schema: 'pb.log-sync.v1', nonce: 'a' }), json({ schema: 'pb.log-sync.v1', nonce: 'b' })]);
    const { follower, seen } = await openReader(new ReadOnlyBus(bus));
    await follower.sync();
    expect(seen).toEqual([]);
    await bus.publish(STREAM.name, [json({ n: 1 }), json({ schema: 'pb.log-sync.v1', nonce: 'c' })]);
    await follower.sync();
    expect(seen).toEqual([{ n: 1 }]);
    await follower.close();
  });

  it('a partition that holds nothing any more (start = end: retention dropped it all) does not hold sync up; one with messages it never got does', async () => {
    const bus = new InProcessBus();
    const readOnly = new ReadOnlyBus(bus);
    readOnly.extraEnds = [{ partition: 1, start: '7', end: '7' }];
    const { follower } = await openReader(readOnly, 100);
    await follower.sync();
    readOnly.extraEnds = [{ partition: 1, start: '7', end: '8' }];
    await expect(follower.sync()).rejects.toThrow('pb.test.followed: this instance did not catch up with the stream within 100 ms');
    await follower.close();
  });
});
