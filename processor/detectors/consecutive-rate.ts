/**
 * Shared machinery for "heart rate beyond a limit for N consecutive beats" criteria
 * (extreme bradycardia, extreme tachycardia). Beat-to-beat rate = 60000 / RR.
 *
 * Restarts (processor restart, partition move) and criteria changes: the run of qualifying beats
 * so far is a pending alarm ({@link ConsecutiveRateDetector.pendingState}, kept in the processor's
 * changelog while it lasts, stream-state.ts), so a fresh detector counts on from it instead of
 * from zero. Without it the high-priority alarm came up to N beats late: 7 s for an extreme
 * bradycardia at 35/min restarted 4 beats into its run (test/processor/consecutive-restart.test.ts).
 *
 * End with hysteresis ({@link RateRecovery}, since the afdb 04908 finding): an open episode ends only once the
 * monitor's averaged heart rate ({@link monitorHrBpm}) has been back inside the limit by
 * `hysteresisBpm` for `recoveryMs` of device time; the end reported is the first beat of that
 * recovered stretch. Until then beats beyond the limit, beats between the limit and the recovery
 * level and single slow beats neither end the episode nor start a new one. Before, the episode
 * ended at the first beat back inside the limit, so a rate hovering at it (AF/flutter with a fast
 * ventricular response at 135–152/min, afdb 04908) opened and closed a high-priority alarm 16
 * times in 9.5 minutes (EVALUATION.md §3). The onset is untouched: the run of consecutive beats is
 * counted exactly as before, also while an episode is open, and carried over when it ends, so
 * every onset is an onset of the criterion without hysteresis, at the same beat; only re-onsets
 * while the episode is still open are absorbed (test/processor/detectors/extreme-hysteresis.test.ts).
 * Without `recovery` (or `recoveryMs` 0) the episode ends at the first beat back inside the limit
 * (the PhysioNet/CinC 2015 event definition, the rule before).
 *
 * An open episode across an unclean restart ({@link OpenEpisodeState}, format 3 of the changelog
 * state, since the end hysteresis): with a rate hovering at the limit an episode stays open for
 * minutes without N consecutive beats beyond it, so a fresh detector did not report it again within
 * the alarm lifecycle's 60 s re-detection window; the restored alert ended "end estimated" and the
 * next run of N beats raised a second high-priority alarm for the same episode. The record keeps
 * the open episode (onset, evidence summary), the averaged rate's intervals and the recovered
 * stretch while it is open (≈ 60 numbers, rewritten with each batch like any pending state), and
 * the successor goes on with it: one alarm, its end at the same beat
 * (test/processor/extreme-restart.test.ts).
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
  /**
   * `rrMs`: the latest intervals; `beatCount` and `rrSumMs` (since format 3 of the regular state)
   * count all of them. Without those (an older predecessor), `rrMs` is every interval.
   */
  open: z.object({ onsetMs: z.number(), rrMs: z.array(z.number()), beatCount: z.number().int().min(1).optional(), rrSumMs: z.number().positive().optional() }).optional(),
  seenUntilMs: z.number().optional(),
  // Since the afdb 04908 finding (an older successor ignores them and ends the episode by its own rule):
  /** The recovery rule as JSON; the recovered stretch below is taken up only under the same one. */
  recovery: z.string().optional(),
  /** The last known intervals (the monitor's averaged rate, {@link monitorHrBpm}). */
  recentRrMs: z.array(z.number()).optional(),
  /** First beat of the recovered stretch of the open episode. */
  recoveredSinceMs: z.number().optional(),
});

export type ConsecutiveRateHandover = z.infer<typeof handoverSchema> & PendingState;

/**
 * {@link ConsecutiveRateDetector.pendingState} while an episode is open (format 3; an older
 * processor ignores it and waits for a re-detection, as before): what the successor needs to go on
 * with the episode from the first beat after `seenUntilMs`. Taken over only under the same onset
 * criterion (`thresholds`), its recovered stretch only under the same recovery rule (`recovery`).
 */
const openEpisodeSchema = z.object({
  v: z.literal(3),
  thresholds: z.string(),
  recovery: z.string().optional(),
  open: z.object({ onsetMs: z.number(), beatCount: z.number().int().min(1), rrSumMs: z.number().positive(), rrMs: z.array(z.number()) }),
  /** The run of qualifying beats inside the episode (a relapse at N keeps it from ending). */
  run: z.array(z.object({ timeMs: z.number(), rrMs: z.number() })),
  recentRrMs: z.array(z.number()),
  recoveredSinceMs: z.number().optional(),
  seenUntilMs: z.number(),
});

export type OpenEpisodeState = z.infer<typeof openEpisodeSchema> & PendingState;

/**
 * How an open episode ends (the alarm's end hysteresis): once the monitor's averaged rate has been
 * at or past `limitBpm` ∓ `hysteresisBpm` (below it for `above`, above it for `below`) for
 * `recoveryMs` of device time.
 */
export interface RateRecovery {
  /** `above`: the criterion is a rate above the limit (tachycardia); `below`: under it. */
  direction: 'above' | 'below';
  limitBpm: number;
  hysteresisBpm: number;
  /** > 0 (0 is no recovery rule: leave `recovery` out). */
  recoveryMs: number;
}

export interface ConsecutiveRateCriterion {
  kind: AlertKind;
  /** True when one beat's RR interval meets the criterion. */
  qualifies: (rrMs: number) => boolean;
  consecutiveBeats: number;
  criterion: string;
  /** The onset criterion's numbers (also what tells a hand-over of the same criterion). */
  thresholds: Record<string, number>;
  /** The end hysteresis; absent: the episode ends at the first beat that no longer qualifies. */
  recovery?: RateRecovery;
}

/** Intervals the averaged rate is taken over ({@link monitorHrBpm}). */
export const MONITOR_HR_INTERVALS = 12;

/**
 * The heart rate a bedside monitor shows and alarms on, from the most recent known RR intervals
 * (oldest first): the mean of the last 12 without their longest and shortest, or of the last 4
 * when the last 3 are each longer than 1200 ms (a slow rate is followed faster). IEC 60601-2-27
 * (clause 201.7.9.2.9.101 b) 3)) makes the manufacturer disclose the averaging; this is the one
 * Mindray discloses under it (BeneHeart D60 and uMEC manuals, "Heart rate averaging"), and meets
 * its response-time test (80 → 120 and 80 → 40 bpm shown in < 11 s). With fewer than 3 intervals:
 * their plain mean. NaN without any.
 */
export function monitorHrBpm(rrMs: readonly number[]): number {
  const last = rrMs.slice(-MONITOR_HR_INTERVALS);
  if (last.length === 0) return Number.NaN;
  const mean = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  if (last.length >= 3 && last.slice(-3).every((rr) => rr > 1200)) return 60000 / mean(last.slice(-4));
  if (last.length < 3) return 60000 / mean(last);
  const sorted = [...last].sort((a, b) => a - b);
  return 60000 / mean(sorted.slice(1, -1));
}

/** Intervals an episode's evidence lists (the latest). */
const EVIDENCE_RR = 32;

/**
 * An open episode: its onset and what its evidence reports — every interval's count and sum (the
 * mean rate) and the latest {@link EVIDENCE_RR} — so the state stays small however long it lasts.
 */
interface OpenEpisode { onsetMs: number; beatCount: number; rrSumMs: number; rrMs: number[] }

function openEpisode(onsetMs: number, rrMs: readonly number[]): OpenEpisode {
  return { onsetMs, beatCount: rrMs.length, rrSumMs: rrMs.reduce((a, b) => a + b, 0), rrMs: rrMs.slice(-EVIDENCE_RR) };
}

function addInterval(open: OpenEpisode, rrMs: number): void {
  open.beatCount++;
  open.rrSumMs += rrMs;
  open.rrMs.push(rrMs);
  if (open.rrMs.length > EVIDENCE_RR) open.rrMs.shift();
}

const copyOpen = (o: OpenEpisode): OpenEpisode => ({ ...o, rrMs: [...o.rrMs] });

export class ConsecutiveRateDetector implements Detector {
  readonly kind: AlertKind;
  readonly #c: ConsecutiveRateCriterion;
  /** The current run of qualifying beats. */
  #run: BeatEvent[] = [];
  #open: OpenEpisode | undefined;
  /** Device time up to which the stream was seen (the last beat or onTime). */
  #seenUntilMs = -Infinity;
  /** {@link resumePending}: a predecessor's run, taken over at the first beat after what it saw. */
  #resumed: PendingBeatRun | undefined;
  /** {@link resumePending}: a predecessor's open episode, taken over at the first input after what it saw. */
  #resumedOpen: z.infer<typeof openEpisodeSchema> | undefined;
  /** A hand-over's state, held until the first input (pending-run.ts). */
  readonly #whole = new HeldHandover<z.infer<typeof handoverSchema>>((h) => this.#takeUp(h));
  /** A hand-over's open episode, to be announced at the next beat or time step. */
  #reannounce = false;
  /** The last known intervals ({@link monitorHrBpm}); kept only with a recovery rule. */
  #recentRrMs: number[] = [];
  /** While open: first beat of the current stretch whose averaged rate is recovered. */
  #recoveredSinceMs: number | undefined;
  /** The averaged rate is back inside the limit by the hysteresis. */
  readonly #recovered: (hrBpm: number) => boolean;

  constructor(criterion: ConsecutiveRateCriterion) {
    const r = criterion.recovery;
    if (r && (!(r.recoveryMs > 0) || !(r.hysteresisBpm >= 0) || !(r.limitBpm > 0) || (r.direction === 'above' && r.hysteresisBpm >= r.limitBpm))) {
      throw new RangeError(`${criterion.kind}: recovery past ${r.limitBpm} bpm by ${r.hysteresisBpm} bpm for ${r.recoveryMs} ms is not a valid end rule`);
    }
    this.#c = criterion;
    this.kind = criterion.kind;
    this.#recovered = !r ? () => false : r.direction === 'above' ? (hr) => hr <= r.limitBpm - r.hysteresisBpm : (hr) => hr >= r.limitBpm + r.hysteresisBpm;
  }

  #evidence(o: OpenEpisode): AlertEvidence {
    const r = this.#c.recovery;
    const thresholds = r ? { ...this.#c.thresholds, hysteresisBpm: r.hysteresisBpm, recoveryMs: r.recoveryMs } : this.#c.thresholds;
    const hrBpm = Math.round((60000 / (o.rrSumMs / o.beatCount)) * 10) / 10;
    return { hrBpm, rrMs: [...o.rrMs], beatCount: o.beatCount, criterion: this.#c.criterion, thresholds };
  }

  /**
   * For a successor after a restart (the changelog): the run of qualifying beats so far while no
   * episode is open (format 1), the open episode while one is ({@link OpenEpisodeState}); undefined
   * when neither.
   */
  pendingState(): PendingBeatRun | OpenEpisodeState | undefined {
    if (this.#resumed) return this.#resumed;
    if (this.#resumedOpen) return this.#resumedOpen;
    const run = this.#run.map((b) => ({ timeMs: b.timeMs, rrMs: b.rrMs }));
    if (this.#open) {
      return {
        v: 3,
        thresholds: JSON.stringify(this.#c.thresholds),
        ...(this.#c.recovery ? { recovery: JSON.stringify(this.#c.recovery) } : {}),
        open: copyOpen(this.#open),
        run,
        recentRrMs: [...this.#recentRrMs],
        ...(this.#recoveredSinceMs !== undefined ? { recoveredSinceMs: this.#recoveredSinceMs } : {}),
        seenUntilMs: this.#seenUntilMs,
      };
    }
    if (run.length === 0) return undefined;
    return { v: 1, beats: run, seenUntilMs: this.#seenUntilMs };
  }

  /**
   * At a graceful hand-over: the whole detector ({@link ConsecutiveRateHandover}), also an open
   * episode with the intervals its evidence reports, which a successor would otherwise re-detect
   * from the beats it sees (an end reporting 29 beats of a 50-beat run).
   */
  handoverState(): ConsecutiveRateHandover | undefined {
    // (Not yet taken up: on as it came. A regular state taken over and not yet continued: that one suffices.)
    if (this.#whole.held) return this.#whole.held;
    if (this.#resumed || this.#resumedOpen) return undefined;
    return {
      v: 2,
      thresholds: JSON.stringify(this.#c.thresholds),
      run: this.#run.map((b) => ({ ...b })),
      ...(this.#open ? { open: copyOpen(this.#open) } : {}),
      ...finiteEntry('seenUntilMs', this.#seenUntilMs),
      ...(this.#c.recovery ? { recovery: JSON.stringify(this.#c.recovery), recentRrMs: [...this.#recentRrMs] } : {}),
      ...(this.#recoveredSinceMs !== undefined ? { recoveredSinceMs: this.#recoveredSinceMs } : {}),
    };
  }

  /**
   * Takes over a predecessor's run: re-delivered beats it saw are skipped, and the first beat
   * after them continues the run (or ends it, as it would have for the predecessor). A run whose
   * beats do not all meet this detector's criterion (a criteria change) is judged afresh. A
   * {@link handoverState} of the same criterion is held for the first input (pending-run.ts).
   */
  resumePending(state: PendingState): void {
    if (state.v === 3) {
      const o = openEpisodeSchema.safeParse(state).data;
      if (o && !this.#open && this.#run.length === 0 && o.thresholds === JSON.stringify(this.#c.thresholds)) this.#resumedOpen = o;
      return;
    }
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
    this.#resumedOpen = undefined;
    this.#run = h.run.map((b) => ({ ...b }));
    const o = h.open;
    this.#open = o && (o.beatCount !== undefined && o.rrSumMs !== undefined ? { onsetMs: o.onsetMs, beatCount: o.beatCount, rrSumMs: o.rrSumMs, rrMs: o.rrMs.slice(-EVIDENCE_RR) } : openEpisode(o.onsetMs, o.rrMs));
    this.#seenUntilMs = h.seenUntilMs ?? -Infinity;
    this.#resumeRecovery(h);
  }

  /**
   * A predecessor's open episode ({@link OpenEpisodeState}), at the first input after what it saw:
   * the episode goes on here, its recovered stretch too under the same recovery rule.
   */
  #takeUpOpen(o: z.infer<typeof openEpisodeSchema>): void {
    this.#resumedOpen = undefined;
    this.#run = o.run.map((b) => ({ ...b, cls: 'N' as const }));
    this.#open = copyOpen(o.open);
    this.#seenUntilMs = Math.max(this.#seenUntilMs, o.seenUntilMs);
    this.#resumeRecovery(o);
  }

  /** The averaged rate's intervals and the recovered stretch of a predecessor's state; the open episode is announced next. */
  #resumeRecovery(s: { recovery?: string | undefined; recentRrMs?: number[] | undefined; recoveredSinceMs?: number | undefined }): void {
    // The intervals are data (any rule may use them); the recovered stretch is judged by a rule.
    this.#recentRrMs = this.#c.recovery ? [...(s.recentRrMs ?? [])].slice(-MONITOR_HR_INTERVALS) : [];
    this.#recoveredSinceMs = this.#open && this.#c.recovery && s.recovery === JSON.stringify(this.#c.recovery) ? s.recoveredSinceMs : undefined;
    // (The alarm lifecycle takes an onset of its open alert as the successor continuing it.)
    this.#reannounce = this.#open !== undefined;
  }

  /** After a hand-over with an episode open: the onset change that tells the alarm lifecycle it goes on. */
  #announce(): EpisodeChange[] {
    if (!this.#reannounce || !this.#open) return [];
    this.#reannounce = false;
    return [{ type: 'onset', kind: this.kind, onsetMs: this.#open.onsetMs, evidence: this.#evidence(this.#open) }];
  }

  onBeat(beat: BeatEvent): EpisodeChange[] {
    this.#whole.inputAt(beat.timeMs);
    const waiting = this.#resumedOpen;
    if (waiting) {
      // Re-delivered beats the predecessor counted in its open episode are not counted twice.
      if (beat.timeMs < waiting.seenUntilMs) return [];
      this.#takeUpOpen(waiting);
    }
    if (this.#reannounce) return [...this.#announce(), ...this.onBeat(beat)];
    this.#seenUntilMs = Math.max(this.#seenUntilMs, beat.timeMs);
    const resumed = this.#resumed;
    if (resumed) {
      if (seenBefore(resumed, beat.timeMs)) return [];
      this.#resumed = undefined;
      this.#run = resumed.beats.map((b) => ({ timeMs: b.timeMs, rrMs: b.rrMs, cls: 'N' as const }));
    }
    const known = beat.rrMs > 0;
    const qualifies = known && this.#c.qualifies(beat.rrMs);
    if (this.#c.recovery && known) {
      this.#recentRrMs.push(beat.rrMs);
      if (this.#recentRrMs.length > MONITOR_HR_INTERVALS) this.#recentRrMs.shift();
    }
    if (this.#open && this.#c.recovery) return this.#whileOpen(beat, qualifies);
    if (qualifies) {
      if (this.#open) {
        addInterval(this.#open, beat.rrMs);
        return [];
      }
      return this.#extendRun(beat);
    }
    this.#run = [];
    // The episode ends at the first beat that no longer meets the criterion (a known RR only:
    // an unknown RR says nothing about the rate).
    if (this.#open && known) {
      const ended = this.#open;
      this.#open = undefined;
      return [{ type: 'end', kind: this.kind, onsetMs: ended.onsetMs, endMs: beat.timeMs, evidence: this.#evidence(ended) }];
    }
    return [];
  }

  /** A qualifying beat while no episode is open: the run goes on, and opens one at its Nth beat. */
  #extendRun(beat: BeatEvent): EpisodeChange[] {
    this.#run.push(beat);
    if (this.#run.length < this.#c.consecutiveBeats) return [];
    this.#open = openEpisode(this.#run[0]!.timeMs, this.#run.map((b) => b.rrMs));
    this.#run = [];
    this.#recoveredSinceMs = undefined;
    return [{ type: 'onset', kind: this.kind, onsetMs: this.#open.onsetMs, evidence: this.#evidence(this.#open) }];
  }

  /**
   * A beat while an episode is open, with a recovery rule: the run of qualifying beats is counted
   * as when none is open (it becomes the pending run when the episode ends, so a new onset is at
   * the same beat as without the hysteresis); the episode ends once the averaged rate has stayed
   * recovered for the recovery time.
   */
  #whileOpen(beat: BeatEvent, qualifies: boolean): EpisodeChange[] {
    const open = this.#open!;
    if (qualifies) {
      addInterval(open, beat.rrMs);
      this.#run.push(beat);
      // A run reaching N beats meets the onset criterion again (a relapse): the episode goes on and
      // cannot end before the run breaks, which empties it; so only its length matters from then on.
      if (this.#run.length > this.#c.consecutiveBeats) this.#run.shift();
    } else {
      this.#run = [];
    }
    // An unknown interval says nothing about the rate: the recovered stretch neither starts nor breaks.
    if (beat.rrMs <= 0) return [];
    if (this.#recovered(monitorHrBpm(this.#recentRrMs))) this.#recoveredSinceMs ??= beat.timeMs;
    else this.#recoveredSinceMs = undefined;
    return this.#endIfRecovered(beat.timeMs);
  }

  /** Ends the open episode at the first beat of its recovered stretch once that has lasted the recovery time by `nowMs`. */
  #endIfRecovered(nowMs: number): EpisodeChange[] {
    const open = this.#open;
    const since = this.#recoveredSinceMs;
    const r = this.#c.recovery;
    if (!open || !r || since === undefined || nowMs - since < r.recoveryMs || this.#run.length >= this.#c.consecutiveBeats) return [];
    this.#open = undefined;
    this.#recoveredSinceMs = undefined;
    // The run of qualifying beats so far (shorter than N: the rate is recovered) stays pending.
    return [{ type: 'end', kind: this.kind, onsetMs: open.onsetMs, endMs: since, evidence: this.#evidence(open) }];
  }

  /** The open episode's evidence now, undefined while none is open (Detector.openEvidence; afib.ts asks at an AF end). */
  openEvidence(): { onsetMs: number; evidence: AlertEvidence } | undefined {
    const o = this.#open ?? this.#resumedOpen?.open;
    return o && { onsetMs: o.onsetMs, evidence: this.#evidence(o) };
  }

  onTime(time: TimeEvent): EpisodeChange[] {
    this.#whole.inputAt(time.nowMs);
    const waiting = this.#resumedOpen;
    if (waiting) {
      // (A frame end the predecessor saw is not new: `seenUntilMs` is its last one.)
      if (time.nowMs <= waiting.seenUntilMs) return [];
      this.#takeUpOpen(waiting);
    }
    this.#seenUntilMs = Math.max(this.#seenUntilMs, time.nowMs);
    const announced = this.#announce();
    return announced.length > 0 ? announced : this.#endIfRecovered(time.nowMs);
  }

  onDiscontinuity(atMs: number): EpisodeChange[] {
    this.#whole.inputAt(atMs);
    // A hole after what the predecessor saw: its open episode stays open across it (as its own would).
    if (this.#resumedOpen && atMs > this.#resumedOpen.seenUntilMs) this.#takeUpOpen(this.#resumedOpen);
    this.#run = [];
    // A recovery must be seen: nothing is concluded across the hole (the episode stays open).
    this.#recoveredSinceMs = undefined;
    // A taken-over run survives only a hole the predecessor saw too (before what it saw).
    if (this.#resumed && atMs > this.#resumed.seenUntilMs) this.#resumed = undefined;
    return [];
  }
}
