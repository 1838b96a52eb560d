/**
 * Replays ONE simulated device offline through the processor's detection path, to reproduce an
 * alarm seen in a `scripts/sim-100.ts` run without MQTT, Kafka or wall-clock timing: the device's
 * timeline and ECG are those of `pulsebridge sim` (run seed 1, scenario offset and frame phase as
 * runSim derives them: device-sim/run-sim.ts `simDeviceSeeds`, `SIM_STAGGER_MS`, `simFramePhaseMs`), its frames go through the beat source and the production
 * detectors with the default criteria (processor/ecg-beats.ts `detectThroughBeatSource`).
 *
 *   node scripts/sim-device-offline.ts --device sim-0080 --t0 1796396238293 [--devices 100]
 *        [--scenario all-alarms] [--speed 5] [--duration 10m] [--ecg-only] [--paced] [--kinds vt,afib]
 *
 * `--t0` is the run's start (the ground truth's `t0Ms` in the run's data folder): the simulated
 * ECG depends on absolute time, so a run's alarms are reproduced only with its own t0. Prints each
 * detector change and the device's ground-truth episodes of the same kinds (ms → s from t0).
 */
import { parseArgs } from 'node:util';
import { DEFAULT_ALARM_CRITERIA } from '../contracts/criteria.ts';
import type { TelemetryFrame } from '../contracts/telemetry.ts';
import { parseDurationMs } from '../cli/args.ts';
import { deviceFrames } from '../device-sim/device-frames.ts';
import { syntheticEcgSource } from '../device-sim/ecg-synth.ts';
import { SIM_STAGGER_MS, simDeviceSeeds, simFramePhaseMs } from '../device-sim/run-sim.ts';
import { resolveScenario } from '../device-sim/scenario.ts';
import { ScenarioTimeline } from '../device-sim/scenario-timeline.ts';
import { detectorsForCriteria } from '../processor/detector-set.ts';
import { detectThroughBeatSource, EcgBeatSource } from '../processor/ecg-beats.ts';
import { PatientStream } from '../processor/patient-stream.ts';

const { values } = parseArgs({
  options: {
    device: { type: 'string' },
    t0: { type: 'string' },
    devices: { type: 'string', default: '100' },
    scenario: { type: 'string', default: 'all-alarms' },
    speed: { type: 'string', default: '5' },
    duration: { type: 'string', default: '10m' },
    'ecg-only': { type: 'boolean', default: false },
    paced: { type: 'boolean', default: false },
    kinds: { type: 'string' },
  },
});
const match = /^sim-(\d{4})$/.exec(values.device ?? '');
if (!match || values.t0 === undefined) {
  process.stderr.write('usage: node scripts/sim-device-offline.ts --device sim-NNNN --t0 MS [--devices 100] [--ecg-only] [--paced] …\n');
  process.exit(2);
}
const index = Number(match[1]) - 1;
const t0Ms = Number(values.t0);
const deviceCount = Number(values.devices);
const durationMs = parseDurationMs(values.duration);
const kinds = values.kinds?.split(',');
const deviceId = values.device!;

const scenario = await resolveScenario(values.scenario, { speed: Number(values.speed) });
// As runSim (device-sim/run-sim.ts) for the CLI's runs: run seed 1, its stagger, default clocks.
const seeds = simDeviceSeeds(1, deviceId);
const timeline = new ScenarioTimeline({ deviceId, seed: seeds.timeline, t0Ms, scenario, scenarioOffsetMs: index * SIM_STAGGER_MS });
const phaseMs = simFramePhaseMs(index, 1000, deviceCount);
const frames = deviceFrames(timeline, {
  t0Ms: t0Ms + phaseMs,
  frameMs: 1000,
  durationMs: durationMs - phaseMs,
  baseBattery: () => 80,
  ecg: syntheticEcgSource(seeds.device, 250, { paced: values.paced }),
  ecgFsHz: 250,
});
const source = new EcgBeatSource();
const stream = new PatientStream(`patient-${deviceId}`, deviceId, detectorsForCriteria(DEFAULT_ALARM_CRITERIA));
const s = (ms: number) => ((ms - t0Ms) / 1000).toFixed(1);
let seq = 0;
for (const built of frames) {
  const frame: TelemetryFrame = values['ecg-only'] && built.ecg ? { ...built, seq: seq++, beats: [], hr: 0 } : { ...built, seq: seq++ };
  for (const c of detectThroughBeatSource(source, stream, frame).changes) {
    if (kinds && !kinds.includes(c.kind)) continue;
    console.log(`${c.kind} ${c.type}: onset ${s(c.onsetMs)} s${c.type === 'end' ? `, end ${s(c.endMs)} s` : ''}: ${c.evidence.criterion}`);
  }
}
for (const e of timeline.groundTruth(t0Ms + durationMs)) {
  if (!kinds || kinds.includes(e.kind)) console.log(`ground truth: ${e.kind} ${s(e.onsetMs)}–${e.endMs == null ? 'open' : s(e.endMs)} s`);
}
