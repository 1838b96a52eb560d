/**
 * One simulated device of a `pulsebridge sim` / `scripts/sim-100.ts` run, replayed offline through
 * the processor's detection path — no MQTT, Kafka or wall-clock timing. The device's timeline and
 * ECG are those of the run (run seed 1, scenario offset and frame phase as runSim derives them:
 * device-sim/run-sim.ts `simDeviceSeeds`, `SIM_STAGGER_MS`, `simFramePhaseMs`); its frames go
 * through the beat source and the production detectors with the default criteria
 * (processor/ecg-beats.ts `detectThroughBeatSource`). The simulated ECG depends on absolute time,
 * so a run's alarms are reproduced only with its own start (`t0Ms`, the ground truth's `t0Ms`).
 * Used by `scripts/sim-device-offline.ts` and the regression tests of alarms found in such runs.
 */
import { DEFAULT_ALARM_CRITERIA } from '../contracts/criteria.ts';
import type { TelemetryFrame } from '../contracts/telemetry.ts';
import { deviceFrames } from '../device-sim/device-frames.ts';
import { syntheticEcgSource } from '../device-sim/ecg-synth.ts';
import { SIM_STAGGER_MS, simDeviceSeeds, simFramePhaseMs } from '../device-sim/run-sim.ts';
import { resolveScenario } from '../device-sim/scenario.ts';
import { ScenarioTimeline } from '../device-sim/scenario-timeline.ts';
import { detectorsForCriteria } from '../processor/detector-set.ts';
import type { EpisodeChange } from '../processor/detectors/detector.ts';
import { detectThroughBeatSource, EcgBeatSource } from '../processor/ecg-beats.ts';
import { PatientStream } from '../processor/patient-stream.ts';

export interface SimDeviceReplayOptions {
  /** `sim-NNNN` (1-based index in the run). */
  deviceId: string;
  /** The run's start, device time ms. */
  t0Ms: number;
  /** Devices in the run (sets the frame phase). */
  devices: number;
  scenario: string;
  speed: number;
  durationMs: number;
  /** Frames carry the ECG without firmware beats (`sim --ecg-only`). */
  ecgOnly: boolean;
  /** Paced patients (`sim --paced`). */
  paced: boolean;
}

export interface SimDeviceReplay {
  changes: EpisodeChange[];
  /** The device's ground-truth episodes up to the end of the run. */
  truth: { kind: string; onsetMs: number; endMs: number | null }[];
}

export async function replaySimDevice(o: SimDeviceReplayOptions): Promise<SimDeviceReplay> {
  const match = /^sim-(\d{4})$/.exec(o.deviceId);
  if (!match) throw new Error(`not a simulated device id: ${o.deviceId} (sim-NNNN)`);
  const index = Number(match[1]) - 1;
  const scenario = await resolveScenario(o.scenario, { speed: o.speed });
  const seeds = simDeviceSeeds(1, o.deviceId);
  const timeline = new ScenarioTimeline({ deviceId: o.deviceId, seed: seeds.timeline, t0Ms: o.t0Ms, scenario, scenarioOffsetMs: index * SIM_STAGGER_MS });
  const phaseMs = simFramePhaseMs(index, 1000, o.devices);
  const frames = deviceFrames(timeline, {
    t0Ms: o.t0Ms + phaseMs,
    frameMs: 1000,
    durationMs: o.durationMs - phaseMs,
    baseBattery: () => 80,
    ecg: syntheticEcgSource(seeds.device, 250, { paced: o.paced }),
    ecgFsHz: 250,
  });
  const source = new EcgBeatSource();
  const stream = new PatientStream(`patient-${o.deviceId}`, o.deviceId, detectorsForCriteria(DEFAULT_ALARM_CRITERIA));
  const changes: EpisodeChange[] = [];
  let seq = 0;
  for (const built of frames) {
    const frame: TelemetryFrame = o.ecgOnly && built.ecg ? { ...built, seq: seq++, beats: [], hr: 0 } : { ...built, seq: seq++ };
    changes.push(...detectThroughBeatSource(source, stream, frame).changes);
  }
  const truth = timeline.groundTruth(o.t0Ms + o.durationMs).map((e) => ({ kind: e.kind, onsetMs: e.onsetMs, endMs: e.endMs ?? null }));
  return { changes, truth };
}
