/**
 * A rate limit on an ECG-only device (issue 12 session 21). The tachy limit is HR > 120/min, an
 * interval under 500 ms = 125 samples at 250 Hz. Beat times rounded to whole samples make every
 * interval a multiple of 4 ms, so a tachycardia at 122–125/min read many intervals as exactly
 * 500 ms, and each one broke the run of beats above the limit: the sudden-onset path (alarm after
 * 30 s) was lost and a 4 min tachycardia raised no alarm (2 of 20 simulated devices at 125/min, 0
 * of 20 at 122/min; firmware beats 20 of 20). Beat times now lie between samples (QrsBeat.offset).
 * The simulator's devices and ground truth, through StreamRuntime directly.
 */
import { describe, expect, it } from 'vitest';
import { DEFAULT_CRITERIA_VERSION } from '../../contracts/criteria.ts';
import { deviceFrames } from '../../device-sim/device-frames.ts';
import { syntheticEcgSource } from '../../device-sim/ecg-synth.ts';
import { seedFromString } from '../../device-sim/prng.ts';
import { parseScenario } from '../../device-sim/scenario.ts';
import { ScenarioTimeline } from '../../device-sim/scenario-timeline.ts';
import { StreamRuntime } from '../../processor/stream-runtime.ts';

const T0 = 1_796_000_000_000;

/** Onsets of the tachy alarms the device raises, device time ms after T0, and the ground truth's due alarm. */
function tachyOnsets(deviceId: string, hrBpm: number, ecgOnly: boolean): { raised: number[]; dueOnsetMs: number | undefined } {
  const scenario = parseScenario(JSON.stringify({ name: 't', episodes: [{ kind: 'tachy', startMs: 60_000, durationMs: 240_000, hrBpm }] }));
  const timeline = new ScenarioTimeline({ deviceId, seed: seedFromString(deviceId), t0Ms: T0, scenario });
  const rt = new StreamRuntime({ patientId: 'p', deviceId, criteriaAt: () => DEFAULT_CRITERIA_VERSION, ecgStrips: false });
  const raised = new Set<number>();
  for (const frame of deviceFrames(timeline, { t0Ms: T0, durationMs: 320_000, baseBattery: () => 80, ecg: syntheticEcgSource(seedFromString(`ecg:${deviceId}`), 250), ecgFsHz: 250 })) {
    const f = ecgOnly ? { ...frame, beats: [], hr: 0 } : frame;
    for (const a of rt.ingest(f, new Date(f.ts + f.durMs).toISOString()).alerts) if (a.kind === 'tachy') raised.add(Date.parse(a.onset) - T0);
  }
  const due = timeline.groundTruth(T0 + 320_000).find((e) => e.kind === 'tachy' && e.criterionMs !== null);
  return { raised: [...raised], dueOnsetMs: due ? due.onsetMs - T0 : undefined };
}

describe('a sudden tachycardia just above the 120/min limit on an ECG-only device', () => {
  for (const deviceId of ['sim-0', 'sim-1', 'sim-2', 'sim-3', 'sim-4', 'sim-5']) {
    it(`4 min at 125/min (${deviceId}): one tachy alarm at the episode's onset, as with firmware beats`, () => {
      const firmware = tachyOnsets(deviceId, 125, false);
      const ecg = tachyOnsets(deviceId, 125, true);
      expect(firmware.dueOnsetMs).toBeDefined();
      expect(firmware.raised).toEqual([firmware.dueOnsetMs]);
      expect(ecg.raised).toHaveLength(1);
      expect(Math.abs(ecg.raised[0]! - firmware.dueOnsetMs!)).toBeLessThanOrEqual(20);
    });
  }
});
