/**
 * A sudden tachycardia just above the 120/min limit, on firmware beats and on an ECG-only device
 * (issue 12 session 21). The simulator's devices (device-sim: its tachy episode, its synthetic ECG
 * at 250 Hz) through StreamRuntime directly: how many of them raise the tachy alarm that the
 * ground truth says is due (a 4 min episode: only the 30 s sudden-onset path can alarm before it
 * ends; the plain delay is 5 min). Before session 21 the ECG-only beats' times were whole samples
 * (4 ms), intervals of a rhythm at 122–125/min read 500 ms = 120/min, not above the limit, and
 * each broke the run. Not part of `npm run eval` (nothing is chosen on it); EVALUATION.md §5.
 *
 *   node eval/ecg-rate-limit.ts [--devices 20] [--hr 122,125,130,135]
 */
import { parseArgs } from 'node:util';
import { DEFAULT_CRITERIA_VERSION } from '../contracts/criteria.ts';
import { deviceFrames } from '../device-sim/device-frames.ts';
import { syntheticEcgSource } from '../device-sim/ecg-synth.ts';
import { seedFromString } from '../device-sim/prng.ts';
import { parseScenario } from '../device-sim/scenario.ts';
import { ScenarioTimeline } from '../device-sim/scenario-timeline.ts';
import { StreamRuntime } from '../processor/stream-runtime.ts';

const T0 = 1_796_000_000_000;
const { values } = parseArgs({ options: { devices: { type: 'string', default: '20' }, hr: { type: 'string', default: '122,125,130,135' } } });

/** Whether the device raises a tachy alarm, and whether one is due by the ground truth. */
function run(deviceId: string, hrBpm: number, ecgOnly: boolean): { raised: boolean; due: boolean } {
  const scenario = parseScenario(JSON.stringify({ name: 'tachy', episodes: [{ kind: 'tachy', startMs: 60_000, durationMs: 240_000, hrBpm }] }));
  const timeline = new ScenarioTimeline({ deviceId, seed: seedFromString(deviceId), t0Ms: T0, scenario });
  const rt = new StreamRuntime({ patientId: 'p', deviceId, criteriaAt: () => DEFAULT_CRITERIA_VERSION, ecgStrips: false });
  let raised = false;
  for (const frame of deviceFrames(timeline, { t0Ms: T0, durationMs: 320_000, baseBattery: () => 80, ecg: syntheticEcgSource(seedFromString(`ecg:${deviceId}`), 250), ecgFsHz: 250 })) {
    const f = ecgOnly ? { ...frame, beats: [], hr: 0 } : frame;
    if (rt.ingest(f, new Date(f.ts + f.durMs).toISOString()).alerts.some((a) => a.kind === 'tachy')) raised = true;
  }
  return { raised, due: timeline.groundTruth(T0 + 320_000).some((e) => e.kind === 'tachy' && e.criterionMs !== null) };
}

const devices = Array.from({ length: Number(values.devices) }, (_, i) => `sim-${i}`);
for (const hr of values.hr!.split(',').map(Number)) {
  let due = 0, firmware = 0, ecgOnly = 0;
  for (const d of devices) {
    const fw = run(d, hr, false);
    if (fw.due) due++;
    if (fw.raised) firmware++;
    if (run(d, hr, true).raised) ecgOnly++;
  }
  console.log(`tachy ${hr}/min for 4 min, ${devices.length} devices: alarm due ${due}, raised with firmware beats ${firmware}, ECG-only ${ecgOnly}`);
}
