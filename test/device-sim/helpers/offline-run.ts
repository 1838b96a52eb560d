/**
 * Runs simulated devices without MQTT: the same timelines, frames and signal-loss gate as
 * runSim, frames fed straight into a PatientStream with the given detectors. Wall time is
 * simulated as device time at 1× (a frame is "sent" at its end and analysed at once), so
 * latencies come out in device time. Signal loss (arrival based) is not detected here.
 */
import type { Alert } from '../../../contracts/alert.ts';
import type { TelemetryFrame } from '../../../contracts/telemetry.ts';
import { deviceFrames, SignalLossGate } from '../../../device-sim/device-frames.ts';
import { syntheticEcgSource } from '../../../device-sim/ecg-synth.ts';
import type { GroundTruthEpisode } from '../../../device-sim/ground-truth.ts';
import { seedFromString } from '../../../device-sim/prng.ts';
import type { Scenario } from '../../../device-sim/scenario.ts';
import { ScenarioTimeline } from '../../../device-sim/scenario-timeline.ts';
import type { Detector } from '../../../processor/detectors/detector.ts';
import { PatientStream } from '../../../processor/patient-stream.ts';

export interface OfflineRunOptions {
  scenario: Readonly<Scenario>;
  devices: readonly string[];
  t0Ms: number;
  durationMs: number;
  seed?: string;
  staggerMs?: number;
  /** Detectors per device; no analysis when absent. */
  detectors?: () => Detector[];
  battery?: number;
  /** Devices stream the synthetic ECG at this rate (none when absent). */
  ecgFsHz?: number;
}

export interface OfflineRun {
  episodes: GroundTruthEpisode[];
  /** Latest snapshot of every alert. */
  alerts: Alert[];
  /** Frames as published, per device, in publishing order. */
  frames: Map<string, TelemetryFrame[]>;
}

export function runOffline(o: OfflineRunOptions): OfflineRun {
  const episodes: GroundTruthEpisode[] = [];
  const alerts = new Map<string, Alert>();
  const frames = new Map<string, TelemetryFrame[]>();
  o.devices.forEach((deviceId, i) => {
    const timeline = new ScenarioTimeline({ deviceId, seed: seedFromString(`${o.seed ?? 'offline'}:${deviceId}`), t0Ms: o.t0Ms, scenario: o.scenario, scenarioOffsetMs: i * (o.staggerMs ?? 0) });
    const gate = new SignalLossGate(timeline);
    const stream = o.detectors ? new PatientStream(`patient-${deviceId}`, deviceId, o.detectors()) : undefined;
    const published: TelemetryFrame[] = [];
    frames.set(deviceId, published);
    const publish = (f: TelemetryFrame, wallMs: number, as: 'late' | 'live') => {
      gate.sent(f, wallMs, as);
      published.push(f);
      for (const a of stream?.analyse(f, new Date(wallMs).toISOString()) ?? []) alerts.set(a.id, { ...a, detectedAt: alerts.get(a.id)?.detectedAt ?? a.detectedAt });
    };
    const ecg = o.ecgFsHz === undefined ? {} : { ecg: syntheticEcgSource(seedFromString(`ecg:${deviceId}`), o.ecgFsHz), ecgFsHz: o.ecgFsHz };
    for (const frame of deviceFrames(timeline, { t0Ms: o.t0Ms, durationMs: o.durationMs, baseBattery: () => o.battery ?? 80, ...ecg })) {
      const wallMs = frame.ts + frame.durMs;
      const { late, live } = gate.admit(frame, wallMs);
      for (const f of late) publish(f, wallMs, 'late');
      if (live) publish(live, wallMs, 'live');
    }
    episodes.push(...timeline.groundTruth(o.t0Ms + o.durationMs));
  });
  return { episodes, alerts: [...alerts.values()], frames };
}
