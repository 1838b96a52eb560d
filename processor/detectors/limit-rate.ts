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
import type { AlertEvidence, AlertKind } from '../../contracts/alert.ts';
import type { BeatEvent, Detector, EpisodeChange, TimeEvent } from './detector.ts';

export interface LimitRateParams {
  /** The limit, bpm (patient-adjustable). */
  limitBpm: number;
  /** Consecutive beats beyond the limit that start an episode. */
  consecutiveBeats: number;
  /** How far back inside the limit the rate must come to count as recovered, bpm. */
  hysteresisBpm: number;
  /** Consecutive recovered beats that end an episode. */
  recoveryBeats: number;
}

export interface LimitRateCriterion {
  kind: AlertKind;
  /** `below`: alarm when HR < limit (bradycardia); `above`: when HR > limit (tachycardia). */
  direction: 'below' | 'above';
  params: LimitRateParams;
  /** Human-readable criterion with its source, for the alert evidence. */
  criterion: string;
}

const MAX_EVIDENCE_RR = 32;
const round1 = (x: number) => Math.round(x * 10) / 10;

export class LimitRateDetector implements Detector {
  readonly kind: AlertKind;
  readonly #c: LimitRateCriterion;
  readonly #beyond: (rrMs: number) => boolean;
  readonly #recovered: (rrMs: number) => boolean;
  /** Qualifying beats before an episode opens. */
  #run: BeatEvent[] = [];
  #open: { onsetMs: number; beatCount: number; rrSumMs: number; recentRrMs: number[] } | undefined;
  /** First beat and length of the current run of recovered beats while open. */
  #recovery: { firstMs: number; count: number } | undefined;

  constructor(criterion: LimitRateCriterion) {
    const p = criterion.params;
    if (!(p.limitBpm > 0) || !(p.hysteresisBpm >= 0) || (criterion.direction === 'above' && p.hysteresisBpm >= p.limitBpm)) {
      throw new RangeError(`${criterion.kind}: limit ${p.limitBpm} bpm with hysteresis ${p.hysteresisBpm} bpm is not a valid rate limit`);
    }
    if (!(p.consecutiveBeats >= 1) || !(p.recoveryBeats >= 1)) throw new RangeError(`${criterion.kind}: beat counts must be ≥ 1`);
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
      thresholds: { limitBpm: p.limitBpm, consecutiveBeats: p.consecutiveBeats, hysteresisBpm: p.hysteresisBpm, recoveryBeats: p.recoveryBeats },
    };
  }

  onBeat(beat: BeatEvent): EpisodeChange[] {
    if (beat.rrMs <= 0) {
      // Unknown interval: says nothing about the rate, and breaks any run of consecutive beats.
      this.#run = [];
      this.#recovery = undefined;
      return [];
    }
    if (!this.#open) {
      if (!this.#beyond(beat.rrMs)) { this.#run = []; return []; }
      this.#run.push(beat);
      if (this.#run.length < this.#c.params.consecutiveBeats) return [];
      const rr = this.#run.map((b) => b.rrMs);
      this.#open = { onsetMs: this.#run[0]!.timeMs, beatCount: rr.length, rrSumMs: rr.reduce((a, b) => a + b, 0), recentRrMs: rr.slice(-MAX_EVIDENCE_RR) };
      this.#run = [];
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

  onDiscontinuity(): EpisodeChange[] {
    // Nothing is concluded across the hole; an open episode stays open (Detector contract).
    this.#run = [];
    this.#recovery = undefined;
    return [];
  }
}
