import { describe, expect, it } from 'vitest';
import { BusBatcher, BUS_BATCHER_DEFAULTS } from '../../gateway/bus-batcher.ts';
import { ControllableBus } from '../helpers/controllable-bus.ts';
import type { BusMessage } from '../../platform/bus/index.ts';

const STREAM = 'pb.telemetry.v1';
const msg = (key: string, n: number): BusMessage => ({ key, value: Buffer.from(`${key}#${n}`) });
const text = (m: BusMessage) => m.value.toString();
/** Lets setImmediate callbacks and promise continuations run. */
const settle = async () => { for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r)); };

/** Tracks each enqueue's outcome without awaiting it. */
function track(p: Promise<void>): { state: 'pending' | 'acked' | 'failed' } {
  const t = { state: 'pending' as 'pending' | 'acked' | 'failed' };
  p.then(() => { t.state = 'acked'; }, () => { t.state = 'failed'; });
  return t;
}

async function storedValues(bus: ControllableBus): Promise<string[]> {
  const seen: string[] = [];
  const sub = await bus.inner.subscribe(STREAM, { groupId: 'check', fromBeginning: true, onBatch: async (batch) => { for (const m of batch) seen.push(text(m)); } });
  await settle();
  await sub.stop();
  return seen;
}

describe('BusBatcher', () => {
  it('writes its defaults down: 500 per publish, 4 publishes in flight per stream', () => {
    expect(BUS_BATCHER_DEFAULTS).toEqual({ maxBatch: 500, maxInFlightPerStream: 4 });
  });

  it('keeps up to maxInFlightPerStream publishes of different devices in flight, never more', async () => {
    const bus = new ControllableBus();
    bus.hold();
    const batcher = new BusBatcher(bus, { maxBatch: 2, maxInFlightPerStream: 3 });
    const outcomes = [];
    for (let d = 0; d < 10; d++) {
      outcomes.push(track(batcher.enqueue(STREAM, msg(`dev-${d}`, 0))));
      await settle(); // separate ticks: a batch starts per tick while a slot is free
    }
    expect(bus.held.length).toBe(3);
    expect(batcher.inFlight(STREAM)).toBe(3);
    expect(outcomes.every((o) => o.state === 'pending')).toBe(true);

    // One acknowledgement frees one slot: the next batch (up to maxBatch) goes out at once.
    bus.held[0]!.release();
    await settle();
    expect(bus.held.length).toBe(3);
    expect(outcomes.filter((o) => o.state === 'acked').length).toBe(1);

    bus.release();
    await settle();
    expect(outcomes.every((o) => o.state === 'acked')).toBe(true);
    expect((await storedValues(bus)).sort()).toEqual(Array.from({ length: 10 }, (_, d) => `dev-${d}#0`).sort());
  });

  it('acknowledges a message only after the bus acknowledged the publish holding it', async () => {
    const bus = new ControllableBus();
    bus.hold();
    const batcher = new BusBatcher(bus, { maxBatch: 500, maxInFlightPerStream: 4 });
    const a = track(batcher.enqueue(STREAM, msg('dev-a', 0)));
    await settle();
    const b = track(batcher.enqueue(STREAM, msg('dev-b', 0)));
    await settle();
    expect(bus.held.map((h) => h.messages.map(text))).toEqual([['dev-a#0'], ['dev-b#0']]);
    // The later publish is acknowledged first: only its own message is acknowledged.
    bus.held[1]!.release();
    await settle();
    expect([a.state, b.state]).toEqual(['pending', 'acked']);
    bus.held[0]!.release();
    await settle();
    expect(a.state).toBe('acked');
  });

  it('never has two publishes in flight with the same device, so one device stays in order on the bus', async () => {
    const bus = new ControllableBus();
    bus.hold();
    const batcher = new BusBatcher(bus, { maxBatch: 500, maxInFlightPerStream: 4 });
    const all: ReturnType<typeof track>[] = [];
    all.push(track(batcher.enqueue(STREAM, msg('dev-a', 1))));
    await settle();
    // While dev-a#1 is in flight, dev-a#2 and #3 wait; dev-b's messages go out in a second publish.
    all.push(track(batcher.enqueue(STREAM, msg('dev-a', 2))));
    all.push(track(batcher.enqueue(STREAM, msg('dev-b', 1))));
    all.push(track(batcher.enqueue(STREAM, msg('dev-a', 3))));
    all.push(track(batcher.enqueue(STREAM, msg('dev-b', 2))));
    await settle();
    expect(bus.held.map((h) => h.messages.map(text))).toEqual([['dev-a#1'], ['dev-b#1', 'dev-b#2']]);
    for (const h of bus.held) {
      const keys = h.messages.map((m) => m.key);
      const others = bus.held.filter((o) => o !== h).flatMap((o) => o.messages.map((m) => m.key));
      expect(keys.some((k) => others.includes(k))).toBe(false);
    }
    // dev-b's publish is acknowledged first; dev-a's next messages still wait for dev-a#1.
    bus.held[1]!.release();
    await settle();
    expect(bus.held.map((h) => h.messages.map(text))).toEqual([['dev-a#1']]);
    bus.held[0]!.release();
    await settle();
    expect(bus.held.map((h) => h.messages.map(text))).toEqual([['dev-a#2', 'dev-a#3']]);
    bus.release();
    await settle();
    expect(all.every((o) => o.state === 'acked')).toBe(true);
    const stored = await storedValues(bus);
    expect(stored.filter((v) => v.startsWith('dev-a'))).toEqual(['dev-a#1', 'dev-a#2', 'dev-a#3']);
    expect(stored.filter((v) => v.startsWith('dev-b'))).toEqual(['dev-b#1', 'dev-b#2']);
  });

  it('a failed publish fails only its own messages; the others are acknowledged and the device\'s next message goes out', async () => {
    const bus = new ControllableBus();
    bus.hold();
    const batcher = new BusBatcher(bus, { maxBatch: 500, maxInFlightPerStream: 4 });
    const a1 = track(batcher.enqueue(STREAM, msg('dev-a', 1)));
    await settle();
    const b1 = track(batcher.enqueue(STREAM, msg('dev-b', 1)));
    const a2 = track(batcher.enqueue(STREAM, msg('dev-a', 2)));
    await settle();
    expect(bus.held.map((h) => h.messages.map(text))).toEqual([['dev-a#1'], ['dev-b#1']]);
    bus.held[0]!.fail();
    await settle();
    expect(a1.state).toBe('failed');
    expect([b1.state, a2.state]).toEqual(['pending', 'pending']);
    // dev-a#2 leaves only after dev-a#1 settled (here: failed), never beside it.
    expect(bus.held.map((h) => h.messages.map(text))).toEqual([['dev-b#1'], ['dev-a#2']]);
    bus.release();
    await settle();
    expect([b1.state, a2.state]).toEqual(['acked', 'acked']);
    expect((await storedValues(bus)).sort()).toEqual(['dev-a#2', 'dev-b#1']);
  });

  it('with one publish in flight per stream behaves as before: one batch at a time, in order', async () => {
    const bus = new ControllableBus();
    bus.hold();
    const batcher = new BusBatcher(bus, { maxBatch: 2, maxInFlightPerStream: 1 });
    const outcomes = [0, 1, 2, 3, 4].map((d) => track(batcher.enqueue(STREAM, msg(`dev-${d}`, 0))));
    await settle();
    expect(bus.held.map((h) => h.messages.map(text))).toEqual([['dev-0#0', 'dev-1#0']]);
    bus.held[0]!.release();
    await settle();
    expect(bus.held.map((h) => h.messages.map(text))).toEqual([['dev-2#0', 'dev-3#0']]);
    bus.release();
    await settle();
    expect(outcomes.every((o) => o.state === 'acked')).toBe(true);
  });

  it('refuses a limit below one', () => {
    expect(() => new BusBatcher(new ControllableBus(), { maxInFlightPerStream: 0 })).toThrow(RangeError);
    expect(() => new BusBatcher(new ControllableBus(), { maxBatch: 0 })).toThrow(RangeError);
  });
});
