/**
 * What a processor taking over streams restores besides episodes (restart.test.ts): signal loss
 * of streams that went silent while no processor ran, escalation of restored unacknowledged
 * alerts, and acknowledgements given meanwhile.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Alert } from '../../contracts/alert.ts';
import type { TelemetryFrame } from '../../contracts/telemetry.ts';
import { InProcessBus } from '../../platform/bus/index.ts';
import { syntheticEcgSource } from '../../device-sim/ecg-synth.ts';
import { ManualClock } from '../../processor/clock.ts';
import { beats, frames, iso, processorSnapshots, startHarness, T0, until, type Harness } from './helpers.ts';

const running: Harness[] = [];
afterEach(async () => {
  for (const h of running.splice(0)) await h.stop();
});

const start = async (bus: InProcessBus, clock: ManualClock) => {
  const h = await startHarness({ bus, clock });
  running.push(h);
  return h;
};
const stop = async (h: Harness) => {
  running.splice(running.indexOf(h), 1);
  await h.stop();
};

/** Every processor snapshot for `list` sent through one processor, or two with a restart before the first frame at or after `restartAtMs`. */
async function withRestart(list: TelemetryFrame[], restartAtMs?: number): Promise<Alert[]> {
  const bus = new InProcessBus();
  const clock = new ManualClock(T0 + 3_600_000);
  let h = await start(bus, clock);
  if (restartAtMs !== undefined) {
    await h.send(list.filter((f) => f.ts < restartAtMs));
    await stop(h);
    h = await start(bus, clock);
  }
  await h.send(list.filter((f) => restartAtMs === undefined || f.ts >= restartAtMs));
  await stop(h);
  return processorSnapshots(bus);
}

/** 20 s normal rhythm, then 20 beats at 35 bpm (still going when the frames stop). */
const BRADY = frames(beats(T0, [{ rrMs: 800, count: 25 }, { rrMs: 1700, count: 40 }]), 80_000);

describe('restoring streams', () => {
  it('raises signal_loss for a stream that went silent while no processor ran, from the end of its last frame', async () => {
    const bus = new InProcessBus();
    const clock = new ManualClock(T0 + 3_600_000);
    const a = await start(bus, clock);
    await a.send(frames(beats(T0, [{ rrMs: 800, count: 30 }]), 20_000), 'p1', 'd1');
    await stop(a);
    clock.advance(60_000);
    const b = await start(bus, clock);
    // Another patient's frames arrive on the same partition: the new processor learns it owns it.
    await b.send(frames(beats(T0 + 60_000, [{ rrMs: 800, count: 30 }]), 20_000, { t0Ms: T0 + 60_000 }), 'p2', 'd2');
    await b.advance(10_000);
    const loss = processorSnapshots(bus).filter((x) => x.kind === 'signal_loss');
    expect(loss.map((x) => [x.patientId, x.onset])).toEqual([['p1', iso(T0 + 20_000)], ['p2', iso(T0 + 80_000)]]);
  });

  it('keeps escalating a restored unacknowledged high-priority alert (not before a 5 s grace after the restore)', async () => {
    const bus = new InProcessBus();
    const clock = new ManualClock(T0 + 3_600_000);
    const wall0 = clock.now();
    const a = await start(bus, clock);
    await a.send(BRADY.slice(0, 40));
    const [onset] = processorSnapshots(bus).filter((x) => x.kind === 'extreme_brady');
    expect(onset!.detectedAt).toBe(iso(wall0));
    await stop(a);
    clock.advance(70_000);
    const b = await start(bus, clock);
    await b.send(BRADY.slice(40, 45));
    await b.advance(4_000);
    expect(processorSnapshots(bus).filter((x) => x.kind === 'extreme_brady' && x.escalationLevel !== undefined)).toEqual([]);
    await b.advance(1_000);
    const escalated = processorSnapshots(bus).filter((x) => x.kind === 'extreme_brady' && x.escalationLevel !== undefined);
    expect(escalated.map((x) => [x.id, x.escalationLevel, x.escalatedAt])).toEqual([[onset!.id, 1, iso(wall0 + 75_000)]]);
  });

  it('does not escalate a restored alert that a clinician acknowledged while no processor ran', async () => {
    const bus = new InProcessBus();
    const clock = new ManualClock(T0 + 3_600_000);
    const wall0 = clock.now();
    const a = await start(bus, clock);
    await a.send(BRADY.slice(0, 40));
    const [onset] = processorSnapshots(bus).filter((x) => x.kind === 'extreme_brady');
    await stop(a);
    const acked: Alert = { ...onset!, state: 'acknowledged', acknowledgedBy: 'dr-care', acknowledgedAt: iso(wall0 + 30_000), revision: 9, updatedAt: iso(wall0 + 30_000) };
    await bus.publish('pb.alerts.v1', [{ key: 'p1', value: Buffer.from(JSON.stringify({ schema: 'pb.alert.v1', source: 'clinician', alert: acked })) }]);
    clock.advance(70_000);
    const b = await start(bus, clock);
    await until('the new processor to read the acknowledgement', () => b.metrics.counter('pb_processor_clinician_snapshots_total', '').get() >= 1);
    await b.send(BRADY.slice(40));
    await b.advance(300_000);
    const later = processorSnapshots(bus).filter((x) => x.kind === 'extreme_brady');
    expect(later.filter((x) => x.escalationLevel !== undefined)).toEqual([]);
    // Its later snapshots (evidence updates) carry the acknowledgement and continue its revisions.
    expect(later.at(-1)).toMatchObject({ id: onset!.id, state: 'acknowledged', acknowledgedBy: 'dr-care' });
    expect(later.at(-1)!.revision).toBeGreaterThan(9);
  });

  it('continues an asystole that is still going on at a restart (the new processor sees no beat before it): no estimated end, it ends at the first beat', async () => {
    // beats until 16 s, silence until 100.8 s (longer than the 60 s re-detection window after the restart at 30 s), then beats again
    const list = frames([...beats(T0, [{ rrMs: 800, count: 20 }]), ...beats(T0 + 100_000, [{ rrMs: 800, count: 20 }])], 119_000);
    const asystoles = async (restartAtMs?: number) => {
      const finals = new Map<string, Alert>();
      for (const a of (await withRestart(list, restartAtMs)).filter((x) => x.kind === 'asystole')) finals.set(a.id, a);
      return [...finals.values()].map((a) => [a.onset, a.end, a.evidence.note ?? null]);
    };
    const reference = await asystoles();
    expect(reference).toEqual([[iso(T0 + 16_000), iso(T0 + 100_800), null]]);
    expect(await asystoles(T0 + 30_000)).toEqual(reference);
  });

  it('continues a running brady alarm delay after a restart, but not across a hole in the frames at the restart (as one processor would not)', async () => {
    // 35 bpm from 21.7 s for 51 s: a sudden drop, brady raised 30 s into it.
    const run = frames(beats(T0, [{ rrMs: 800, count: 25 }, { rrMs: 1700, count: 30 }, { rrMs: 800, count: 20 }]), 95_000);
    const withHole = run.filter((f) => f.ts < T0 + 40_000 || f.ts >= T0 + 45_000);
    const brady = async (list: typeof run, restartAtMs?: number) =>
      (await withRestart(list, restartAtMs)).filter((x) => x.kind === 'brady' && x.revision === 1).map((x) => [x.onset, x.evidence.beatCount]);
    const reference = await brady(run);
    expect(reference).toEqual([[iso(T0 + 21_700), 19]]); // raised at the 19th slow beat, 30.6 s into the run
    expect(await brady(run, T0 + 40_000)).toEqual(reference);
    // 5 s of frames lost: the delay starts again after the hole, too late for this run, with or without a restart there.
    expect(await brady(withHole)).toEqual([]);
    expect(await brady(withHole, T0 + 40_000)).toEqual([]);
  });

  it('continues a running brady alarm delay of an ECG-only device (beats detected in the processor) after a restart', async () => {
    // 45 bpm from 21.3 s for 45 s, 250 Hz ECG and no beats in the frames: brady raised 30 s into it.
    const run = frames(beats(T0, [{ rrMs: 800, count: 25 }, { rrMs: 1333, count: 34 }, { rrMs: 800, count: 30 }]), 89_000, { ecg: syntheticEcgSource(7, 250), ecgFsHz: 250 }).map((f) => ({ ...f, beats: [], hr: 0 }));
    const brady = async (restartAtMs?: number) =>
      (await withRestart(run, restartAtMs)).filter((x) => x.kind === 'brady' && x.revision === 1).map((x) => [x.onset, x.evidence.beatCount, x.evidence.hrBpm]);
    const reference = await brady();
    expect(reference).toHaveLength(1);
    expect(Math.abs(Date.parse(reference[0]![0] as string) - (T0 + 21_333))).toBeLessThanOrEqual(30);
    expect(await brady(T0 + 35_000)).toEqual(reference);
  });
});
