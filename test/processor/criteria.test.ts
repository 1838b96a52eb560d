/**
 * Per-patient criteria on the processor side: versions read from the criteria stream apply to
 * frames whose device time is at or after their `effectiveFrom`.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { alarmCriteriaSchema, DEFAULT_ALARM_CRITERIA, type AlarmCriteriaInput, type CriteriaRecord, type CriteriaVersion } from '../../contracts/criteria.ts';
import { EXTREME_BRADY_DEFAULTS } from '../../processor/detectors/extreme-brady.ts';
import { BRADY_DEFAULTS } from '../../processor/detectors/brady.ts';
import { TACHY_DEFAULTS } from '../../processor/detectors/tachy.ts';
import { EXTREME_TACHY_DEFAULTS } from '../../processor/detectors/extreme-tachy.ts';
import { PAUSE_DEFAULTS } from '../../processor/detectors/pause.ts';
import { VT_DEFAULTS } from '../../processor/detectors/vt.ts';
import { AFIB_DEFAULTS } from '../../processor/detectors/afib.ts';
import { ASYSTOLE_DEFAULTS } from '../../processor/detectors/asystole.ts';
import { LEAD_OFF_DEFAULTS, LOW_BATTERY_DEFAULTS } from '../../processor/technical.ts';
import { STREAMS } from '../../contracts/topics.ts';
import { InProcessBus } from '../../platform/bus/index.ts';
import { syntheticEcgSource } from '../../device-sim/ecg-synth.ts';
import { beats, frames, iso, processorSnapshots, startHarness, T0, until, type Harness } from './helpers.ts';

let h: Harness | undefined;
afterEach(async () => {
  await h?.stop();
  h = undefined;
});

const version = (v: number, effectiveFromMs: number, alarms: AlarmCriteriaInput): CriteriaVersion => ({
  version: v, effectiveFrom: iso(effectiveFromMs), setBy: 'dr-care', setAt: iso(T0), alarms: alarmCriteriaSchema.parse(alarms),
});

async function publishCriteria(bus: InProcessBus, harness: Harness | undefined, patientId: string, versions: CriteriaVersion[], relearns?: CriteriaRecord['relearns']) {
  const rec: CriteriaRecord = { schema: 'pb.criteria.v1', patientId, versions, ...(relearns ? { relearns } : {}) };
  const read = () => harness?.metrics.counter('pb_processor_criteria_records_total', '').get() ?? 0;
  const before = read();
  await bus.publish(STREAMS.criteria, [{ key: patientId, value: Buffer.from(JSON.stringify(rec)) }]);
  if (harness) await until('the processor to read the criteria', () => read() > before);
}

describe('per-patient criteria in the processor', () => {
  it('uses the defaults of the detectors (fhir-and-alarms.md §5) when nothing is configured', () => {
    const c = DEFAULT_ALARM_CRITERIA;
    expect({
      asystole: c.asystole.minGapMs, pause: c.pause.minRrMs,
      extremeBrady: [c.extreme_brady.hrBelowBpm, c.extreme_brady.consecutiveBeats], brady: [c.brady.limitBpm, c.brady.consecutiveBeats, c.brady.sustainMs],
      extremeTachy: [c.extreme_tachy.hrAboveBpm, c.extreme_tachy.consecutiveBeats], tachy: [c.tachy.limitBpm, c.tachy.consecutiveBeats, c.tachy.sustainMs],
      vt: [c.vt.minBeats, c.vt.hrAboveBpm, c.vt.leakageBelow, c.vt.similarityMin], afib: c.afib.minEpisodeMs, leadOff: c.lead_off.minDurationMs, battery: [c.low_battery.belowPct, c.low_battery.clearAtPct],
    }).toEqual({
      asystole: ASYSTOLE_DEFAULTS.minGapMs, pause: PAUSE_DEFAULTS.minRrMs,
      extremeBrady: [EXTREME_BRADY_DEFAULTS.hrBelowBpm, EXTREME_BRADY_DEFAULTS.consecutiveBeats], brady: [BRADY_DEFAULTS.limitBpm, BRADY_DEFAULTS.consecutiveBeats, BRADY_DEFAULTS.sustainMs],
      extremeTachy: [EXTREME_TACHY_DEFAULTS.hrAboveBpm, EXTREME_TACHY_DEFAULTS.consecutiveBeats], tachy: [TACHY_DEFAULTS.limitBpm, TACHY_DEFAULTS.consecutiveBeats, TACHY_DEFAULTS.sustainMs],
      vt: [VT_DEFAULTS.minBeats, VT_DEFAULTS.hrAboveBpm, VT_DEFAULTS.leakageBelow, VT_DEFAULTS.similarityMin], afib: AFIB_DEFAULTS.minEpisodeMs, leadOff: LEAD_OFF_DEFAULTS.minDurationMs, battery: [LOW_BATTERY_DEFAULTS.belowPct, LOW_BATTERY_DEFAULTS.clearAtPct],
    });
  });

  it('alarms at 55 bpm with the brady limit raised to 60 for this patient, and not for a patient on the defaults', async () => {
    const bus = new InProcessBus();
    await publishCriteria(bus, undefined, 'p1', [version(1, T0, { brady: { limitBpm: 60 } })]);
    h = await startHarness({ bus });
    const at55 = frames(beats(T0, [{ rrMs: 800, count: 20 }, { rrMs: 1090, count: 30 }]), 50_000);
    await h.send(at55, 'p1');
    await h.send(at55, 'p2', 'd2');
    const brady = processorSnapshots(bus).filter((a) => a.kind === 'brady');
    expect([...new Set(brady.map((a) => a.patientId))]).toEqual(['p1']);
    expect(brady[0]!.evidence.thresholds).toMatchObject({ limitBpm: 60 });
  });

  it('applies the care team\'s relearn from the criteria record: an ECG-only patch put back at another angle reads V (false VT) until it, N after (test/processor/relearn.test.ts)', async () => {
    const patchBackMs = T0 + 65_000;
    const relearnAtMs = patchBackMs + 60_000;
    // The same heart from another electrode axis after a 5 s lead-off (relearn.test.ts anotherAngle).
    const anotherAngle = (x: number[]) => x.map((v, i) => -0.4 * v + 3 * ((x[i + 1] ?? v) - (x[i - 1] ?? v)));
    const timeline = beats(T0, [{ rrMs: 800, count: 75 }, { rrMs: 550, count: 300 }]);
    const ecgOnly = frames(timeline, timeline.at(-1)!.tMs - T0, { ecg: syntheticEcgSource(9, 250), ecgFsHz: 250, leadOff: [{ startMs: T0 + 60_000, endMs: patchBackMs }] })
      .map((f) => ({ ...f, beats: [], hr: 0, ...(f.ts >= patchBackMs && f.ecg ? { ecg: { ...f.ecg, uV: anotherAngle(f.ecg.uV) } } : {}) }));
    for (const relearn of [false, true]) {
      const bus = new InProcessBus();
      if (relearn) await publishCriteria(bus, undefined, 'p1', [], [{ at: iso(relearnAtMs), by: 'dr-care' }]);
      h = await startHarness({ bus });
      await h.send(ecgOnly);
      const vt = [...new Map(processorSnapshots(bus).filter((a) => a.kind === 'vt').map((a) => [a.id, a])).values()];
      expect(vt, `relearn ${relearn}`).toHaveLength(1);
      if (relearn) expect(Date.parse(vt[0]!.end!)).toBeLessThanOrEqual(relearnAtMs);
      else expect(vt[0]!.end).toBeUndefined();
      await h.stop();
      h = undefined;
    }
  });

  it('stops raising pauses from the effectiveFrom of the version that switches them off', async () => {
    const bus = new InProcessBus();
    await publishCriteria(bus, undefined, 'p1', [version(1, T0 + 60_000, { pause: { enabled: false } })]);
    h = await startHarness({ bus });
    // Pauses of 3.5 s at about 20 s and 80 s.
    await h.send(frames(beats(T0, [{ rrMs: 800, count: 20 }, { rrMs: 3500, count: 1 }, { rrMs: 800, count: 72 }, { rrMs: 3500, count: 1 }, { rrMs: 800, count: 30 }]), 110_000));
    const pauses = processorSnapshots(bus).filter((a) => a.kind === 'pause');
    expect([...new Set(pauses.map((a) => a.onset))]).toEqual([iso(T0 + 16_000)]);
  });

  it('ends an open brady alert at the effectiveFrom of the version that switches brady off, with a note', async () => {
    const bus = new InProcessBus();
    h = await startHarness({ bus });
    // 45 bpm from 17.3 s on: the brady alert opens 30 s later (sudden-onset alarm delay, issue 12)
    const run = frames(beats(T0, [{ rrMs: 800, count: 20 }, { rrMs: 1333, count: 60 }]), 95_000);
    await h.send(run.slice(0, 50));
    expect(new Set(processorSnapshots(bus).filter((a) => a.kind === 'brady').map((a) => a.end))).toEqual(new Set([undefined]));
    await publishCriteria(bus, h, 'p1', [version(1, T0 + 55_000, { brady: { enabled: false } })]);
    await h.send(run.slice(50));
    const last = processorSnapshots(bus).filter((a) => a.kind === 'brady').at(-1)!;
    expect(last).toMatchObject({ end: iso(T0 + 55_000), state: 'resolved' });
    expect(last.evidence.note).toMatch(/switched off by criteria version 1 \(set by dr-care\)/);
  });

  it('continues an open brady alert when its limit changes mid-episode: the rebuilt detector confirms it without a second alarm delay (no second alert, no estimated end)', async () => {
    const bus = new InProcessBus();
    h = await startHarness({ bus });
    // 45 bpm from 17.3 s to 137 s: a sudden drop, so the alert opens 30 s in (≈ 47 s); then 2 min
    // 16 s of normal rhythm, past the end's 2 min off-delay (brady.ts).
    const run = frames(beats(T0, [{ rrMs: 800, count: 20 }, { rrMs: 1333, count: 90 }, { rrMs: 800, count: 170 }]), 275_000);
    await h.send(run.slice(0, 60));
    expect(processorSnapshots(bus).filter((a) => a.kind === 'brady').length).toBeGreaterThan(0);
    await publishCriteria(bus, h, 'p1', [version(1, T0 + 65_000, { brady: { limitBpm: 52 } })]);
    await h.send(run.slice(60));
    const snapshots = processorSnapshots(bus).filter((a) => a.kind === 'brady');
    expect(new Set(snapshots.map((a) => a.id)).size).toBe(1);
    const last = snapshots.at(-1)!;
    expect(last.end).toBe(iso(T0 + 16_000 + 90 * 1333 + 800)); // the first recovered beat
    expect(last.evidence.note).toBeUndefined();
    expect(last.evidence.thresholds).toMatchObject({ limitBpm: 52 });
  });

  it('keeps an ending brady alert through a limit change in its off-delay: ended at its first recovered beat, no estimated end', async () => {
    const bus = new InProcessBus();
    h = await startHarness({ bus });
    // 45 bpm from 17.3 s to 137 s, then normal rhythm: the end (≈ 137 s) is final at ≈ 257 s.
    const run = frames(beats(T0, [{ rrMs: 800, count: 20 }, { rrMs: 1333, count: 90 }, { rrMs: 800, count: 170 }]), 275_000);
    await h.send(run.slice(0, 170));
    await publishCriteria(bus, h, 'p1', [version(1, T0 + 170_000, { brady: { limitBpm: 45 } })]);
    await h.send(run.slice(170));
    const snapshots = processorSnapshots(bus).filter((a) => a.kind === 'brady');
    expect(new Set(snapshots.map((a) => a.id)).size).toBe(1);
    const last = snapshots.at(-1)!;
    expect(last.end).toBe(iso(T0 + 16_000 + 90 * 1333 + 800)); // the first recovered beat
    expect(last.evidence.note).toBeUndefined();
  });

  it('keeps a running brady alarm delay when the criteria change during it and still cover the run (wider limit: same beat; no delay: the next beat), onset back-dated', async () => {
    // 45 bpm from 17.3 s: a sudden drop, so without a change the alarm is raised 30 s into the run.
    const run = frames(beats(T0, [{ rrMs: 800, count: 20 }, { rrMs: 1333, count: 60 }, { rrMs: 800, count: 20 }]), 100_000);
    const firstRaise = async (change?: AlarmCriteriaInput) => {
      const bus = new InProcessBus();
      h = await startHarness({ bus });
      await h.send(run.slice(0, 35));
      if (change) await publishCriteria(bus, h, 'p1', [version(1, T0 + 35_000, change)]);
      await h.send(run.slice(35));
      await h.stop();
      h = undefined;
      return processorSnapshots(bus).filter((a) => a.kind === 'brady' && a.revision === 1);
    };
    const [reference] = await firstRaise();
    expect(reference!.onset).toBe(iso(T0 + 16_000 + 1333));
    const [wider] = await firstRaise({ brady: { limitBpm: 52 } });
    expect([wider!.onset, wider!.evidence.beatCount, wider!.evidence.thresholds]).toEqual([reference!.onset, reference!.evidence.beatCount, expect.objectContaining({ limitBpm: 52 })]);
    // sustainMs 0 (the clinician's "alarm now"): the run is already 18 s long, so its next beat raises it.
    const [immediate] = await firstRaise({ brady: { sustainMs: 0 } });
    expect(immediate!.onset).toBe(reference!.onset);
    expect(immediate!.evidence.beatCount).toBe(beats(T0, [{ rrMs: 800, count: 20 }, { rrMs: 1333, count: 60 }]).filter((b) => b.tMs >= T0 + 16_000 + 1333 && b.tMs < T0 + 35_000 + 1333).length);
  });

  it('continues an open extreme_brady alert when its thresholds change mid-episode (no second alert)', async () => {
    const bus = new InProcessBus();
    h = await startHarness({ bus });
    const run = frames(beats(T0, [{ rrMs: 800, count: 20 }, { rrMs: 1700, count: 30 }, { rrMs: 800, count: 40 }]), 105_000);
    await h.send(run.slice(0, 30));
    await publishCriteria(bus, h, 'p1', [version(1, T0 + 40_000, { extreme_brady: { hrBelowBpm: 45 } })]);
    await h.send(run.slice(30));
    const snapshots = processorSnapshots(bus).filter((a) => a.kind === 'extreme_brady');
    expect(new Set(snapshots.map((a) => a.id)).size).toBe(1);
    expect(snapshots.at(-1)!.end).toBeDefined();
  });
});
