/**
 * Event-time reordering of one device stream (product.md: "late or reordered frames within a
 * tolerance still count"; issue 4 §3).
 *
 * Frames are released to detection in device-time order. A frame that continues the analysed
 * data without a hole (starts within `continuityMs` of the last released frame's end) is released
 * at once, so the usual in-order stream gets no added latency. A frame after a hole is held until
 * either the missing frame arrives or the stream's watermark (the latest frame end seen minus
 * `toleranceMs`) passes its start; then it is released and detection sees the hole. A frame that
 * arrives after data behind it was released is late: the caller still stores it, but it is not
 * analysed (detection never goes back in time).
 *
 * Why this gives the same alerts at 1× and 60×: every decision above depends on device times and
 * on the order of arrival, never on the wall clock. For frames that arrive within the tolerance
 * (each frame arrives before any frame ending more than `toleranceMs` after its start), the
 * released sequence is the frames sorted by `ts`, whatever the order and batching they came in.
 * The one wall-clock exception is {@link flush} on signal loss (10 s without any frame), after
 * which nothing could be reordered anyway.
 *
 * The first frames of a stream have no predecessor to be contiguous with, so they wait for the
 * watermark (≤ `toleranceMs` of device time) once; a stream restored after a restart resumes
 * from its stored watermark without that wait.
 */
import type { TelemetryFrame } from '../contracts/telemetry.ts';
import { base64ToInt16, int16ToBase64 } from './int16-base64.ts';

export interface ReorderOptions {
  /** How far (device time) a frame may arrive behind newer ones and still be analysed, ms. Default 5000. */
  toleranceMs?: number;
  /** A frame starting within this of the previous frame's end continues it, ms. Default 50 (patient-stream.ts). */
  continuityMs?: number;
}

export const REORDER_DEFAULTS = { toleranceMs: 5000, continuityMs: 50 } as const;

/** A held frame in the processor's changelog: its ECG samples as int16 base64 (int16-base64.ts). */
export type HeldFrame = Omit<TelemetryFrame, 'ecg'> & { ecg?: { fs: number; uV: string; pace?: number[] } };

export interface ReorderState {
  releasedUntilMs?: number;
  maxSeenEndMs?: number;
  /** Records before issue 12 session 19 held frames without their ECG (`ecg` absent). */
  held: HeldFrame[];
}

export class ReorderBuffer {
  readonly toleranceMs: number;
  readonly continuityMs: number;
  /** End (device time) of the last frame released for analysis. */
  #releasedUntilMs: number | undefined;
  /** Latest frame end seen (arrived), device time. */
  #maxSeenEndMs: number | undefined;
  /** Frames waiting, ascending by ts. */
  #held: TelemetryFrame[] = [];

  constructor(options: ReorderOptions = {}) {
    this.toleranceMs = options.toleranceMs ?? REORDER_DEFAULTS.toleranceMs;
    this.continuityMs = options.continuityMs ?? REORDER_DEFAULTS.continuityMs;
  }

  /** Device time up to which frames were released for analysis. */
  get releasedUntilMs(): number | undefined {
    return this.#releasedUntilMs;
  }

  /** Frames waiting for a predecessor. */
  get heldCount(): number {
    return this.#held.length;
  }

  /**
   * Offers one (deduplicated) frame. Returns the frames now ready, in device-time order, or
   * `late: true` when the frame comes after data behind it was released (store it, do not analyse).
   */
  push(frame: TelemetryFrame): { late: boolean; ready: TelemetryFrame[] } {
    if (this.#releasedUntilMs !== undefined && frame.ts < this.#releasedUntilMs - this.continuityMs) return { late: true, ready: [] };
    // The same frame again (e.g. re-delivered after a restart while it was held): keep one.
    if (this.#held.some((h) => h.ts === frame.ts && h.seq === frame.seq)) return { late: false, ready: [] };
    const endMs = frame.ts + frame.durMs;
    this.#maxSeenEndMs = this.#maxSeenEndMs === undefined ? endMs : Math.max(this.#maxSeenEndMs, endMs);
    // Insert in ts order (usually at the end); equal ts keeps arrival order (seq breaks ties).
    let i = this.#held.length;
    while (i > 0 && (this.#held[i - 1]!.ts > frame.ts || (this.#held[i - 1]!.ts === frame.ts && this.#held[i - 1]!.seq > frame.seq))) i--;
    this.#held.splice(i, 0, frame);
    return { late: false, ready: this.#release() };
  }

  /** Releases everything held (signal loss, shutdown of a stream): holes stay holes. */
  flush(): TelemetryFrame[] {
    const out = this.#held;
    this.#held = [];
    for (const f of out) this.#releasedUntilMs = Math.max(this.#releasedUntilMs ?? -Infinity, f.ts + f.durMs);
    return out;
  }

  #release(): TelemetryFrame[] {
    const out: TelemetryFrame[] = [];
    const watermarkMs = (this.#maxSeenEndMs ?? -Infinity) - this.toleranceMs;
    while (this.#held.length > 0) {
      const next = this.#held[0]!;
      const contiguous = this.#releasedUntilMs !== undefined && next.ts <= this.#releasedUntilMs + this.continuityMs;
      if (!contiguous && next.ts > watermarkMs) break;
      this.#held.shift();
      out.push(next);
      this.#releasedUntilMs = Math.max(this.#releasedUntilMs ?? -Infinity, next.ts + next.durMs);
    }
    return out;
  }

  /** The held frames' identities (seq, ts), oldest first: what changes the record. */
  heldIds(): [number, number][] {
    return this.#held.map((f) => [f.seq, f.ts]);
  }

  /**
   * State for the processor's changelog, held frames with their ECG. Detection reads the ECG of an
   * ECG-only device (its beats, ecg-beats.ts), the waveform checks and the strips read it for
   * every device. Before issue 12 session 19 the ECG was left out, and a successor released the held
   * frames as lead-on frames without beats: a silence of up to the tolerance (5 s), a false
   * asystole on an ECG-only device. A few kB per write, only while frames wait for a predecessor.
   */
  snapshot(): ReorderState {
    return {
      ...(this.#releasedUntilMs !== undefined ? { releasedUntilMs: this.#releasedUntilMs } : {}),
      ...(this.#maxSeenEndMs !== undefined ? { maxSeenEndMs: this.#maxSeenEndMs } : {}),
      held: this.#held.map(({ ecg, ...f }) => (ecg ? { ...f, ecg: { ...ecg, uV: int16ToBase64(ecg.uV) } } : f)),
    };
  }

  static restore(state: ReorderState, options: ReorderOptions = {}): ReorderBuffer {
    const b = new ReorderBuffer(options);
    b.#releasedUntilMs = state.releasedUntilMs;
    b.#maxSeenEndMs = state.maxSeenEndMs;
    b.#held = state.held.map(restoreHeld).sort((x, y) => x.ts - y.ts || x.seq - y.seq);
    return b;
  }
}

/** A held frame from the changelog; ECG that does not fit its frame (another writer's format) is dropped, as older records had none. */
function restoreHeld({ ecg, ...frame }: HeldFrame): TelemetryFrame {
  if (!ecg || typeof ecg.uV !== 'string' || !(ecg.fs > 0)) return frame;
  const uV = Array.from(base64ToInt16(ecg.uV));
  if (uV.length !== Math.floor((ecg.fs * frame.durMs) / 1000)) return frame;
  return { ...frame, ecg: { ...ecg, uV } };
}
