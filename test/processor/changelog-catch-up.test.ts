/**
 * ChangelogTable.catchUp (processor/changelog-table.ts) reads where the stream ends instead of
 * publishing a barrier record and waiting to fold it (platform/bus/catch-up.ts, shared with
 * BusFollower.sync). The processor's Kafka user has no Write on the criteria stream any more
 * (platform/bus/acl-spec.ts): with barriers, its first catch-up was refused and no telemetry batch
 * of a new partition could be analysed. Same meaning as before: once it resolves, everything
 * published and acknowledged before the call is folded, this process's own writes included.
 * Barrier records of older versions (streams in the field hold them) are still skipped.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { STREAMS } from '../../contracts/topics.ts';
import type { BusMessage } from '../../platform/bus/index.ts';
import { InProcessBus } from '../../platform/bus/index.ts';
import { silentLogger } from '../../platform/log.ts';
import { BARRIER_SCHEMA, ChangelogTable } from '../../processor/changelog-table.ts';
import { ReadOnlyBus } from '../platform/bus/read-only-bus.ts';
import { beats, frames, iso, processorSnapshots, startHarness, T0, type Harness } from './helpers.ts';

const STREAM = 'pb.test.changelog';
const json = (key: string, value: unknown): BusMessage => ({ key, value: Buffer.from(JSON.stringify(value)) });
const barrier = (id: string) => json(`barrier:pulsebridge-processor-criteria-old-${id}`, { schema: BARRIER_SCHEMA, id });

/** A table of `{ n }` records; `onParse` sees every record handed to `parse`. */
function tableOn(bus: ReadOnlyBus | InProcessBus, onParse: (value: unknown) => void = () => {}) {
  return new ChangelogTable<{ n: number }>({
    bus, stream: STREAM, groupId: `test-${Math.random()}`, ephemeralGroup: true, logger: silentLogger,
    parse: (_key, value) => {
      onParse(value);
      return typeof (value as { n?: unknown }).n === 'number' ? (value as { n: number }) : undefined;
    },
  });
}

const tables: { stop(): Promise<void> }[] = [];
/** A started table of {@link tableOn}, stopped after the test. */
async function startedTableOn(...args: Parameters<typeof tableOn>) {
  const table = tableOn(...args);
  tables.push(table);
  await table.start();
  return table;
}
let h: Harness | undefined;
/** Lets a gated reader go on (a test that failed before releasing it would hang its stop). */
let releaseGate: (() => void) | undefined;
afterEach(async () => {
  releaseGate?.();
  releaseGate = undefined;
  for (const t of tables.splice(0)) await t.stop();
  await h?.stop();
  h = undefined;
});

describe('ChangelogTable.catchUp without writing to the stream', () => {
  it('a reader that may not write catches up with what others published before each call', async () => {
    const bus = new InProcessBus();
    await bus.publish(STREAM, [json('a', { n: 1 }), json('b', { n: 2 })]);
    const readOnly = new ReadOnlyBus(bus);
    const table = await startedTableOn(readOnly);
    expect(await table.catchUp(5_000)).toBe(true);
    expect([...table.entries()]).toEqual([['a', { n: 1 }], ['b', { n: 2 }]]);
    await bus.publish(STREAM, [json('a', { n: 3 })]);
    expect(await table.catchUp(5_000)).toBe(true);
    expect(table.get('a')).toEqual({ n: 3 });
    expect(readOnly.writesTried).toBe(0);
  });

  it('waits for a lagging reader to fold what was published before the call', async () => {
    const bus = new InProcessBus();
    const readOnly = new ReadOnlyBus(bus);
    const table = await startedTableOn(readOnly);
    let release!: () => void;
    readOnly.gate = new Promise<void>((r) => (release = r));
    await bus.publish(STREAM, [json('a', { n: 1 })]);
    let caughtUp: boolean | undefined;
    const catchUp = table.catchUp(5_000).then((v) => { caughtUp = v; });
    for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
    expect(caughtUp).toBeUndefined();
    expect(table.get('a')).toBeUndefined();
    release();
    await catchUp;
    expect(caughtUp).toBe(true);
    expect(table.get('a')).toEqual({ n: 1 });
  });

  it('its own process\'s writes are folded once it resolves (read-your-writes), and nothing else was written', async () => {
    const bus = new InProcessBus();
    const table = await startedTableOn(bus);
    await bus.publish(STREAM, [json('mine', { n: 7 })]);
    expect(await table.catchUp(5_000)).toBe(true);
    expect(table.get('mine')).toEqual({ n: 7 });
    expect(bus.read(STREAM).map((m) => JSON.parse(m.value.toString()))).toEqual([{ n: 7 }]);
  });

  it('barrier records of older versions are skipped (never parsed, no row) and count as read', async () => {
    const bus = new InProcessBus();
    await bus.publish(STREAM, [barrier('x'), json('a', { n: 1 }), barrier('y')]);
    const parsed: unknown[] = [];
    const table = await startedTableOn(new ReadOnlyBus(bus), (v) => parsed.push(v));
    expect(await table.catchUp(5_000)).toBe(true);
    // An older processor still catching up with a barrier, after this reader's last record.
    await bus.publish(STREAM, [barrier('z')]);
    expect(await table.catchUp(5_000)).toBe(true);
    expect(parsed).toEqual([{ n: 1 }]);
    expect([...table.entries()]).toEqual([['a', { n: 1 }]]);
  });

  it('false when it does not get there in time (a partition with a message it never got); a rejection when the bus cannot say where the stream ends', async () => {
    const bus = new InProcessBus();
    const readOnly = new ReadOnlyBus(bus);
    const table = await startedTableOn(readOnly);
    readOnly.extraEnds = [{ partition: 1, start: '7', end: '7' }];
    expect(await table.catchUp(100)).toBe(true);
    readOnly.extraEnds = [{ partition: 1, start: '7', end: '8' }];
    expect(await table.catchUp(100)).toBe(false);
    readOnly.extraEnds = [];
    bus.setAvailable(false);
    await expect(table.catchUp(5_000)).rejects.toMatchObject({ code: 'PB_BUS_UNAVAILABLE' });
    bus.setAvailable(true);
    expect(await tableOn(bus).catchUp(100)).toBe(false); // not started
  });
});

describe('a processor whose Kafka user may not write the criteria stream', () => {
  /** Tachycardia above 100/min for 3 beats, without delay (the default limit is 120/min, delayed). */
  const criteria = {
    schema: 'pb.criteria.v1', patientId: 'p1',
    versions: [{ version: 1, effectiveFrom: iso(T0 - 60_000), setBy: 'dr-care', setAt: iso(T0 - 60_000), alarms: { tachy: { limitBpm: 100, consecutiveBeats: 3, sustainMs: 0 } } }],
  };

  it('catches up on the criteria published before it analyses a new partition: 110/min raises the patient\'s tachycardia alarm at the patient\'s limit', async () => {
    const bus = new InProcessBus();
    await bus.publish(STREAMS.criteria, [json('p1', criteria)]);
    const readOnly = new ReadOnlyBus(bus, (stream) => stream === STREAMS.criteria);
    // The criteria reader lags until a timer after the processor asked where the criteria stream
    // ends: frames analysed without waiting for the catch-up would get the defaults (no alarm).
    readOnly.gate = new Promise<void>((r) => (releaseGate = r));
    readOnly.onEndOffsets = (stream) => { if (stream === STREAMS.criteria) setTimeout(() => releaseGate?.(), 0); };
    h = await startHarness({ bus: readOnly });
    await h.send(frames(beats(T0, [{ rrMs: 545, count: 30 }]), 20_000), 'p1');
    const tachy = processorSnapshots(bus).filter((a) => a.kind === 'tachy');
    expect(tachy[0]?.evidence.thresholds).toMatchObject({ limitBpm: 100, consecutiveBeats: 3, sustainMs: 0 });
    expect(readOnly.writesTried).toBe(0);
    // It still writes its own state stream.
    expect(bus.read(STREAMS.processorState).length).toBeGreaterThan(0);
  });
});
