/**
 * The frames a simulated device publishes, and when: its timeline's beats through the frame
 * builder with the timeline's lead-off and battery state, and the signal-loss gate that holds
 * frames back while the device is silent. Shared by runSim (MQTT, paced) and offline checks
 * (test/device-sim), so both see exactly the same frames and ground truth.
 */
import type { TelemetryFrame } from '../contracts/telemetry.ts';
import { buildFrames, type EcgSource, type FrameSettings } from './frames.ts';
import type { ScenarioTimeline } from './scenario-timeline.ts';

/** Options for {@link deviceFrames}. */
export interface DeviceFramesOptions {
  /** Device time of the first frame, ms since the Unix epoch. */
  t0Ms: number;
  /** Frame window, ms (default 1000). */
  frameMs?: number;
  /** Device time covered, ms; endless when absent. */
  durationMs?: number;
  /** Battery percent outside low_battery episodes, by device time. */
  baseBattery: (tMs: number) => number;
  ecg?: EcgSource;
  ecgFsHz?: number;
  /** Settings changed while running (a `config` command), asked at every frame start. */
  settings?: () => FrameSettings;
}

/**
 * The ECG of a patch that lead_off episodes may put back turned (scenario.ts `reversed`): each
 * sample with the timeline's sign at its time ({@link ScenarioTimeline.ecgSign}).
 */
function withPatchPolarity(ecg: EcgSource, timeline: ScenarioTimeline): EcgSource {
  return {
    fsHz: ecg.fsHz,
    read(startMs, fsHz, out, nearbyBeats) {
      const pace = ecg.read(startMs, fsHz, out, nearbyBeats);
      for (let i = 0; i < out.length; i++) if (timeline.ecgSign(startMs + (i * 1000) / fsHz) < 0) out[i] = -out[i]!;
      return pace;
    },
  };
}

/** The device's frames, lazily (lead-off frames flagged, battery and the patch's polarity from the timeline). */
export function deviceFrames(timeline: ScenarioTimeline, o: DeviceFramesOptions): Generator<TelemetryFrame> {
  const ecg = o.ecg && timeline.patchReversals ? withPatchPolarity(o.ecg, timeline) : o.ecg;
  return buildFrames(timeline.beats(), {
    t0Ms: o.t0Ms,
    ...(o.frameMs === undefined ? {} : { frameMs: o.frameMs }),
    ...(o.durationMs === undefined ? {} : { durationMs: o.durationMs }),
    battery: (tMs) => timeline.batteryPct(tMs, o.baseBattery),
    leadOff: (fromMs, toMs) => timeline.leadOffAt(fromMs, toMs),
    ...(ecg ? { ecg, ...(o.ecgFsHz === undefined ? {} : { ecgFsHz: o.ecgFsHz }) } : {}),
    ...(o.settings ? { settings: o.settings } : {}),
  });
}

/** What to publish for one built frame. */
export interface GateDecision {
  /** Withheld frames to publish first, in order (the backlog after a signal loss). */
  late: TelemetryFrame[];
  /** The frame itself, or undefined while the device is silent. */
  live: TelemetryFrame | undefined;
}

/**
 * Holds frames back during signal-loss episodes (run-sim.ts explains backlog vs drop) and
 * reports every frame's fate to the timeline's ground truth. Call {@link admit} for each built
 * frame when it is due, then {@link sent} for each frame actually published.
 */
export class SignalLossGate {
  readonly #timeline: ScenarioTimeline;
  readonly #backlog: TelemetryFrame[] = [];

  constructor(timeline: ScenarioTimeline) {
    this.#timeline = timeline;
  }

  /** Decides a due frame's fate at wall time `wallMs`. */
  admit(frame: TelemetryFrame, wallMs: number): GateDecision {
    const loss = this.#timeline.signalLossAt(frame.ts);
    if (loss) {
      this.#timeline.observeFrame(frame, { withheldDueAtMs: wallMs });
      if (loss.backlog) this.#backlog.push(frame);
      return { late: [], live: undefined };
    }
    return { late: this.#backlog.splice(0), live: frame };
  }

  /** A frame was handed to MQTT at `wallMs`: `late` for backlog frames, `live` for the admitted one. */
  sent(frame: TelemetryFrame, wallMs: number, as: 'late' | 'live'): void {
    if (as === 'late') this.#timeline.frameSent(frame, wallMs);
    else this.#timeline.observeFrame(frame, { sentAtMs: wallMs });
  }

  /** Withheld frames not sent (the run ended during a signal loss). */
  get pending(): number {
    return this.#backlog.length;
  }
}
