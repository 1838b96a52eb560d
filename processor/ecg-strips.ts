/**
 * ECG strips around alarms (contracts/ecg-strip.ts): a short ring of the stream's recent ECG
 * (device time), a capture opened for every newly raised physiological alert, and the strip
 * [onset − PRE, onset + POST) handed out once the stream's device time has passed onset + POST.
 *
 * Memory: the recorder exists only for streams whose device sends ECG (the processor creates it
 * at the first frame with `ecg`), so a stream without ECG costs one undefined field. With ECG it
 * keeps at most `historyMs` of frames as Int16Arrays (250 Hz × 60 s ≈ 30 KB) plus their beats.
 *
 * Why 60 s of history: an alert is raised some time after its onset (asystole after the gap
 * threshold, AF after ≥ 30 s of irregular rhythm, fhir-and-alarms.md §5), and the strip starts
 * PRE seconds before the onset. Samples older than the ring are null in the strip (contract:
 * "null where no sample exists"), never invented.
 */
import { z } from 'zod';
import { ALERT_KINDS, type Alert } from '../contracts/alert.ts';
import { ECG_STRIP_POST_S, ECG_STRIP_PRE_S, type EcgStrip } from '../contracts/ecg-strip.ts';
import type { TelemetryFrame } from '../contracts/telemetry.ts';
import { base64ToInt16, int16ToBase64 } from './int16-base64.ts';

export interface EcgStripOptions {
  /** Seconds before the onset (default: the contract's ECG_STRIP_PRE_S). */
  preS?: number;
  /** Seconds after the onset (default: ECG_STRIP_POST_S). */
  postS?: number;
  /** Device time of ECG kept behind the newest frame, ms. Default 60 000. */
  historyMs?: number;
}

export const ECG_HISTORY_MS = 60_000;
/**
 * A device that sends ECG without beats: the beats the processor derives from it (ecg-beats.ts)
 * are final ~0.5–2 s behind the ECG, up to ~5 s in a silence while a missed beat can still be
 * searched back. A strip waits this long at most for them, ms.
 */
export const DERIVED_BEATS_WAIT_MS = 6_000;

interface Chunk {
  ts: number;
  durMs: number;
  fs: number;
  /** null: the frame carried no ECG (its beats are still kept for annotations). */
  uV: Int16Array | null;
  leadOff: boolean;
  beats: { timeMs: number; cls: string }[];
}

interface Capture {
  alertId: string;
  kind: Alert['kind'];
  onsetMs: number;
}

/**
 * What a successor needs to finish the strips still waiting for their post window (format 1; the
 * processor's changelog, stream-state.ts `ecgStrips`): the captures and the frames of their
 * windows analysed so far. Samples are int16 base64 little-endian; null for a frame without ECG.
 */
export interface EcgStripState {
  v: 1;
  captures: Capture[];
  /** End (device time) of the newest frame recorded, ms. */
  untilMs: number;
  /** Device time up to which the derived beats are final (a device whose beats come from its ECG), ms. */
  derivedUntilMs?: number;
  frames: { ts: number; durMs: number; fs: number; uV: string | null; leadOff: boolean; beats: { timeMs: number; cls: string }[] }[];
}

/** Format 1 of {@link EcgStripState} as it comes back from the changelog (z.number() is finite). */
export const ecgStripStateSchema = z.object({
  v: z.literal(1),
  captures: z.array(z.object({ alertId: z.string(), kind: z.enum(ALERT_KINDS), onsetMs: z.number() })).min(1),
  untilMs: z.number(),
  derivedUntilMs: z.number().optional(),
  frames: z.array(z.object({
    ts: z.number(), durMs: z.number().positive(), fs: z.number().nonnegative(), uV: z.base64().nullable(), leadOff: z.boolean(),
    beats: z.array(z.object({ timeMs: z.number(), cls: z.string() })),
  })),
});

/** Captures of one patient-device stream. Feed frames in device-time order. */
export class EcgStripRecorder {
  readonly patientId: string;
  readonly deviceId: string;
  readonly #preMs: number;
  readonly #postMs: number;
  readonly #historyMs: number;
  #chunks: Chunk[] = [];
  #pending: Capture[] = [];
  /** End (device time) of the newest frame seen. */
  #untilMs: number | undefined;
  /** Device time up to which the derived beats are final, while the stream's beats are derived from its ECG. */
  #derivedUntilMs: number | undefined;

  constructor(patientId: string, deviceId: string, options: EcgStripOptions = {}) {
    this.patientId = patientId;
    this.deviceId = deviceId;
    this.#preMs = (options.preS ?? ECG_STRIP_PRE_S) * 1000;
    this.#postMs = (options.postS ?? ECG_STRIP_POST_S) * 1000;
    this.#historyMs = Math.max(options.historyMs ?? ECG_HISTORY_MS, this.#preMs + this.#postMs);
  }

  /**
   * A predecessor's recorder (processor restart or partition move, stream-state.ts): its captures
   * and their windows' frames. The frames the bus delivers again after them are already in it
   * ({@link addFrame} skips what is not newer), so the strips come out as they would have.
   */
  static restore(patientId: string, deviceId: string, state: EcgStripState, options: EcgStripOptions = {}): EcgStripRecorder {
    const r = new EcgStripRecorder(patientId, deviceId, options);
    r.#pending = state.captures.map((c) => ({ ...c }));
    r.#untilMs = state.untilMs;
    r.#derivedUntilMs = state.derivedUntilMs;
    r.#chunks = state.frames.map((f) => ({ ts: f.ts, durMs: f.durMs, fs: f.fs, uV: f.uV === null ? null : base64ToInt16(f.uV), leadOff: f.leadOff, beats: f.beats.map((b) => ({ ...b })) }));
    return r;
  }

  /**
   * The captures waiting for their post window and the frames of their windows, for the changelog
   * (about 0.75 kB of JSON per second of 250 Hz ECG); undefined when no strip is waiting.
   */
  state(): EcgStripState | undefined {
    if (this.#pending.length === 0 || this.#untilMs === undefined) return undefined;
    const fromMs = Math.min(...this.#pending.map((c) => c.onsetMs)) - this.#preMs;
    return {
      v: 1,
      captures: this.#pending.map((c) => ({ ...c })),
      untilMs: this.#untilMs,
      ...(this.#derivedUntilMs !== undefined ? { derivedUntilMs: this.#derivedUntilMs } : {}),
      frames: this.#chunks.filter((k) => k.ts + k.durMs > fromMs).map((k) => ({
        ts: k.ts, durMs: k.durMs, fs: k.fs, uV: k.uV === null ? null : int16ToBase64(k.uV), leadOff: k.leadOff, beats: k.beats,
      })),
    };
  }

  /** Captures waiting for their post window. */
  get pendingCount(): number {
    return this.#pending.length;
  }

  /** Frames held in the ring (tests, memory checks). */
  get heldFrames(): number {
    return this.#chunks.length;
  }

  /** Appends a frame (device-time order); returns the strips whose post window it completed. */
  addFrame(frame: TelemetryFrame): EcgStrip[] {
    const last = this.#chunks.at(-1);
    // Out of order or repeated: the processor's reorder buffer should have prevented it; skip.
    if (last && frame.ts < last.ts + last.durMs - 50) return [];
    this.#chunks.push({
      ts: frame.ts,
      durMs: frame.durMs,
      fs: frame.ecg?.fs ?? last?.fs ?? 0,
      uV: frame.ecg ? Int16Array.from(frame.ecg.uV) : null,
      leadOff: frame.leadOff,
      beats: frame.beats.map((b) => ({ timeMs: frame.ts + b.off, cls: b.cls })),
    });
    this.#untilMs = Math.max(this.#untilMs ?? 0, frame.ts + frame.durMs);
    // Firmware beats annotate their own frames: nothing to wait for.
    if (frame.beats.length > 0) this.#derivedUntilMs = undefined;
    const done = this.#completed(false);
    this.#trim();
    return done;
  }

  /**
   * Beats the processor derived from this stream's ECG (ecg-beats.ts), final up to `untilMs`:
   * each annotates the frame it falls in, and a strip waits for them (at most
   * {@link DERIVED_BEATS_WAIT_MS}) so that its last seconds are annotated too.
   */
  addDerivedBeats(beats: readonly { timeMs: number; cls: string }[], untilMs: number): EcgStrip[] {
    const newFromMs = this.#derivedUntilMs ?? -Infinity;
    for (const b of beats) {
      // Derived beats come out in device-time order, so an older one was added before: a restored
      // recorder's frames carry their beats, and the successor's beat source finds them again.
      if (b.timeMs < newFromMs) continue;
      const k = this.#chunks.findLast((c) => c.ts <= b.timeMs);
      if (k && b.timeMs < k.ts + k.durMs) k.beats.push(b);
    }
    this.#derivedUntilMs = Math.max(this.#derivedUntilMs ?? untilMs, untilMs);
    return this.#completed(false);
  }

  /**
   * A physiological alert was raised: capture around its onset. Returns the strip at once when
   * the stream is already past the post window (a late raise).
   */
  capture(alert: Pick<Alert, 'id' | 'kind' | 'onset'>): EcgStrip[] {
    if (this.#pending.some((c) => c.alertId === alert.id)) return [];
    this.#pending.push({ alertId: alert.id, kind: alert.kind, onsetMs: Date.parse(alert.onset) });
    return this.#completed(false);
  }

  /** The stream stopped (signal loss, hand-over): every pending capture with what there is. */
  flush(): EcgStrip[] {
    return this.#completed(true);
  }

  #completed(all: boolean): EcgStrip[] {
    if (this.#pending.length === 0) return [];
    const out: EcgStrip[] = [];
    const keep: Capture[] = [];
    const untilMs = this.#untilMs === undefined || this.#derivedUntilMs === undefined
      ? this.#untilMs
      : Math.min(this.#untilMs, Math.max(this.#derivedUntilMs, this.#untilMs - DERIVED_BEATS_WAIT_MS));
    for (const c of this.#pending) {
      if (all || (untilMs !== undefined && untilMs >= c.onsetMs + this.#postMs)) out.push(this.#strip(c));
      else keep.push(c);
    }
    this.#pending = keep;
    return out;
  }

  #trim(): void {
    if (this.#untilMs === undefined) return;
    let keepFromMs = this.#untilMs - this.#historyMs;
    for (const c of this.#pending) keepFromMs = Math.min(keepFromMs, c.onsetMs - this.#preMs);
    let drop = 0;
    while (drop < this.#chunks.length && this.#chunks[drop]!.ts + this.#chunks[drop]!.durMs <= keepFromMs) drop++;
    if (drop > 0) this.#chunks = this.#chunks.slice(drop);
  }

  #strip(c: Capture): EcgStrip {
    const startMs = c.onsetMs - this.#preMs;
    const endMs = c.onsetMs + this.#postMs;
    // The strip's rate: the newest frame with ECG inside the window (devices do not switch rates in practice).
    const fsHz = [...this.#chunks].reverse().find((k) => k.uV && k.ts < endMs && k.ts + k.durMs > startMs)?.fs
      ?? [...this.#chunks].reverse().find((k) => k.uV)?.fs ?? 250;
    const n = Math.round(((endMs - startMs) * fsHz) / 1000);
    const uV: (number | null)[] = new Array<number | null>(n).fill(null);
    const leadOff: [number, number][] = [];
    const beats: EcgStrip['beats'] = [];
    const index = (timeMs: number) => Math.round(((timeMs - startMs) * fsHz) / 1000);
    for (const k of this.#chunks) {
      if (k.ts + k.durMs <= startMs || k.ts >= endMs) continue;
      if (k.leadOff) {
        const from = Math.max(0, index(k.ts));
        const to = Math.min(n, index(k.ts + k.durMs));
        if (to > from) {
          const prev = leadOff.at(-1);
          if (prev && prev[1] >= from) prev[1] = Math.max(prev[1], to);
          else leadOff.push([from, to]);
        }
      } else if (k.uV) {
        for (let i = 0; i < k.uV.length; i++) {
          const j = index(k.ts + (i * 1000) / k.fs);
          if (j >= 0 && j < n) uV[j] = k.uV[i]!;
        }
      }
      for (const b of k.beats) if (b.timeMs >= startMs && b.timeMs < endMs && !k.leadOff) beats.push(b);
    }
    return { schema: 'pb.ecg-strip.v1', alertId: c.alertId, kind: c.kind, patientId: this.patientId, deviceId: this.deviceId, startMs, fsHz, uV, leadOff, beats };
  }
}

/** New physiological alerts among snapshots: the ones a strip is captured for. */
export function raisedPhysiological(alerts: readonly Alert[]): Alert[] {
  return alerts.filter((a) => a.category === 'physiological' && a.revision === 1);
}
