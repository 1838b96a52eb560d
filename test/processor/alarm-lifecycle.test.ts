/**
 * The alarm lifecycle on device time (StreamRuntime = reorder + detectors + lifecycle), fed frame
 * by frame. Snapshots are stamped with the device time of the frame that produced them, so the
 * tests can say *when* (in device time) something was published.
 */
import { describe, expect, it } from 'vitest';
import type { Alert } from '../../contracts/alert.ts';
import { alarmCriteriaSchema, DEFAULT_CRITERIA_VERSION, type CriteriaVersion } from '../../contracts/criteria.ts';
import type { TelemetryFrame } from '../../contracts/telemetry.ts';
import { LIFECYCLE_DEFAULTS, SYSTEM_ACTOR } from '../../processor/alarm-lifecycle.ts';
import { StreamRuntime } from '../../processor/stream-runtime.ts';
import { beats, frames, iso, T0 } from './helpers.ts';

interface Published { atMs: number; alert: Alert }

/**
 * The extreme alarms ending at the first beat back inside the limit (`recoveryMs: 0`, the PhysioNet
 * rule): the lifecycle's own re-arm is what these tests look at, not the detector's end hysteresis.
 */
const PHYSIONET_END: CriteriaVersion = { ...DEFAULT_CRITERIA_VERSION, alarms: alarmCriteriaSchema.parse({ extreme_brady: { recoveryMs: 0 }, extreme_tachy: { recoveryMs: 0 } }) };

function drive(frameList: TelemetryFrame[], nowIso?: string, criteria: CriteriaVersion = DEFAULT_CRITERIA_VERSION) {
  const rt = new StreamRuntime({ patientId: 'p1', deviceId: 'd1', criteriaAt: () => criteria });
  const out: Published[] = [];
  for (const f of frameList) {
    for (const alert of rt.ingest(f, nowIso ?? iso(f.ts + f.durMs)).alerts) out.push({ atMs: f.ts + f.durMs - T0, alert });
  }
  return { rt, out, of: (kind: string) => out.filter((p) => p.alert.kind === kind) };
}

const rel = (isoTime: string | undefined) => (isoTime === undefined ? undefined : Date.parse(isoTime) - T0);

/** R-peak times (ms after T0) of a beat list, for locating boundaries independently of the code. */
const times = (b: { tMs: number }[]) => b.map((x) => x.tMs - T0);

describe('alarm lifecycle', () => {
  // 25 normal beats, 8 beats at 35 bpm, one beat at 75 bpm, 8 beats at 35 bpm, 40 normal beats.
  const interrupted = beats(T0, [{ rrMs: 800, count: 25 }, { rrMs: 1700, count: 8 }, { rrMs: 800, count: 1 }, { rrMs: 1700, count: 8 }, { rrMs: 800, count: 40 }]);
  const t = times(interrupted);

  it('raises one extreme_brady alert for a run interrupted by a single faster beat (re-arm within 10 s)', () => {
    const { of } = drive(frames(interrupted, 85_000), undefined, PHYSIONET_END);
    const snapshots = of('extreme_brady');
    expect(new Set(snapshots.map((s) => s.alert.id)).size).toBe(1);
    const first = snapshots[0]!.alert;
    const last = snapshots.at(-1)!;
    expect(first).toMatchObject({ kind: 'extreme_brady', priority: 'high', state: 'active', revision: 1 });
    expect(rel(first.onset)).toBe(t[25]); // the first slow beat
    // Ends at the first normal beat after the second run (index 25 + 8 + 1 + 8 = 42)...
    expect(rel(last.alert.end)).toBe(t[42]);
    // ... published only once the condition had been absent 10 s of device time,
    expect(last.atMs).toBeGreaterThanOrEqual(t[42]! + LIFECYCLE_DEFAULTS.endConfirmMs.extreme_brady);
    expect(last.atMs).toBeLessThan(t[42]! + LIFECYCLE_DEFAULTS.endConfirmMs.extreme_brady + 1000);
    // ... and, being high priority, it latches: still active with its end set.
    expect(last.alert.state).toBe('active');
    expect(last.alert.revision).toBe(snapshots.length);
  });

  it('opens a second alert when the condition returns after the re-arm window', () => {
    const twoRuns = beats(T0, [{ rrMs: 800, count: 25 }, { rrMs: 1700, count: 8 }, { rrMs: 800, count: 19 }, { rrMs: 1700, count: 8 }, { rrMs: 800, count: 30 }]);
    const tt = times(twoRuns);
    const { of } = drive(frames(twoRuns, 85_000), undefined, PHYSIONET_END);
    const byId = new Map<string, Alert>();
    for (const s of of('extreme_brady')) byId.set(s.alert.id, s.alert);
    expect([...byId.values()].map((a) => [rel(a.onset), rel(a.end)])).toEqual([
      [tt[25], tt[33]],
      [tt[52], tt[60]],
    ]);
  });

  it('resolves a medium-priority alert itself when its end is confirmed (non-latching) and records the processor as resolver', () => {
    // 40 s at 45 bpm: a bradycardia past its 30 s sudden-onset alarm delay (issue 12), not extreme;
    // then 136 s of normal rhythm: its end is final after the 2 min off-delay (brady.ts).
    const slow = beats(T0, [{ rrMs: 800, count: 25 }, { rrMs: 1333, count: 30 }, { rrMs: 800, count: 170 }]);
    const { of } = drive(frames(slow, 200_000));
    const brady = of('brady');
    expect(rel(brady[0]!.alert.onset)).toBe(times(slow)[25]);
    expect(new Set(brady.map((s) => s.alert.id)).size).toBe(1);
    const last = brady.at(-1)!.alert;
    expect(last).toMatchObject({ kind: 'brady', priority: 'medium', state: 'resolved', resolvedBy: SYSTEM_ACTOR });
    expect(last.end).toBeDefined();
    expect(last.resolvedAt).toBe(last.updatedAt);
  });

  it('publishes evidence while an episode lasts at most every 10 s of device time, with the current rate and duration', () => {
    // 60 s of tachycardia at 130 bpm (RR 461 ms) between normal rhythm.
    const run = beats(T0, [{ rrMs: 800, count: 20 }, { rrMs: 461, count: 130 }, { rrMs: 800, count: 30 }]);
    const lastTachyBeatMs = times(run)[149]!;
    const { of } = drive(frames(run, 100_000));
    const tachy = of('tachy');
    const onsetAt = tachy[0]!.atMs;
    const updates = tachy.filter((s) => s.alert.end === undefined).slice(1);
    expect(updates.map((s) => s.atMs)).toEqual(updates.map((_, i) => onsetAt + (i + 1) * 10_000));
    const during = updates.filter((u) => u.atMs <= lastTachyBeatMs);
    expect(during.length).toBe(Math.floor((lastTachyBeatMs - onsetAt) / 10_000));
    for (const u of during) {
      expect(u.alert.evidence.hrBpm).toBeCloseTo(60000 / 461, 0);
      expect(u.alert.evidence.durationMs).toBe(u.atMs - rel(u.alert.onset)!);
    }
    expect(tachy.map((s) => s.alert.revision)).toEqual(tachy.map((_, i) => i + 1));
  });

  it('publishes sooner (≥ 2 s apart) when the rate moves by 10 bpm or more', () => {
    // 15 s at 125 bpm, then 150 bpm (extreme tachycardia too), then normal.
    const run = beats(T0, [{ rrMs: 800, count: 20 }, { rrMs: 480, count: 32 }, { rrMs: 400, count: 60 }, { rrMs: 800, count: 30 }]);
    const { of } = drive(frames(run, 100_000));
    const open = of('tachy').filter((s) => s.alert.end === undefined);
    const gaps = open.slice(1).map((s, i) => [s.atMs - open[i]!.atMs, s.alert.evidence.hrBpm! - open[i]!.alert.evidence.hrBpm!]);
    const early = gaps.filter(([gapMs]) => gapMs! < 10_000);
    expect(early.length).toBeGreaterThan(0);
    for (const [gapMs, dHr] of early) {
      expect(gapMs).toBeGreaterThanOrEqual(2000);
      expect(Math.abs(dHr!)).toBeGreaterThanOrEqual(10);
    }
  });

  it('escalates an unacknowledged high-priority alert 60 s and 180 s after detection (wall clock), and stops once acknowledged', () => {
    const wall = Date.parse('2026-11-25T12:00:00.000Z');
    const brady = beats(T0, [{ rrMs: 800, count: 25 }, { rrMs: 1700, count: 20 }]);
    const { rt } = drive(frames(brady, 55_000), iso(wall));
    expect(rt.nextEscalationDueMs()).toBe(wall + 60_000);
    expect(rt.escalate(wall + 59_999)).toEqual([]);
    const [level1] = rt.escalate(wall + 60_000);
    expect(level1).toMatchObject({ kind: 'extreme_brady', state: 'active', escalationLevel: 1, escalatedAt: iso(wall + 60_000) });
    expect(rt.nextEscalationDueMs()).toBe(wall + 180_000);
    const acked: Alert = { ...level1!, state: 'acknowledged', acknowledgedBy: 'dr-a', acknowledgedAt: iso(wall + 90_000), revision: level1!.revision + 1, updatedAt: iso(wall + 90_000) };
    expect(rt.onClinician(acked)).toBe(true);
    expect(rt.nextEscalationDueMs()).toBeUndefined();
    expect(rt.escalate(wall + 180_000)).toEqual([]);
  });

  it('never escalates medium or low priority alerts', () => {
    const wall = Date.parse('2026-11-25T12:00:00.000Z');
    // 45 bpm (RR 1333 ms): bradycardia (< 50), not extreme (≥ 40).
    const brady = beats(T0, [{ rrMs: 800, count: 25 }, { rrMs: 1333, count: 30 }]);
    const { rt, out } = drive(frames(brady, 60_000), iso(wall));
    expect(out.map((p) => p.alert.kind)).toContain('brady');
    expect(out.map((p) => p.alert.kind)).not.toContain('extreme_brady');
    expect(rt.nextEscalationDueMs()).toBeUndefined();
  });

  it('keeps a clinician-resolved alert resolved: no more evidence updates, but the end is still recorded', () => {
    const run = beats(T0, [{ rrMs: 800, count: 20 }, { rrMs: 461, count: 130 }, { rrMs: 800, count: 30 }]);
    const all = frames(run, 100_000);
    const rt = new StreamRuntime({ patientId: 'p1', deviceId: 'd1', criteriaAt: () => DEFAULT_CRITERIA_VERSION });
    const out: Alert[] = [];
    let resolvedOnce = false;
    for (const f of all) {
      out.push(...rt.ingest(f, iso(f.ts + f.durMs)).alerts);
      const tachy = out.find((a) => a.kind === 'tachy');
      if (tachy && !resolvedOnce) {
        resolvedOnce = true;
        rt.onClinician({ ...tachy, state: 'resolved', resolvedBy: 'dr-b', resolvedAt: iso(f.ts), revision: 2, updatedAt: iso(f.ts) });
      }
    }
    const tachy = out.filter((a) => a.kind === 'tachy');
    expect(tachy.map((a) => [a.state, a.end !== undefined, a.revision])).toEqual([['active', false, 1], ['resolved', true, 3]]);
    expect(tachy[1]).toMatchObject({ resolvedBy: 'dr-b' });
  });

  it('drops an ended latched alert from tracking once it is acknowledged', () => {
    const { rt, of } = drive(frames(interrupted, 85_000));
    const ended = of('extreme_brady').at(-1)!.alert;
    expect(rt.trackedAlerts().map((a) => a.id)).toContain(ended.id);
    rt.onClinician({ ...ended, state: 'acknowledged', acknowledgedBy: 'dr-a', acknowledgedAt: ended.updatedAt, revision: ended.revision + 1 });
    expect(rt.trackedAlerts().map((a) => a.id)).not.toContain(ended.id);
  });
});
