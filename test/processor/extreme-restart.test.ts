/**
 * An open extreme bradycardia/tachycardia episode across an unclean restart (a crash: the regular
 * changelog record, no hand-over). Since the end hysteresis (consecutive-rate.ts `RateRecovery`)
 * an episode stays open while the rate hovers at the limit, where N consecutive beats beyond it
 * may not come again for minutes. A fresh detector knew nothing of the episode: the restored
 * alert ended "end estimated" 60 s after the restart, and the next run of 17 beats raised a
 * second high-priority alarm. The open episode, its recent intervals and its recovery progress
 * are now in the record (pendingState format 3), so the successor goes on with it: one alarm, and
 * its end at the same beat as without the crash. StreamRuntime directly, its record through JSON
 * as on the bus.
 */
import { describe, expect, it } from 'vitest';
import type { Alert } from '../../contracts/alert.ts';
import { alarmCriteriaSchema, DEFAULT_CRITERIA_VERSION, type CriteriaVersion } from '../../contracts/criteria.ts';
import type { TelemetryFrame } from '../../contracts/telemetry.ts';
import { parseStreamState } from '../../processor/stream-state.ts';
import { StreamRuntime, type StreamRuntimeOptions } from '../../processor/stream-runtime.ts';
import { beats, frames, iso, T0, type Segment } from './helpers.ts';

const OPTIONS: StreamRuntimeOptions = { patientId: 'p1', deviceId: 'd1', criteriaAt: () => DEFAULT_CRITERIA_VERSION, ecgStrips: false };

/** `cycles` × (10 beats at 150/min, 2 at 130/min): 4.9 s each, never 17 beats > 140/min in a row, the averaged rate ≈ 148/min. */
const hovering = (cycles: number, fastRrMs = 400, slowRrMs = 460): Segment[] => Array.from({ length: cycles }, (): Segment[] => [{ rrMs: fastRrMs, count: 10 }, { rrMs: slowRrMs, count: 2 }]).flat();

/**
 * Extreme tachycardia hovering at the limit: 20 s at 75/min, a run of 20 beats at 150/min (the
 * onset), ≈ 98 s hovering, another run of 20 (a second onset for a detector that does not know the
 * episode), ≈ 49 s hovering, then 75/min for 80 s (the end: 30 s after the averaged rate is ≤ 130).
 */
const TACHY: Segment[] = [{ rrMs: 800, count: 25 }, { rrMs: 400, count: 20 }, ...hovering(20), { rrMs: 400, count: 20 }, ...hovering(10), { rrMs: 800, count: 100 }];
/**
 * Extreme bradycardia hovering at its limit: 20 s at 75/min, 6 beats at 35/min (onset at the 5th),
 * then ≈ 100 s of (3 beats at 35/min, 1 at 43/min): never 5 below 40/min in a row, the averaged
 * rate ≈ 36/min; 6 more at 35/min, ≈ 50 s hovering, then 75/min for 80 s.
 */
const BRADY_HOVER = (cycles: number): Segment[] => Array.from({ length: cycles }, (): Segment[] => [{ rrMs: 1715, count: 3 }, { rrMs: 1395, count: 1 }]).flat();
const BRADY: Segment[] = [{ rrMs: 800, count: 25 }, { rrMs: 1715, count: 6 }, ...BRADY_HOVER(15), { rrMs: 1715, count: 6 }, ...BRADY_HOVER(7), { rrMs: 800, count: 100 }];

const list = (segments: Segment[]) => {
  const bs = beats(T0, segments);
  return frames(bs, Math.ceil((bs.at(-1)!.tMs - T0) / 1000) * 1000 + 2000);
};

/** Every snapshot of `kind` the runtime(s) published, with a crash (record → JSON → restore) after frame `crashAfter`, re-delivering from `redeliverFrom`. */
function published(frameList: TelemetryFrame[], kind: string, crash?: { after: number; redeliverFrom?: number }): Alert[] {
  const out: Alert[] = [];
  let rt = new StreamRuntime(OPTIONS);
  const feed = (fs: TelemetryFrame[]) => {
    for (const f of fs) out.push(...rt.ingest(f, iso(f.ts + f.durMs)).alerts.filter((a) => a.kind === kind));
  };
  if (!crash) {
    feed(frameList);
    return out;
  }
  feed(frameList.slice(0, crash.after + 1));
  rt = StreamRuntime.restore(OPTIONS, parseStreamState(JSON.parse(JSON.stringify(rt.record('a', 0))))!);
  feed(frameList.slice(crash.redeliverFrom ?? crash.after + 1));
  return out;
}

/** The alarms raised (their onsets, ms after T0) and every end published (ms after T0, with its note). */
function summary(snapshots: Alert[]) {
  const raised = snapshots.filter((a) => a.revision === 1).map((a) => Date.parse(a.onset) - T0);
  const ends = new Map<string, { endMs: number; note: string | undefined }>();
  for (const a of snapshots) if (a.end && !ends.has(a.id)) ends.set(a.id, { endMs: Date.parse(a.end) - T0, note: a.evidence.note });
  return { raised, ends: [...ends.values()] };
}

describe('an open extreme rate episode across a crash, the rate hovering at the limit', () => {
  const cases = [
    { name: 'extreme tachycardia', segments: TACHY, kind: 'extreme_tachy', crashes: [50, 60, 90] },
    { name: 'extreme bradycardia', segments: BRADY, kind: 'extreme_brady', crashes: [40, 60, 80] },
  ];
  for (const c of cases) {
    const frameList = list(c.segments);
    const reference = summary(published(frameList, c.kind));

    it(`${c.name}: without a crash, one alarm and one end`, () => {
      expect(reference.raised).toHaveLength(1);
      expect(reference.ends).toHaveLength(1);
      expect(reference.ends[0]!.note).toBeUndefined();
    });

    it(`${c.name}: a crash mid-episode raises no second alarm, and the end comes once, at the same beat`, () => {
      // Also 10 and 25 s into the 30 s recovery (the recovered stretch goes on from the record).
      const endS = Math.floor(reference.ends[0]!.endMs / 1000);
      for (const after of [...c.crashes, endS + 10, endS + 25]) {
        for (const redeliverFrom of [undefined, after - 3]) {
          const got = summary(published(frameList, c.kind, { after, ...(redeliverFrom !== undefined ? { redeliverFrom } : {}) }));
          expect([after, redeliverFrom, got]).toEqual([after, redeliverFrom, reference]);
        }
      }
    });
  }

  it('a criteria change of the end rule mid-episode (hysteresis 10 → 15 bpm) goes on with the episode: one alarm, its end at the same beat', () => {
    const frameList = list(TACHY);
    const reference = summary(published(frameList, 'extreme_tachy'));
    const changeMs = T0 + 60_000;
    const v1: CriteriaVersion = { version: 1, effectiveFrom: iso(changeMs), setBy: 'dr-care', setAt: iso(T0), alarms: alarmCriteriaSchema.parse({ extreme_tachy: { hysteresisBpm: 15 } }) };
    const rt = new StreamRuntime({ ...OPTIONS, criteriaAt: (tsMs) => (tsMs >= changeMs ? v1 : DEFAULT_CRITERIA_VERSION) });
    const got = summary(frameList.flatMap((f) => rt.ingest(f, iso(f.ts + f.durMs)).alerts.filter((a) => a.kind === 'extreme_tachy')));
    expect(got).toEqual(reference);
  });

  it('an older record (no open episode in it) still restores: the alert waits for a re-detection as before', () => {
    const frameList = list(TACHY);
    let rt = new StreamRuntime(OPTIONS);
    for (const f of frameList.slice(0, 61)) rt.ingest(f, iso(f.ts + f.durMs));
    const rec = JSON.parse(JSON.stringify(rt.record('a', 0)));
    expect(rec.pending.map((p: { kind: string; state: { v: number } }) => [p.kind, p.state.v])).toContainEqual(['extreme_tachy', 3]);
    rec.pending = rec.pending.filter((p: { kind: string }) => p.kind !== 'extreme_tachy');
    rt = StreamRuntime.restore(OPTIONS, parseStreamState(rec)!);
    const out: Alert[] = [];
    for (const f of frameList.slice(61)) out.push(...rt.ingest(f, iso(f.ts + f.durMs)).alerts.filter((a) => a.kind === 'extreme_tachy'));
    const ended = out.find((a) => a.end);
    expect(ended?.evidence.note).toMatch(/end estimated/);
  });
});
