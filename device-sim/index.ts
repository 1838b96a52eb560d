/**
 * Device simulator library: WFDB readers, frame building, rhythm and scenario generation,
 * simulated MQTT devices, the multi-device simulation and the record replay. The CLI
 * (`pulsebridge sim …`) wires these to command-line flags.
 */
export { runSim, simDeviceIds, type RunSimOptions, type RunSimSummary, type SimConnectOptions, type GroundTruthFile } from './run-sim.ts';
export { runReplay, recordBeats, recordDurationMs, type ReplayOptions, type ReplaySummary } from './replay.ts';
export { SimulatedDevice, type SimulatedDeviceOptions, type MqttConnectionOptions, type DeviceStatusInfo, type DeviceCommand, type DeviceCommandResult } from './device.ts';
export { buildFrames, encodeV1, recordEcgSource, contractEcgFsHz, type TimedBeat, type FrameBuilderOptions, type EcgSource, type DeviceTimeInterval } from './frames.ts';
export { encodeV2 } from './encode-v2.ts';
export { SinusRhythm, sinusBeats, sdnnMs, randomSinusParams, NORMAL_RR_BOUNDS_MS, type SinusRhythmParams, type SinusRhythmOptions } from './rhythm.ts';
export {
  ScenarioTimeline, clinicalBasicsScenario, scenarioFromPhases, parseScenario, loadScenarioFile, resolveScenario, validateScenario,
  BUILTIN_SCENARIOS, NORMAL_SCENARIO, EPISODE_KINDS, EXTREME_BRADY_RR_MS, EXTREME_TACHY_RR_MS,
  type Scenario, type ScenarioEpisode, type ScenarioPhase, type EpisodeKind, type GroundTruthEpisode, type ClinicalBasicsTimings, type ScenarioTimelineOptions,
} from './scenario.ts';
export { syntheticEcgSource } from './ecg-synth.ts';
export { readWfdbRecord, type WfdbRecord, type WfdbEcgLead, type ReadWfdbRecordOptions } from './wfdb-record.ts';
export { readWfdbHeader, parseWfdbHeader, type WfdbHeader, type WfdbSignalSpec } from './wfdb-header.ts';
export { readWfdbAnnotations, parseMitAnnotations, isBeatCode, ANNOTATION_SYMBOLS, type WfdbAnnotation } from './wfdb-annotations.ts';
export { readWfdbSignals, decodeFormat212, decodeFormat16, adcToMicrovolts, wfdbChecksum, type WfdbSignal } from './wfdb-signal.ts';
export { beatClassOfSymbol } from './beat-classes.ts';
export { type SimSpeed } from './pacing.ts';
