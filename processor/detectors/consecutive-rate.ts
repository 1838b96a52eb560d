/**
 * Shared machinery for "heart rate beyond a limit for N consecutive beats" criteria
 * (extreme bradycardia, extreme tachycardia). Beat-to-beat rate = 60000 / RR.
 *
 * Restarts (processor restart, partition move) and criteria changes: the run of qualifying beats
 * so far is a pending alarm ({@link ConsecutiveRateDetector.pendingState}, kept in the processor's
 * changelog while it lasts, stream-state.ts), so a fresh detector counts on from it instead of
 * from zero. Without it the high-priority alarm came up to N beats late: 7 s for an extreme
 * bradycardia at 35/min restarted 4 beats into its run (test/processor/consecutive-restart.test.ts).
 */
import type { AlertEvidence, AlertKind } from '../../contracts/alert.ts';
import { z } from 'zod';
import { BEAT_CLASSES } from '../../contracts/telemetry.ts';
import type { BeatEvent, Detector, EpisodeChange, PendingState, TimeEvent } from './detector.ts';
import { finiteEntry, HeldHandover, parsePendingBeatRun, seenBefore, type PendingBeatRun } from './pending-run.ts';

/** {@link ConsecutiveRateDetector.pendingState} at a hand-over (format 2); `thresholds` as JSON, to tell the same criterion. */
const handoverSchema = z.object({
  v: z.literal(2),
  thresholds: z.string(),
  run: z.array(z.object({ timeMs: z.number(), rrMs: z.number(), cls: z.enum(BEAT_CLASSES) })),
  open: z.object({ onsetMs: z.number(), rrMs: z.array(z.number()) }).optional(),
  seenUntilMs: z.number().optional(),
});

export type ConsecutiveRateHandover = z.infer<typeof handoverSchema> & PendingState;

export interface ConsecutiveRateCriterion {
  kind: AlertKind;
  /** True when one beat's RR interval meets the criterion. */
  qualifies: (rrMs: number) => boolean;
  consecutiveBeats: number;
  criterion: string;
  thresholds: Record<string, number>;
}

const meanBpm = (rrs: number[]) => Math.round((60000 / (rrs.reduce((a, b) => a + b, 0) / rrs.length)) * 10) / 10;

export class ConsecutiveRateDetector implements Detector {
  readonly kind: AlertKind;
  readonly #c: ConsecutiveRateCriterion;
  /** The current run of qualifying beats. */
  #run: BeatEvent[] = [];
  #open: { onsetMs: number; rrMs: number[] } | undefined;
  /** Device time up to which the stream was seen (the last beat or onTime). */
  #seenUntilMs = -Infinity;
  /** {@link resumePending}: a predecessor's run, taken over at the first beat after what it saw. */
  #resumed: PendingBeatRun | undefined;
  /** A hand-over's state, held until the first input (pending-run.ts). */
  readonly #whole = new HeldHandover<z.infer<typeof handoverSchema>>((h) => this.#takeUp(h));
  /** A hand-over's open episode, to be announced at the next beat or time step. */
  #reannounce = false;

  constructor(criterion: ConsecutiveRateCriterion) {
    this.#c = criterion;
    this.kind = criterion.kind;
  }

  #evidence(rrMs: number[]): AlertEvidence {
    return { hrBpm: meanBpm(rrMs), rrMs: rrMs.slice(-32), beatCount: rrMs.length, criterion: this.#c.criterion, thresholds: this.#c.thresholds };
  }

  /** The run of qualifying beats so far, while one runs and no episode is open; undefined otherwise. */
  pendingState(): PendingBeatRun | undefined {
    if (this.#resumed) return this.#resumed;
    if (this.#open || this.#run.length === 0) return undefined;
    return { v: 1, beats: this.#run.map((b) => ({ timeMs: b.timeMs, rrMs: b.rrMs })), seenUntilMs: this.#seenUntilMs };
  }

  /**
   * At a graceful hand-over: the whole detector ({@link ConsecutiveRateHandover}), also an open
   * episode with the intervals its evidence reports, which a successor would otherwise re-detect
   * from the beats it sees (an end reporting 29 beats of a 50-beat run).
   */
  handoverState(): ConsecutiveRateHandover | undefined {
    // (Not yet taken up: on as it came. A regular state taken over and not yet continued: that one suffices.)
    if (this.#whole.held) return this.#whole.held;
    if (this.#resumed) return undefined;
    return {
      v: 2,
      thresholds: JSON.stringify(this.#c.thresholds),
      run: this.#run.map((b) => ({ ...b })),
      ...(this.#open ? { open: { onsetMs: this.#open.onsetMs, rrMs: [...this.#open.rrMs] } } : {}),
      ...finiteEntry('seenUntilMs', this.#seenUntilMs),
    };
  }

  /**
   * Takes over a predecessor's run: re-delivered beats it saw are skipped, and the first beat
   * after them continues the run (or ends it, as it would have for the predecessor). A run whose
   * beats do not all meet this detector's criterion (a criteria change) is judged afresh. A
   * {@link handoverState} of the same criterion is held for the first input (pending-run.ts).
   */
  resumePending(state: PendingState): void {
    if (state.v === 2) {
      const h = handoverSchema.safeParse(state).data;
      if (h && !this.#open && this.#run.length === 0 && h.thresholds === JSON.stringify(this.#c.thresholds)) this.#whole.hold(h);
      return;
    }
    const r = parsePendingBeatRun(state);
    if (!r || this.#open || this.#run.length > 0 || !r.beats.every((b) => b.rrMs > 0 && this.#c.qualifies(b.rrMs))) return;
    this.#resumed = r;
  }

  /** A hand-over's state, taken up at the first input that follows what the predecessor saw (pending-run.ts). */
  #takeUp(h: z.infer<typeof handoverSchema>): void {
    this.#resumed = undefined;
    this.#run = h.run.map((b) => ({ ...b }));
    this.#open = h.open && { onsetMs: h.open.onsetMs, rrMs: [...h.open.rrMs] };
    this.#seenUntilMs = h.seenUntilMs ?? -Infinity;
    // (The alarm lifecycle takes an onset of its open alert as the successor continuing it.)
    this.#reannounce = this.#open !== undefined;
  }

  /** After a hand-over with an episode open: the onset change that tells the alarm lifecycle it goes on. */
  #announce(): EpisodeChange[] {
    if (!this.#reannounce || !this.#open) return [];
    this.#reannounce = false;
    return [{ type: 'onset', kind: this.kind, onsetMs: this.#open.onsetMs, evidence: this.#evidence(this.#open.rrMs) }];
  }

  onBeat(beat: BeatEvent): EpisodeChange[] {
    this.#whole.inputAt(beat.timeMs);
    if (this.#reannounce) return [...this.#announce(), ...this.onBeat(beat)];
    this.#seenUntilMs = Math.max(this.#seenUntilMs, beat.timeMs);
    const resumed = this.#resumed;
    if (resumed) {
      if (seenBefore(resumed, beat.timeMs)) return [];
      this.#resumed = undefined;
      this.#run = resumed.beats.map((b) => ({ timeMs: b.timeMs, rrMs: b.rrMs, cls: 'N' as const }));
    }
    if (beat.rrMs > 0 && this.#c.qualifies(beat.rrMs)) {
      if (this.#open) {
        this.#open.rrMs.push(beat.rrMs);
        return [];
      }
      this.#run.push(beat);
      if (this.#run.length >= this.#c.consecutiveBeats) {
        const rr = this.#run.map((b) => b.rrMs);
        this.#open = { onsetMs: this.#run[0]!.timeMs, rrMs: rr };
        this.#run = [];
        return [{ type: 'onset', kind: this.kind, onsetMs: this.#open.onsetMs, evidence: this.#evidence(rr) }];
      }
      return [];
    }
    this.#run = [];
    // The episode ends at the first beat that no longer meets the criterion (a known RR only:
    // an unknown RR says nothing about the rate).
    if (this.#open && beat.rrMs > 0) {
      const ended = this.#open;
      this.#open = undefined;
      return [{ type: 'end', kind: this.kind, onsetMs: ended.onsetMs, endMs: beat.timeMs, evidence: this.#evidence(ended.rrMs) }];
    }
    return [];
  }

  onTime(time: TimeEvent): EpisodeChange[] {
    this.#whole.inputAt(time.nowMs);
    this.#seenUntilMs = Math.max(this.#seenUntilMs, time.nowMs);
    return this.#announce();
  }

  onDiscontinuity(atMs: number): EpisodeChange[] {
    this.#whole.inputAt(atMs);
    this.#run = [];
    // A taken-over run survives only a hole the predecessor saw too (before what it saw).
    if (this.#resumed && atMs > this.#resumed.seenUntilMs) this.#resumed = undefined;
    return [];
  }
}
