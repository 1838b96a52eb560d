/**
 * Device simulator library: WFDB readers, frame building, rhythm and scenario generation,
 * simulated MQTT devices, the multi-device simulation and the record replay. The CLI
 * (`pulsebridge sim …`) wires these to command-line flags.
 */
export {
  perDevice, runSim, SIM_STAGGER_MS, simDeviceIds, simDeviceSeeds, simFramePhaseMs, type RunSimOptions, type RunSimSummary, type SimConnectOptions, type GroundTruthFile, type SendLagStats,
  type PeriodicEvent, type SimDeviceEvent, type SimDeviceInfo,
} from './run-sim.ts';
export { deviceWireFormats, encoderOf, parseWireFormat, WIRE_FORMAT_CHOICES, type WireFormat, type WireFormatChoice } from './wire-format.ts';
export { DeviceClock, MAX_DRIFT_PPM, type DeviceClockSpec } from './device-clock.ts';
export { applyConfig, checkFirmwareOffer, downloadMs, type ConfigOutcome, type FirmwareOffer } from './command-handler.ts';
export { runReplay, recordBeats, recordDurationMs, type ReplayOptions, type ReplaySummary } from './replay.ts';
export { SimulatedDevice, type SimulatedDeviceOptions, type MqttConnectionOptions, type DeviceStatusInfo, type DeviceCommand, type DeviceCommandResult } from './device.ts';
export { buildFrames, encodeV1, recordEcgSource, contractEcgFsHz, frameSettingsProblem, type FrameSettings, type TimedBeat, type FrameBuilderOptions, type EcgSource, type DeviceTimeInterval } from './frames.ts';
export { encodeV2 } from './encode-v2.ts';
export { SinusRhythm, sinusBeats, sdnnMs, randomSinusParams, NORMAL_RR_BOUNDS_MS, type SinusRhythmParams, type SinusRhythmOptions } from './rhythm.ts';
export {
  clinicalBasicsScenario, allAlarmsScenario, scenarioFromPhases, parseScenario, loadScenarioFile, resolveScenario, validateScenario,
  builtinScenario, BUILTIN_SCENARIOS, NORMAL_SCENARIO, EPISODE_KINDS, EXTREME_BRADY_RR_MS, EXTREME_TACHY_RR_MS, SIGNAL_LOSS_TARGET_WALL_MS,
  type Scenario, type ScenarioEpisode, type ScenarioPhase, type EpisodeKind, type ClinicalBasicsTimings, type AllAlarmsOptions,
  type BuiltinScenarioOptions,
} from './scenario.ts';
export { ScenarioTimeline, type ScenarioTimelineOptions } from './scenario-timeline.ts';
export { ALARM_OF_EPISODE, BEAT_EPISODE_KINDS, FRAME_EPISODE_KINDS, type BeatEpisodeKind, type FrameEpisodeKind } from './episode-kinds.ts';
export { GroundTruthRecorder, type GroundTruthEpisode, type ImpliedAlarm, type EpisodeDetail } from './ground-truth.ts';
export { deviceFrames, SignalLossGate, type DeviceFramesOptions, type GateDecision } from './device-frames.ts';
export { AfRrModel, randomAfParams, AF_HR_RANGE_BPM, AF_TAIL_MEAN_RANGE_MS, type AfRrParams } from './afib-rr.ts';
export { scanCriteria, type CriterionHit } from './criteria-scan.ts';
export { fetchAlerts, reportFromApi, type FetchAlertsOptions, type FetchedAlerts, type ReportFromApiInput } from './alerts-api.ts';
export {
  buildSimReport, formatSimReport, expectedAlarms, distribution, unmonitoredPeriods, DEFAULT_TOLERANCE_MS,
  type SimReport, type ReportInput, type ReportAlert, type ExpectedAlarm, type AlarmMatch, type KindStats, type Distribution, type UnmatchedAlert, type AlertRef, type UnmonitoredPeriod,
} from './report.ts';
export { syntheticEcgSource } from './ecg-synth.ts';
export { readWfdbRecord, type WfdbRecord, type WfdbEcgLead, type ReadWfdbRecordOptions } from './wfdb-record.ts';
export { readWfdbHeader, parseWfdbHeader, type WfdbHeader, type WfdbSignalSpec } from './wfdb-header.ts';
export { readWfdbAnnotations, parseMitAnnotations, isBeatCode, ANNOTATION_SYMBOLS, type WfdbAnnotation } from './wfdb-annotations.ts';
export { readWfdbSignals, decodeFormat212, decodeFormat16, adcToMicrovolts, wfdbChecksum, type WfdbSignal } from './wfdb-signal.ts';
export { beatClassOfSymbol } from './beat-classes.ts';
export { type SimSpeed } from './pacing.ts';
