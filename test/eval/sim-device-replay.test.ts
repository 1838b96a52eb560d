/**
 * Alarms found in `scripts/sim-100.ts` runs, reproduced offline with the run's start
 * (eval/sim-device-replay.ts) and kept as regression cases.
 */
import { describe, expect, it } from 'vitest';
import { scenarioFromPhases, validateScenario } from '../../device-sim/scenario.ts';
import { replaySimDevice, type SimDeviceReplayOptions } from '../../eval/sim-device-replay.ts';

const RUN: Omit<SimDeviceReplayOptions, 'deviceId' | 't0Ms'> = { devices: 100, scenario: 'all-alarms', speed: 5, durationMs: 600_000, ecgOnly: true, paced: true };

/** vt onsets (s from t0) outside every ground-truth vt episode, and ground-truth vt episodes without an onset in them. */
async function vtScore(deviceId: string, t0Ms: number) {
  const { changes, truth } = await replaySimDevice({ ...RUN, deviceId, t0Ms });
  const onsets = changes.filter((c) => c.kind === 'vt' && c.type === 'onset').map((c) => c.onsetMs);
  const vt = truth.filter((e) => e.kind === 'vt');
  const within = (t: number, e: (typeof vt)[number]) => t >= e.onsetMs && t <= (e.endMs ?? Infinity);
  return {
    falseOnsetsS: onsets.filter((t) => !vt.some((e) => within(t, e))).map((t) => (t - t0Ms) / 1000),
    missedS: vt.filter((e) => !onsets.some((t) => within(t, e))).map((e) => (e.onsetMs - t0Ms) / 1000),
    truthCount: vt.length,
  };
}

describe('paced ECG-only devices of sim-100 runs (--ecg-only --paced): the patient\'s own conducted beats are not VT', () => {
  // The paced complexes' width reads ≈ 80 or ≈ 136 ms beat to beat (the slope threshold meets the
  // broad S wave's trough in noise); the paced dominant beat's width followed the short readings,
  // and the own conducted beats (68–92 ms) within 2 × widerByMs of it read V (qrs-morphology.ts).
  it('sim-0080 of the run at t0 1796396238293: no vt in its extreme tachycardia of own beats at 165/min (336–348 s)', async () => {
    const s = await vtScore('sim-0080', 1796396238293);
    expect(s.falseOnsetsS).toEqual([]);
    expect(s.truthCount).toBe(1);
    expect(s.missedS).toEqual([]);
  });

  it('sim-0008 of the run at t0 1796396393113: no vt at the onset of its AF at about 107/min (70 s); its true VT (473 s) is found', async () => {
    const s = await vtScore('sim-0008', 1796396393113);
    expect(s.falseOnsetsS).toEqual([]);
    expect(s.truthCount).toBe(1);
    expect(s.missedS).toEqual([]);
  });
});

describe('a patch put back turned through 180° in a tachycardia (sim scenario with a reversed 3 s lead_off), ECG-only devices', () => {
  // The demo run of issue 12 session 21 (four ECG-only devices, 10 min at speed 4): before the
  // labeller's polarity check each device raised a false VT after the lead-off.
  const scenario = validateScenario({
    name: 'patch-turned-in-tachycardia',
    episodes: [
      { kind: 'tachy', startMs: 30_000, durationMs: 240_000, hrBpm: 125 },
      { kind: 'lead_off', startMs: 272_000, durationMs: 3000, reversed: true },
      { kind: 'tachy', startMs: 280_000, durationMs: 240_000, hrBpm: 125 },
    ],
  });
  for (const deviceId of ['sim-0001', 'sim-0002', 'sim-0003', 'sim-0004']) {
    it(`${deviceId}: no vt, and the tachy alarm the ground truth says is due`, async () => {
      const t0Ms = 1_796_514_000_000;
      const { changes, truth } = await replaySimDevice({ deviceId, t0Ms, devices: 4, scenario, speed: 4, durationMs: 600_000, ecgOnly: true, paced: false });
      expect(changes.filter((c) => c.kind === 'vt')).toEqual([]);
      const due = truth.filter((e) => e.kind === 'tachy');
      const raised = changes.filter((c) => c.kind === 'tachy' && c.type === 'onset').map((c) => c.onsetMs);
      // The first episode is due (sudden onset); the second, seconds after the lead-off, is not (no reference across it).
      expect(raised).toHaveLength(1);
      expect(Math.abs(raised[0]! - due[0]!.onsetMs)).toBeLessThanOrEqual(20);
    });
  }
});

describe('the fault suite\'s AF case (test/faults/processor-kill-af.fault.test.ts) replayed uninterrupted', () => {
  // CI run of 2026-12-07, seed aeb051: device d2 (firmware beats) had its AF, scripted from 30.7 s,
  // raised with an onset at 3.8 s. Its first RR window started the RR measure's averagers with a
  // bigeminy measure just over δ, which held the gate open for ≈ 18 windows of sinus arrhythmia;
  // the stretch those windows began was still alive when the AF came (rr-irregularity.ts, warm-up).
  const scenario = scenarioFromPhases('3c-processor-kill-af', [
    { kind: 'normal', durationMs: 30_000 }, { kind: 'afib', durationMs: 60_000, hrBpm: 110 }, { kind: 'normal', durationMs: 30_000 },
  ]);
  for (const index of [0, 1, 2, 3]) {
    it(`seed aeb051, device d${index}${index % 2 ? ' (ECG-only)' : ''}: one AF alarm, dated within 5 s of the scripted onset`, async () => {
      const { changes, truth } = await replaySimDevice({ deviceId: `faeb051-3c-processor-kill-af-d${index}`, index, runSeed: 'aeb051', staggerMs: 0,
        t0Ms: Date.parse('2026-12-07T22:31:23.503Z'), devices: 4, scenario, speed: 2, durationMs: 120_000, ecgOnly: index % 2 === 1, paced: false });
      const af = truth.find((e) => e.kind === 'afib')!;
      const onsets = changes.filter((c) => c.kind === 'afib' && c.type === 'onset').map((c) => c.onsetMs);
      expect(onsets).toHaveLength(1);
      expect(Math.abs(onsets[0]! - af.onsetMs)).toBeLessThanOrEqual(5000);
    });
  }
});
