/**
 * Shared machinery for "heart rate beyond a limit for N consecutive beats" criteria
 * (extreme bradycardia, extreme tachycardia). Beat-to-beat rate = 60000 / RR.
 */
import type { AlertEvidence, AlertKind } from '../../contracts/alert.ts';
import type { BeatEvent, Detector, EpisodeChange, TimeEvent } from './detector.ts';

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

  constructor(criterion: ConsecutiveRateCriterion) {
    this.#c = criterion;
    this.kind = criterion.kind;
  }

  #evidence(rrMs: number[]): AlertEvidence {
    return { hrBpm: meanBpm(rrMs), rrMs: rrMs.slice(-32), beatCount: rrMs.length, criterion: this.#c.criterion, thresholds: this.#c.thresholds };
  }

  onBeat(beat: BeatEvent): EpisodeChange[] {
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

  onTime(_time: TimeEvent): EpisodeChange[] {
    return [];
  }

  onDiscontinuity(): EpisodeChange[] {
    this.#run = [];
    return [];
  }
}
