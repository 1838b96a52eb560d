/**
 * A device whose clock stepped back: its new frames keep arriving with device times behind the
 * data already analysed. The reorder buffer calls such frames late (reorder-buffer.ts: stored, not
 * analysed, since detection never goes back in time), so until the device clock passes the
 * analysed position again — an hour after a one-hour step — nothing of the patient's rhythm was
 * analysed, while frames arrived, the device looked online and no alarm said so (found in issue 12
 * session 22: a VT an hour long after such a step raised nothing). This monitor makes it visible:
 * the stream's `signal_loss` alarm (the rhythm is not monitored: same kind, delay and priority as
 * the other two signal losses, technical.ts NoRhythmMonitor) with evidence that says why.
 *
 * Which late frames count: those the device sent after the frames already analysed, by its own
 * frame counter (device-protocol.md `seq`: +1 per frame, restarts at 0 after a reboot) — a frame
 * whose `seq` follows the last on-time frame's (a clock stepped back by NTP or by hand), or a run
 * starting at `seq` 0 (a reboot whose clock came back earlier), each continued frame by frame.
 * Frames a device resends from before what was analysed carry older `seq` values and are still
 * stored quietly, as before. The delay is the signal-loss delay in device time of such frames
 * (criteria `signal_loss.silenceMs`, 10 s by default): a small NTP correction of a few seconds
 * costs those seconds of analysis and raises nothing. Onset = the end of the analysed data (the
 * device time monitoring stopped at); the alarm ends, like the arrival-based signal loss, at the
 * first frame that arrives on time again (stream-runtime.ts).
 *
 * Why not re-base the stream on the new clock instead: every view of the patient (stored trends,
 * strips, alerts, the EHR) is on device time, and a shifted time base would put the same hour
 * twice in the store (points overwrite per timestamp) or show alerts at times the stored data
 * does not have. Which clock was right is not known to the processor. That design is left to a
 * decision; until then the loss of monitoring is shown, not hidden.
 */
import { z } from 'zod';
import type { TelemetryFrame } from '../contracts/telemetry.ts';

/** What a successor needs (the processor's changelog, stream-state.ts `clockBehind`, format 1). */
export interface ClockBehindState {
  v: 1;
  /** `seq` of the latest frame that arrived on time. */
  lastSeq?: number;
  /** The current run of late frames the device sent after it. */
  run?: Run;
}

/** A run of late frames: its first and last `seq`, their device time, and whether it raised the signal loss. */
interface Run {
  firstSeq: number;
  lastSeq: number;
  durMs: number;
  raised: boolean;
}

const uint32 = z.number().int().min(0).max(2 ** 32 - 1);
export const clockBehindStateSchema = z.object({
  v: z.literal(1),
  lastSeq: uint32.optional(),
  run: z.object({ firstSeq: uint32, lastSeq: uint32, durMs: z.number().nonnegative(), raised: z.boolean() }).optional(),
});

const SEQ_MODULUS = 2 ** 32;
/** A run goes on across frames the device dropped (its buffer full), up to this many `seq` at a time. */
const MAX_SEQ_GAP = 1000;
/**
 * An on-time frame up to this many `seq` behind the latest is one reordered on the way (the reorder
 * buffer's 5 s at the shortest frames, 100 ms, is 50); further behind, the device rebooted.
 */
const REORDERED_SEQ = 64;

/** How many frames `seq` b is ahead of a (the counter wraps at 2^32). */
function seqAhead(b: number, a: number): number {
  return (b - a + SEQ_MODULUS) % SEQ_MODULUS;
}

/** `seq` b was sent after a (within half the counter's range). */
function seqAfter(b: number, a: number): boolean {
  const ahead = seqAhead(b, a);
  return ahead > 0 && ahead < SEQ_MODULUS / 2;
}

export class ClockBehindMonitor {
  #lastSeq: number | undefined;
  #run: Run | undefined;

  /** A new frame that arrived on time (analysed or held): the device time is where it should be. */
  onTime(frame: TelemetryFrame): void {
    // The device's latest frame: frames reordered on the way are a little older; a reboot starts
    // again from 0 (its frame 0 may have been lost: then far behind).
    const last = this.#lastSeq;
    const reboot = frame.seq === 0 || (last !== undefined && seqAhead(last, frame.seq) > REORDERED_SEQ);
    if (last === undefined || reboot || seqAfter(frame.seq, last)) this.#lastSeq = frame.seq;
    this.#run = undefined;
  }

  /**
   * The device sent this frame after the last frame on time, or it belongs to the late run. After
   * a restart, a frame behind the predecessor's position is either re-delivered from the bus (sent
   * before: re-analysed, stream-runtime.ts) or one of these (late, new or re-delivered).
   */
  sentAfterOnTime(frame: TelemetryFrame): boolean {
    const run = this.#run;
    if (run && (this.#counted(run, frame) || this.#continues(run, frame))) return true;
    return this.#lastSeq !== undefined && seqAfter(frame.seq, this.#lastSeq);
  }

  #continues(run: Run, frame: TelemetryFrame): boolean {
    const ahead = seqAhead(frame.seq, run.lastSeq);
    return ahead > 0 && ahead <= MAX_SEQ_GAP;
  }

  /** Already counted in the run: the same frame delivered again (a restart re-reads the bus). */
  #counted(run: Run, frame: TelemetryFrame): boolean {
    return seqAhead(frame.seq, run.firstSeq) <= seqAhead(run.lastSeq, run.firstSeq);
  }

  /**
   * A late frame (reorder-buffer.ts). True once per run, when the device's new frames have been
   * late for `delayMs` of their device time: the caller raises the signal loss.
   */
  onLate(frame: TelemetryFrame, delayMs: number): boolean {
    const run = this.#run;
    if (run && this.#counted(run, frame)) return false;
    if (run && this.#continues(run, frame)) {
      run.lastSeq = frame.seq;
      run.durMs += frame.durMs;
    } else if (frame.seq === 0 || (this.#lastSeq !== undefined && seqAfter(frame.seq, this.#lastSeq) && !run)) {
      this.#run = { firstSeq: frame.seq, lastSeq: frame.seq, durMs: frame.durMs, raised: false };
    } else {
      // A resent older frame: stored, nothing else.
      return false;
    }
    const current = this.#run!;
    if (current.raised || current.durMs < delayMs) return false;
    current.raised = true;
    return true;
  }

  /** Whether the signal loss this monitor raised is still open (no frame on time since). */
  get raised(): boolean {
    return this.#run?.raised === true;
  }

  /** A run of late frames is being counted (the changelog record is then rewritten with each batch). */
  get counting(): boolean {
    return this.#run !== undefined;
  }

  state(): ClockBehindState | undefined {
    if (this.#lastSeq === undefined && !this.#run) return undefined;
    return { v: 1, ...(this.#lastSeq !== undefined ? { lastSeq: this.#lastSeq } : {}), ...(this.#run ? { run: { ...this.#run } } : {}) };
  }

  /** A predecessor's {@link state} (restart, partition move). */
  resume(state: ClockBehindState): void {
    this.#lastSeq = state.lastSeq;
    this.#run = state.run ? { ...state.run } : undefined;
  }
}
