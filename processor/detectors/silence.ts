/**
 * Shared state machine of the "no beat for at least N ms" criteria (asystole, pause).
 *
 * Only continuous, lead-on data counts: the silence must be covered by frames without lead-off
 * and without holes, otherwise we do not know that there was no beat (that is signal loss, a
 * technical condition). Onset = the last R-peak before the silence, raised as soon as the silence
 * reaches the threshold; end = the next R-peak. After lost frames, a beat whose device-measured
 * RR reaches the threshold still counts when the interval began on lead-on data. A no-QRS
 * criterion (asystole, `fromDataStart`) also counts from where lead-on, continuous data resume
 * when no beat is known yet (after lead-off or lost frames): a flat line right after the
 * electrodes come back is an asystole, onset = the start of that data (before issue 12 it was
 * never raised). An RR criterion (pause) needs the beat that starts the interval. An alert of
 * this kind open at a restart is continued from the restored position ({@link
 * SilenceDetector.continueOpen}): the fresh detector never sees the beat before the silence.
 *
 * Restarts (processor restart, partition move) and criteria changes: a fresh detector never sees
 * the beat before a silence that began before it, and its successor reads the telemetry only from
 * the committed position. So a silence of ≥ {@link SILENCE_PENDING_MS} (half the criterion at
 * most) is a pending alarm ({@link SilenceDetector.pendingState}: the processor's changelog
 * rewrites it with every batch while it lasts, stream-state.ts), and the successor measures it
 * from the same beat. A shorter one (no record of it) is measured from the first data the fresh
 * detector sees ({@link SilenceDetector.dataResumedAt}), at most that much late, with a note.
 * Before issue 12 session 18 neither held: a processor that restarted in the first seconds of an
 * asystole never raised it, unless the beat before it was delivered again.
 *
 * `yieldsToGapMs` (pause, issue 12): a silence reaching this length is another, higher-priority
 * condition's (asystole, same data rules), and this detector raises nothing for it — one alarm
 * condition per silence, the higher priority wins (IEC 60601-1-8 prioritisation). The alert is
 * then raised when the silence ends short of that length, at its end beat: at most
 * `yieldsToGapMs − minGapMs` (1 s at the defaults) later than live.
 *
 * VF/VT seen in the waveform (issue 12): on a device whose beats come from its ECG, VF has no QRS
 * complexes and the beats stop, though the heart is not silent. While another detector of the
 * stream explains the silence (`explainsSilence`: the vt detector's waveform evidence holds, vt.ts)
 * nothing is raised for it — one alarm condition, the more specific and higher-priority one
 * (IEC 60601-1-8). A silence that stays silent after that evidence ends (VF decaying to a flat
 * line: the vt detector never reads a flat line, baseline wander or noise as VF) is raised at the
 * first step without it, onset = where the explained stretch ended, since the criterion (no QRS for
 * `minGapMs`) has held all along; a pause whose silence was explained at any point is not raised.
 */
import { z } from 'zod';
import type { AlertEvidence, AlertKind } from '../../contracts/alert.ts';
import type { BeatEvent, Detector, EpisodeChange, PendingContext, PendingState, TimeEvent } from './detector.ts';
import { finiteEntry, HeldHandover } from './pending-run.ts';

/**
 * A silence this long (or half the criterion, if shorter) is kept for a successor, ms: above 2 s
 * between beats is below 30/min, so a stream whose heart beats is almost never pending and its
 * changelog record is not rewritten for it.
 */
export const SILENCE_PENDING_MS = 2000;

/** The alert's note when a silence counts from where lead-on, continuous data resumed. */
const AFTER_HOLE_NOTE = 'no QRS since the data resumed (after lead-off or lost frames): no earlier beat is known';

/**
 * {@link SilenceDetector.handoverState} (format 2): the whole detector at a graceful hand-over,
 * for a successor with the same criterion; times not yet known are left out.
 */
const silenceHandoverSchema = z.object({
  v: z.literal(2),
  minGapMs: z.number(),
  yieldsToGapMs: z.number().optional(),
  lastBeatMs: z.number().optional(),
  dataSinceMs: z.number().optional(),
  openOnsetMs: z.number().optional(),
  leadOffUntilMs: z.number().optional(),
  continue: z.object({ sinceMs: z.number(), untilMs: z.number() }).optional(),
  explainedUntilMs: z.number().optional(),
  seenUntilMs: z.number().optional(),
  dataSinceNote: z.string(),
});

export type SilenceHandover = z.infer<typeof silenceHandoverSchema> & PendingState;

/** A silence running at a restart (format 1; see {@link SilenceDetector.pendingState}). */
interface PendingSilence extends PendingState {
  v: 1;
  /** The silence is measured from this beat … */
  lastBeatMs?: number;
  /** … or, with no beat known (no-QRS criteria), from the start of this lead-on, continuous data. */
  dataSinceMs?: number;
}

export class SilenceDetector implements Detector {
  readonly kind: AlertKind;
  readonly #minGapMs: number;
  readonly #evidence: (gapMs: number) => AlertEvidence;
  /** Last R-peak seen on continuous data; undefined after a discontinuity. */
  #lastBeatMs: number | undefined;
  /** With {@link #fromDataStart}: start of the continuous lead-on data in which no beat was seen yet. */
  #dataSinceMs: number | undefined;
  /** Whether a silence also counts from the start of the data when no beat is known (no-QRS criteria), not only from a beat (RR criteria). */
  readonly #fromDataStart: boolean;
  #openOnsetMs: number | undefined;
  /** Device time up to which the electrodes were reported off: no silence before it counts. */
  #leadOffUntilMs = -Infinity;
  readonly #yieldsToGapMs: number;
  /** The stream's detectors that can explain a silence (vt). */
  #explainers: Detector[] = [];
  /** {@link continueOpen}: an alert of this kind was open (silent) up to `sinceMs`; re-detected without a known beat until `untilMs`. */
  #continue: { sinceMs: number; untilMs: number } | undefined;
  /** Device time up to which another condition explained the current silence (−∞: it did not). */
  #explainedUntilMs = -Infinity;
  /** Device time up to which the stream was seen (the last onTime). */
  #nowMs = -Infinity;
  /** Why the silence counts from {@link #dataSinceMs} (the alert's note). */
  #dataSinceNote = AFTER_HOLE_NOTE;
  /** A hand-over's state, held until the first input (pending-run.ts). */
  readonly #whole = new HeldHandover<z.infer<typeof silenceHandoverSchema>>((h) => this.#takeUp(h));
  /** A hand-over's open silence was taken up: it is announced at the next step (the alarm lifecycle's re-detection). */
  #reannounce = false;

  constructor(kind: AlertKind, minGapMs: number, evidence: (gapMs: number) => AlertEvidence, yieldsToGapMs = Infinity, fromDataStart = false) {
    this.#fromDataStart = fromDataStart;
    this.kind = kind;
    this.#minGapMs = minGapMs;
    this.#evidence = evidence;
    this.#yieldsToGapMs = yieldsToGapMs;
  }

  useStreamDetectors(detectors: readonly Detector[]): void {
    this.#explainers = detectors.filter((d) => d !== this && d.explainsSilence !== undefined);
  }

  /** Another condition explains the silence at `nowMs` (remembered for the rest of this silence). */
  #explained(nowMs: number): boolean {
    if (!this.#explainers.some((d) => d.explainsSilence!(nowMs))) return false;
    this.#explainedUntilMs = nowMs;
    return true;
  }

  /** A silence of `gapMs` is this detector's (not yielded to a higher-priority condition). */
  #mine(gapMs: number): boolean {
    return gapMs >= this.#minGapMs && gapMs < this.#yieldsToGapMs;
  }

  onBeat(beat: BeatEvent): EpisodeChange[] {
    this.#whole.inputAt(beat.timeMs);
    const changes: EpisodeChange[] = this.#announce();
    if (this.#openOnsetMs !== undefined) {
      const onsetMs = this.#openOnsetMs;
      changes.push({ type: 'end', kind: this.kind, onsetMs, endMs: beat.timeMs, evidence: this.#evidence(beat.timeMs - onsetMs) });
      this.#openOnsetMs = undefined;
    } else if (this.#lastBeatMs !== undefined && this.#yieldsToGapMs !== Infinity && this.#mine(beat.timeMs - this.#lastBeatMs) && !this.#explained(beat.timeMs) && this.#explainedUntilMs === -Infinity) {
      // A silence held back until it was known not to reach the yielded length: reported whole.
      const onsetMs = this.#lastBeatMs;
      const gapMs = beat.timeMs - onsetMs;
      changes.push({ type: 'onset', kind: this.kind, onsetMs, evidence: this.#evidence(gapMs) });
      changes.push({ type: 'end', kind: this.kind, onsetMs, endMs: beat.timeMs, evidence: this.#evidence(gapMs) });
    } else if (this.#lastBeatMs === undefined && this.#mine(beat.rrMs) && beat.timeMs - beat.rrMs >= this.#leadOffUntilMs) {
      // Frames were lost, but the device itself measured the gap on lead-on data: reported whole.
      const onsetMs = beat.timeMs - beat.rrMs;
      changes.push({ type: 'onset', kind: this.kind, onsetMs, evidence: this.#evidence(beat.rrMs) });
      changes.push({ type: 'end', kind: this.kind, onsetMs, endMs: beat.timeMs, evidence: this.#evidence(beat.rrMs) });
    }
    this.#lastBeatMs = beat.timeMs;
    this.#dataSinceMs = undefined;
    this.#explainedUntilMs = -Infinity;
    return changes;
  }

  /**
   * An alert of this kind is open (restart, partition move, criteria change): the silence was
   * going on at `sinceMs`. A fresh detector that knows no beat since then continues it from its
   * first data at or after `sinceMs` (before `untilMs`) instead of waiting for a beat it will
   * never see; the next beat ends it. With a known beat the silence is measured from it as usual.
   */
  continueOpen(untilMs: number, sinceMs: number): void {
    this.#continue = { sinceMs, untilMs };
  }

  /**
   * A silence of ≥ {@link SILENCE_PENDING_MS} (or half the criterion) not yet raised: where it is
   * measured from, so that a fresh detector raises it at the same device time with the same onset.
   * Measured up to where the input is known to hold no beat (`quietUntilMs`), not only to the data
   * this detector has seen: from an ECG-only device those lag the input by the beat source's
   * decision (≈ 0.5 s, up to 1.5 RR), and a successor's fresh beat source neither sees the beat before a silence that
   * began before its first frame nor counts a silence during its 2 s learning. Measured on the
   * detector's data alone, a restart 2 s into an ECG-only device's 5 s asystole raised nothing in
   * 2 of 12 rhythms (test/processor/silence-restart.test.ts; firmware beats: the device's RR tells
   * the successor the silence's length).
   */
  pendingState(context?: PendingContext): PendingSilence | undefined {
    if (this.#openOnsetMs !== undefined || this.#explainedUntilMs !== -Infinity) return undefined;
    const sinceMs = this.#lastBeatMs ?? (this.#fromDataStart ? this.#dataSinceMs : undefined);
    const quietMs = Math.max(this.#nowMs, context?.quietUntilMs ?? -Infinity);
    if (sinceMs === undefined) return undefined;
    // (At a hand-over the beat is kept whatever the silence so far: a successor whose count began at
    // its first frame would miss the part before it, the restart gap described above.)
    if (!context?.handover && quietMs - sinceMs < Math.min(SILENCE_PENDING_MS, this.#minGapMs / 2)) return undefined;
    // A silence that reached the yielded length is the other condition's: nothing to keep.
    if (this.#nowMs - sinceMs >= this.#yieldsToGapMs) return undefined;
    return this.#lastBeatMs !== undefined ? { v: 1, lastBeatMs: this.#lastBeatMs } : { v: 1, dataSinceMs: sinceMs };
  }

  /**
   * A predecessor's silence: measured from its beat (or data start) unless this detector has seen
   * a beat itself. The frames that follow must continue the predecessor's (the processor makes a
   * hole a discontinuity, which ends it).
   */
  resumePending(state: PendingState): void {
    if (state.v === 2) {
      const h = silenceHandoverSchema.safeParse(state).data;
      const same = h !== undefined && h.minGapMs === this.#minGapMs && (h.yieldsToGapMs ?? Infinity) === this.#yieldsToGapMs;
      // (The regular state the record gave first may have set the beat; the whole state replaces it.)
      if (same && this.#openOnsetMs === undefined) this.#whole.hold(h);
      return;
    }
    if (state.v !== 1 || this.#lastBeatMs !== undefined) return;
    const s = state as PendingSilence;
    if (typeof s.lastBeatMs === 'number') this.#lastBeatMs = s.lastBeatMs;
    else if (typeof s.dataSinceMs === 'number' && this.#fromDataStart) {
      this.#dataSinceMs = s.dataSinceMs;
      this.#dataSinceNote = 'no QRS since the data resumed: no earlier beat is known (measured before the processor resumed this stream)';
    }
  }

  /**
   * After a restart or criteria change: this fresh detector sees the stream from `atMs` on (the
   * previous one saw what came before). With no beat known and no silence taken over, a no-QRS
   * criterion counts from there, as after lost frames; the silence before it (less than
   * {@link SILENCE_PENDING_MS}, or it would have been taken over) is not counted.
   */
  dataResumedAt(atMs: number): void {
    // (A hand-over's state taken up here knows the silence so far.)
    if (this.#whole.inputAt(atMs)) return;
    if (!this.#fromDataStart || this.#lastBeatMs !== undefined || this.#dataSinceMs !== undefined) return;
    this.#dataSinceMs = atMs;
    this.#dataSinceNote = 'no QRS since the processor resumed this stream: the beat before is not known (the silence began less than 2 s before)';
  }

  onTime(time: TimeEvent): EpisodeChange[] {
    this.#whole.inputAt(time.nowMs);
    if (this.#reannounce) return [...this.#announce(), ...this.onTime(time)];
    this.#nowMs = Math.max(this.#nowMs, time.nowMs);
    const c = this.#continue;
    if (c && this.#openOnsetMs === undefined && this.#lastBeatMs === undefined && time.nowMs >= c.sinceMs && time.nowMs < c.untilMs) {
      this.#continue = undefined;
      this.#openOnsetMs = c.sinceMs;
      return [{ type: 'onset', kind: this.kind, onsetMs: c.sinceMs, evidence: { ...this.#evidence(time.nowMs - c.sinceMs), note: 'continued after the processor resumed this stream: no beat since' } }];
    }
    if (c && time.nowMs >= c.untilMs) this.#continue = undefined;
    const sinceMs = this.#lastBeatMs ?? this.#dataSinceMs;
    if (this.#openOnsetMs !== undefined || sinceMs === undefined) return [];
    const gapMs = time.nowMs - sinceMs;
    if (gapMs < this.#minGapMs || this.#explained(time.nowMs)) return [];
    // With a yielded length the silence is decided at its end beat (onBeat), never live.
    if (this.#yieldsToGapMs !== Infinity) return [];
    this.#openOnsetMs = Math.max(sinceMs, this.#explainedUntilMs);
    const evidence = this.#evidence(gapMs);
    if (this.#lastBeatMs === undefined) evidence.note = this.#dataSinceNote;
    return [{ type: 'onset', kind: this.kind, onsetMs: this.#openOnsetMs, evidence }];
  }

  onDiscontinuity(atMs: number, reason: 'lead_off' | 'gap'): EpisodeChange[] {
    this.#whole.inputAt(atMs);
    const announced = this.#announce();
    if (reason === 'lead_off') this.#leadOffUntilMs = Math.max(this.#leadOffUntilMs, atMs);
    this.#lastBeatMs = undefined;
    // The electrodes are back / frames flow again: no QRS from here on counts for no-QRS criteria.
    this.#dataSinceMs = this.#fromDataStart ? atMs : undefined;
    this.#dataSinceNote = AFTER_HOLE_NOTE;
    this.#explainedUntilMs = -Infinity;
    return announced;
  }

  /**
   * At a graceful hand-over (processor.ts `stop`): the whole detector, so the successor goes on
   * exactly — also an open silence (its end evidence measures the gap from its own onset, not from
   * where the successor began) and a silence another condition explains (VF seen in the waveform),
   * which the regular state leaves out.
   */
  handoverState(): SilenceHandover | undefined {
    if (this.#whole.held) return this.#whole.held;
    return {
      v: 2,
      minGapMs: this.#minGapMs,
      ...finiteEntry('yieldsToGapMs', this.#yieldsToGapMs),
      ...finiteEntry('lastBeatMs', this.#lastBeatMs),
      ...finiteEntry('dataSinceMs', this.#dataSinceMs),
      ...finiteEntry('openOnsetMs', this.#openOnsetMs),
      ...finiteEntry('leadOffUntilMs', this.#leadOffUntilMs),
      ...(this.#continue ? { continue: { ...this.#continue } } : {}),
      ...finiteEntry('explainedUntilMs', this.#explainedUntilMs),
      ...finiteEntry('seenUntilMs', this.#nowMs),
      dataSinceNote: this.#dataSinceNote,
    };
  }

  /** A hand-over's state, taken up at the first input that follows what the predecessor saw (pending-run.ts). */
  #takeUp(h: z.infer<typeof silenceHandoverSchema>): void {
    this.#lastBeatMs = h.lastBeatMs;
    this.#dataSinceMs = h.dataSinceMs;
    this.#openOnsetMs = h.openOnsetMs;
    this.#leadOffUntilMs = h.leadOffUntilMs ?? -Infinity;
    // (Instead of a continueOpen the restore gave: the open silence itself is known.)
    this.#continue = h.continue && { ...h.continue };
    this.#explainedUntilMs = h.explainedUntilMs ?? -Infinity;
    this.#nowMs = h.seenUntilMs ?? -Infinity;
    this.#dataSinceNote = h.dataSinceNote;
    this.#reannounce = this.#openOnsetMs !== undefined;
  }

  /** After a hand-over's open silence was taken up: the onset change that tells the alarm lifecycle it goes on. */
  #announce(): EpisodeChange[] {
    if (!this.#reannounce || this.#openOnsetMs === undefined) return [];
    this.#reannounce = false;
    const gapMs = Math.max(0, this.#nowMs - this.#openOnsetMs);
    return [{ type: 'onset', kind: this.kind, onsetMs: this.#openOnsetMs, evidence: this.#evidence(gapMs) }];
  }
}
