/**
 * Heart-rate limit alarms with hysteresis (bradycardia, tachycardia): the episode starts when
 * `consecutiveBeats` consecutive beats are beyond the limit, and ends only when the rate has
 * recovered past the limit by `hysteresisBpm` for `recoveryBeats` consecutive beats, so a rate
 * hovering at the limit raises one alert instead of a flapping series. Beat-to-beat rate =
 * 60000 / RR. Beats between the limit and the recovery level neither extend nor end the episode.
 *
 * Unlike consecutive-rate.ts (extreme brady/tachy, which end at the first non-qualifying beat,
 * as their PhysioNet definitions describe the event itself), these are limit alarms a nurse
 * lives with for hours, hence the hysteresis.
 */
import { z } from 'zod';
import type { AlertEvidence, AlertKind } from '../../contracts/alert.ts';
import type { BeatEvent, Detector, EpisodeChange, PendingState, TimeEvent } from './detector.ts';

export interface LimitRateParams {
  /** The limit, bpm (patient-adjustable). */
  limitBpm: number;
  /** Consecutive beats beyond the limit that start an episode. */
  consecutiveBeats: number;
  /** How far back inside the limit the rate must come to count as recovered, bpm. */
  hysteresisBpm: number;
  /** Consecutive recovered beats that end an episode. */
  recoveryBeats: number;
  /**
   * Alarm delay: the consecutive beats beyond the limit must also span this long before the
   * episode opens (onset stays at the run's first beat), ms. 0 = no delay.
   */
  sustainMs: number;
  /**
   * Sudden onset (optional): when the run's first `consecutiveBeats` intervals are on average at
   * least this fraction shorter (tachy) / longer (brady) than the 8 intervals before the run
   * (consecutive, all inside the limit: a beat beyond it restarts the reference), the
   * shorter {@link suddenSustainMs} applies. Sinus tachycardia of exercise ramps up; a
   * re-entrant tachycardia starts from one beat to the next (the "sudden onset" discriminator
   * of implantable defibrillators). 0 = off.
   */
  suddenChange: number;
  suddenSustainMs: number;
}

export interface LimitRateCriterion {
  kind: AlertKind;
  /** `below`: alarm when HR < limit (bradycardia); `above`: when HR > limit (tachycardia). */
  direction: 'below' | 'above';
  params: LimitRateParams;
  /** Human-readable criterion with its source, for the alert evidence. */
  criterion: string;
}

/**
 * A run whose alarm delay is running, as the processor's changelog keeps it ({@link
 * LimitRateDetector.pendingState}, format 1): the run's first beat (the onset the alarm will carry
 * and the start of the delay) and the sudden-onset decision are what the alarm's timing needs; the
 * rest is for the evidence (beats, mean rate) and for deciding the sudden-onset test when the run
 * is still shorter than `consecutiveBeats`. `limitBpm` and `direction` tell a detector with other
 * criteria whether every beat of the run is beyond its own limit too.
 */
export interface PendingRun extends PendingState {
  v: 1;
  direction: 'below' | 'above';
  limitBpm: number;
  /** Device time of the run's first beat, ms. */
  firstMs: number;
  /** Device time of the last beat counted here, ms: re-delivered beats up to it are not counted again. */
  lastMs: number;
  count: number;
  rrSumMs: number;
  recentRrMs: number[];
  /** The sudden-onset decision; absent until the run has `consecutiveBeats` intervals. */
  sudden?: boolean;
  /** While undecided: the intervals before the run the test compares with (up to 8). */
  beforeRrMs?: number[];
}

const MAX_EVIDENCE_RR = 32;
/** Intervals before a run that the sudden-onset test compares with. */
const BEFORE_INTERVALS = 8;
const round1 = (x: number) => Math.round(x * 10) / 10;

export class LimitRateDetector implements Detector {
  readonly kind: AlertKind;
  readonly #c: LimitRateCriterion;
  readonly #beyond: (rrMs: number) => boolean;
  readonly #recovered: (rrMs: number) => boolean;
  /** The current run of qualifying beats before an episode opens (bounded summary). */
  #run: { firstMs: number; lastMs: number; count: number; rrSumMs: number; recentRrMs: number[]; sudden: boolean | undefined } | undefined;
  /** The last intervals before the run, all inside the limit and consecutive (sudden-onset reference). */
  #before: number[] = [];
  #open: { onsetMs: number; beatCount: number; rrSumMs: number; recentRrMs: number[] } | undefined;
  /** First beat and length of the current run of recovered beats while open. */
  #recovery: { firstMs: number; count: number } | undefined;
  /** {@link continueOpen}: runs starting before this device time open without the alarm delay. */
  #continueUntilMs = -Infinity;
  /** {@link resumePending}: a predecessor's run, taken over at the first beat that continues it. */
  #resumed: PendingRun | undefined;
  /** Beats up to this device time are already counted in the run taken over (re-delivered after a restart). */
  #countedUntilMs = -Infinity;

  constructor(criterion: LimitRateCriterion) {
    const p = criterion.params;
    if (!(p.limitBpm > 0) || !(p.hysteresisBpm >= 0) || (criterion.direction === 'above' && p.hysteresisBpm >= p.limitBpm)) {
      throw new RangeError(`${criterion.kind}: limit ${p.limitBpm} bpm with hysteresis ${p.hysteresisBpm} bpm is not a valid rate limit`);
    }
    if (!(p.consecutiveBeats >= 1) || !(p.recoveryBeats >= 1)) throw new RangeError(`${criterion.kind}: beat counts must be ≥ 1`);
    if (!(p.sustainMs >= 0) || !(p.suddenSustainMs >= 0) || !(p.suddenChange >= 0 && p.suddenChange < 1)) throw new RangeError(`${criterion.kind}: sustain times must be ≥ 0 and the sudden-onset fraction in [0, 1)`);
    this.#c = criterion;
    this.kind = criterion.kind;
    const limitRrMs = 60000 / p.limitBpm;
    if (criterion.direction === 'below') {
      const recoveredRrMs = 60000 / (p.limitBpm + p.hysteresisBpm);
      this.#beyond = (rr) => rr > limitRrMs;
      this.#recovered = (rr) => rr <= recoveredRrMs;
    } else {
      const recoveredRrMs = 60000 / (p.limitBpm - p.hysteresisBpm);
      this.#beyond = (rr) => rr < limitRrMs;
      this.#recovered = (rr) => rr >= recoveredRrMs;
    }
  }

  #evidence(beatCount: number, rrSumMs: number, recentRrMs: number[]): AlertEvidence {
    const p = this.#c.params;
    return {
      hrBpm: round1(60000 / (rrSumMs / beatCount)),
      rrMs: recentRrMs.slice(-MAX_EVIDENCE_RR),
      beatCount,
      criterion: this.#c.criterion,
      thresholds: { limitBpm: p.limitBpm, consecutiveBeats: p.consecutiveBeats, hysteresisBpm: p.hysteresisBpm, recoveryBeats: p.recoveryBeats, sustainMs: p.sustainMs, ...(p.suddenChange > 0 ? { suddenChange: p.suddenChange, suddenSustainMs: p.suddenSustainMs } : {}) },
    };
  }

  onBeat(beat: BeatEvent): EpisodeChange[] {
    if (this.#resumed && beat.timeMs >= this.#resumed.firstMs) this.#takeOver(this.#resumed, beat);
    if (beat.timeMs <= this.#countedUntilMs) {
      // A re-delivered beat of the run taken over: already counted, unless the data differ.
      if (this.#run && beat.rrMs > 0 && this.#beyond(beat.rrMs)) return [];
      this.#countedUntilMs = -Infinity;
    }
    if (beat.rrMs <= 0) {
      // Unknown interval: says nothing about the rate, and breaks any run of consecutive beats.
      this.#run = undefined;
      this.#before = [];
      this.#recovery = undefined;
      return [];
    }
    if (!this.#open) {
      const p = this.#c.params;
      if (!this.#beyond(beat.rrMs)) {
        // The sudden-onset reference is the intervals *immediately* before a run: a run that
        // broke off here (a few beats beyond the limit) means the rhythm already hovered at the
        // limit, so the intervals before it no longer describe where the next run comes from.
        // Kept, they let a rhythm drifting around the limit (sleep) pass for a sudden change
        // against a rate it left minutes ago.
        if (this.#run) this.#before = [];
        this.#run = undefined;
        this.#before.push(beat.rrMs);
        if (this.#before.length > BEFORE_INTERVALS) this.#before.shift();
        return [];
      }
      const run = (this.#run ??= { firstMs: beat.timeMs, lastMs: beat.timeMs, count: 0, rrSumMs: 0, recentRrMs: [], sudden: undefined });
      run.lastMs = beat.timeMs;
      run.count++;
      run.rrSumMs += beat.rrMs;
      run.recentRrMs.push(beat.rrMs);
      if (run.recentRrMs.length > MAX_EVIDENCE_RR) run.recentRrMs.shift();
      if (run.count < p.consecutiveBeats) return [];
      if (run.sudden === undefined) run.sudden = this.#isSudden(run.rrSumMs / run.count);
      const sustainMs = run.firstMs < this.#continueUntilMs ? 0 : run.sudden ? Math.min(p.sustainMs, p.suddenSustainMs) : p.sustainMs;
      if (beat.timeMs - run.firstMs < sustainMs) return [];
      this.#open = { onsetMs: run.firstMs, beatCount: run.count, rrSumMs: run.rrSumMs, recentRrMs: run.recentRrMs };
      this.#run = undefined;
      this.#continueUntilMs = -Infinity;
      this.#before = [];
      this.#recovery = undefined;
      return [{ type: 'onset', kind: this.kind, onsetMs: this.#open.onsetMs, evidence: this.#evidence(this.#open.beatCount, this.#open.rrSumMs, this.#open.recentRrMs) }];
    }
    const open = this.#open;
    if (this.#beyond(beat.rrMs)) {
      open.beatCount++;
      open.rrSumMs += beat.rrMs;
      open.recentRrMs.push(beat.rrMs);
      if (open.recentRrMs.length > MAX_EVIDENCE_RR) open.recentRrMs.shift();
      this.#recovery = undefined;
      return [];
    }
    if (!this.#recovered(beat.rrMs)) {
      // In the hysteresis band: not beyond the limit, not recovered either.
      this.#recovery = undefined;
      return [];
    }
    this.#recovery ??= { firstMs: beat.timeMs, count: 0 };
    this.#recovery.count++;
    if (this.#recovery.count < this.#c.params.recoveryBeats) return [];
    // The criterion stopped holding at the first recovered beat.
    const endMs = this.#recovery.firstMs;
    this.#open = undefined;
    this.#recovery = undefined;
    return [{ type: 'end', kind: this.kind, onsetMs: open.onsetMs, endMs, evidence: this.#evidence(open.beatCount, open.rrSumMs, open.recentRrMs) }];
  }

  onTime(_time: TimeEvent): EpisodeChange[] {
    return [];
  }

  /** An alert of this kind is open (restart, criteria change): re-detect it without the alarm delay. */
  continueOpen(untilMs: number): void {
    this.#continueUntilMs = untilMs;
  }

  /** The run whose alarm delay is running, for a successor (changelog); undefined when none. */
  pendingState(): PendingRun | undefined {
    const run = this.#run;
    if (this.#open) return undefined;
    // A run taken over but not yet continued by a beat is still pending.
    if (!run) return this.#resumed;
    const c = this.#c;
    return {
      v: 1, direction: c.direction, limitBpm: c.params.limitBpm,
      firstMs: run.firstMs, lastMs: run.lastMs, count: run.count, rrSumMs: run.rrSumMs, recentRrMs: [...run.recentRrMs],
      ...(run.sudden !== undefined ? { sudden: run.sudden } : { beforeRrMs: [...this.#before] }),
    };
  }

  /**
   * Takes over a predecessor's pending run (restart, partition move, criteria change): its delay
   * goes on from the run's first beat instead of starting again. Only when every beat of that run
   * is beyond this detector's limit as well (same limit, or a wider one: a higher brady / lower
   * tachy limit); otherwise the run is judged afresh by the new limit from the next beat. This
   * detector's own delays apply to it; the sudden-onset decision is kept when it applies the test.
   */
  resumePending(state: PendingState): void {
    const r = parsePendingRun(state);
    const c = this.#c;
    if (!r || r.direction !== c.direction) return;
    const covered = c.direction === 'below' ? c.params.limitBpm >= r.limitBpm : c.params.limitBpm <= r.limitBpm;
    if (!covered) return;
    this.#resumed = r;
  }

  /**
   * The first beat at or after the taken-over run's first beat: the run goes on when this beat is
   * beyond the limit (it is one of the run's re-delivered beats, or the next one); otherwise the
   * run ended while no detector watched and is dropped.
   */
  #takeOver(r: PendingRun, beat: BeatEvent): void {
    this.#resumed = undefined;
    if (this.#open || !(beat.rrMs > 0 && this.#beyond(beat.rrMs))) return;
    const suddenOff = !(this.#c.params.suddenChange > 0);
    this.#run = { firstMs: r.firstMs, lastMs: r.lastMs, count: r.count, rrSumMs: r.rrSumMs, recentRrMs: [...r.recentRrMs], sudden: suddenOff ? false : r.sudden };
    this.#before = r.beforeRrMs ? [...r.beforeRrMs] : [];
    this.#countedUntilMs = r.lastMs;
  }

  /** The run's first intervals (mean `runRrMs`) differ from those before it by the sudden-onset fraction. */
  #isSudden(runRrMs: number): boolean {
    const p = this.#c.params;
    if (!(p.suddenChange > 0) || this.#before.length < BEFORE_INTERVALS) return false;
    const beforeRrMs = this.#before.reduce((a, b) => a + b, 0) / this.#before.length;
    return this.#c.direction === 'above' ? runRrMs <= (1 - p.suddenChange) * beforeRrMs : runRrMs >= beforeRrMs / (1 - p.suddenChange);
  }

  onDiscontinuity(atMs: number): EpisodeChange[] {
    // Nothing is concluded across the hole; an open episode stays open (Detector contract). A run
    // taken over from a predecessor survives only a hole before it (one the predecessor saw too).
    if (this.#resumed && atMs > this.#resumed.firstMs) this.#resumed = undefined;
    this.#countedUntilMs = -Infinity;
    this.#run = undefined;
    this.#before = [];
    this.#recovery = undefined;
    return [];
  }
}

/** Format 1 of {@link PendingRun} as it comes back from the changelog (z.number() is finite). */
const pendingRunSchema = z
  .object({
    v: z.literal(1),
    direction: z.enum(['below', 'above']),
    limitBpm: z.number(),
    firstMs: z.number(),
    lastMs: z.number(),
    count: z.number().min(1),
    rrSumMs: z.number(),
    recentRrMs: z.array(z.number()),
    sudden: z.boolean().optional(),
    beforeRrMs: z.array(z.number()).optional(),
  })
  .refine((r) => r.lastMs >= r.firstMs);

/** A changelog state this detector can continue (format 1), or undefined. */
function parsePendingRun(s: PendingState): PendingRun | undefined {
  const r = pendingRunSchema.safeParse(s);
  return r.success ? r.data : undefined;
}
