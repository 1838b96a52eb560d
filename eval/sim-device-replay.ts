/**
 * One simulated device of a `pulsebridge sim` / `scripts/sim-100.ts` run, replayed offline through
 * the processor's detection path — no MQTT, Kafka or wall-clock timing. The device's timeline and
 * ECG are those of the run (run seed 1, scenario offset and frame phase as runSim derives them:
 * device-sim/run-sim.ts `simDeviceSeeds`, `SIM_STAGGER_MS`, `simFramePhaseMs`); its frames go
 * through the beat source and the production detectors with the default criteria
 * (processor/ecg-beats.ts `detectThroughBeatSource`). The simulated ECG depends on absolute time,
 * so a run's alarms are reproduced only with its own start (`t0Ms`, the ground truth's `t0Ms`).
 * Any other runSim run replays the same way with its own seed, device index and stagger (the
 * fault suite compares a restarted processor with this uninterrupted replay: test/faults/).
 * Used by `scripts/sim-device-offline.ts` and the regression tests of alarms found in such runs.
 */
import { DEFAULT_ALARM_CRITERIA } from '../contracts/criteria.ts';
import type { TelemetryFrame } from '../contracts/telemetry.ts';
import { deviceFrames } from '../device-sim/device-frames.ts';
import { seedFromString } from '../device-sim/prng.ts';
import { syntheticEcgSource } from '../device-sim/ecg-synth.ts';
import { SIM_STAGGER_MS, simDeviceSeeds, simFramePhaseMs } from '../device-sim/run-sim.ts';
import { resolveScenario, validateScenario, type Scenario } from '../device-sim/scenario.ts';
import { ScenarioTimeline } from '../device-sim/scenario-timeline.ts';
import { detectorsForCriteria } from '../processor/detector-set.ts';
import type { EpisodeChange } from '../processor/detectors/detector.ts';
import { detectThroughBeatSource, EcgBeatSource } from '../processor/ecg-beats.ts';
import { PatientStream } from '../processor/patient-stream.ts';

export interface SimDeviceReplayOptions {
  /** `sim-NNNN` (1-based index in the run), or any id with {@link index} given. */
  deviceId: string;
  /** The device's 0-based index in the run (default: from `sim-NNNN`). */
  index?: number;
  /** The run's seed (runSim `seed`; default 1, the CLI's). */
  runSeed?: string | number;
  /** Shift of device i's scenario, i × staggerMs (default {@link SIM_STAGGER_MS}, the CLI's). */
  staggerMs?: number;
  /** The run's start, device time ms. */
  t0Ms: number;
  /** Devices in the run (sets the frame phase). */
  devices: number;
  /** A built-in scenario's name, a scenario file, or a scenario. */
  scenario: string | Readonly<Scenario>;
  speed: number;
  durationMs: number;
  /** Frames carry the ECG without firmware beats (`sim --ecg-only`). */
  ecgOnly: boolean;
  /** Paced patients (`sim --paced`). */
  paced: boolean;
}

export interface SimDeviceReplay {
  changes: EpisodeChange[];
  /** The device's ground-truth episodes up to the end of the run (`criterionMs` null: no alarm due). */
  truth: { kind: string; onsetMs: number; endMs: number | null; criterionMs: number | null }[];
}

export async function replaySimDevice(o: SimDeviceReplayOptions): Promise<SimDeviceReplay> {
  const { frames, timeline } = await simDeviceFrames(o);
  const source = new EcgBeatSource();
  const stream = new PatientStream(`patient-${o.deviceId}`, o.deviceId, detectorsForCriteria(DEFAULT_ALARM_CRITERIA));
  const changes: EpisodeChange[] = [];
  for (const frame of frames) changes.push(...detectThroughBeatSource(source, stream, frame).changes);
  const truth = timeline.groundTruth(o.t0Ms + o.durationMs).map((e) => ({ kind: e.kind, onsetMs: e.onsetMs, endMs: e.endMs ?? null, criterionMs: e.criterionMs }));
  return { changes, truth };
}

/** The frames the simulated device published in the run (as its wire format decodes them), and its scenario timeline. */
export async function simDeviceFrames(o: SimDeviceReplayOptions): Promise<{ frames: TelemetryFrame[]; timeline: ScenarioTimeline }> {
  const match = /^sim-(\d{4})$/.exec(o.deviceId);
  if (!match && o.index === undefined) throw new Error(`not a simulated device id: ${o.deviceId} (sim-NNNN), and no index given`);
  const index = o.index ?? Number(match![1]) - 1;
  const scenario = typeof o.scenario === 'string' ? await resolveScenario(o.scenario, { speed: o.speed }) : o.scenario;
  const runSeed = typeof o.runSeed === 'string' ? seedFromString(o.runSeed) : (o.runSeed ?? 1);
  const seeds = simDeviceSeeds(runSeed, o.deviceId);
  const timeline = new ScenarioTimeline({ deviceId: o.deviceId, seed: seeds.timeline, t0Ms: o.t0Ms, scenario, scenarioOffsetMs: index * (o.staggerMs ?? SIM_STAGGER_MS) });
  const phaseMs = simFramePhaseMs(index, 1000, o.devices);
  const built = deviceFrames(timeline, {
    t0Ms: o.t0Ms + phaseMs,
    frameMs: 1000,
    durationMs: o.durationMs - phaseMs,
    baseBattery: () => 80,
    ecg: syntheticEcgSource(seeds.device, 250, { paced: o.paced }),
    ecgFsHz: 250,
  });
  const frames: TelemetryFrame[] = [];
  let seq = 0;
  for (const f of built) frames.push(o.ecgOnly && f.ecg ? { ...f, seq: seq++, beats: [], hr: 0 } : { ...f, seq: seq++ });
  return { frames, timeline };
}

/** 1 min of the device's own rhythm, then a tachycardia at `hrBpm` for 4 min (eval/ecg-rate-limit.ts). */
export function suddenTachycardia(hrBpm: number): Readonly<Scenario> {
  return validateScenario({ name: `tachy-${hrBpm}`, episodes: [{ kind: 'tachy', startMs: 60_000, durationMs: 240_000, hrBpm }] });
}

/** One device of a 10 min run of `scenario` at 1× (t0 fixed): the tachy alarms it raises and the one its ground truth says is due. */
export async function tachyAlarms(deviceId: string, scenario: Readonly<Scenario>, ecgOnly: boolean): Promise<{ raisedOnsetsMs: number[]; dueOnsetMs: number | undefined }> {
  const { changes, truth } = await replaySimDevice({ deviceId, t0Ms: 1_796_000_000_000, devices: 20, scenario, speed: 1, durationMs: 600_000, ecgOnly, paced: false });
  return {
    raisedOnsetsMs: changes.filter((c) => c.kind === 'tachy' && c.type === 'onset').map((c) => c.onsetMs),
    dueOnsetMs: truth.find((e) => e.kind === 'tachy' && e.criterionMs !== null)?.onsetMs,
  };
}
