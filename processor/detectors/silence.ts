/**
 * Shared state machine of the "no beat for at least N ms" criteria (asystole, pause).
 *
 * Only continuous, lead-on data counts: the silence must be covered by frames without lead-off
 * and without holes, otherwise we do not know that there was no beat (that is signal loss, a
 * technical condition). Onset = the last R-peak before the silence, raised as soon as the silence
 * reaches the threshold; end = the next R-peak. After lost frames, a beat whose device-measured
 * RR reaches the threshold still counts when the interval began on lead-on data.
 */
import type { AlertEvidence, AlertKind } from '../../contracts/alert.ts';
import type { BeatEvent, Detector, EpisodeChange, TimeEvent } from './detector.ts';

export class SilenceDetector implements Detector {
  readonly kind: AlertKind;
  readonly #minGapMs: number;
  readonly #evidence: (gapMs: number) => AlertEvidence;
  /** Last R-peak seen on continuous data; undefined after a discontinuity. */
  #lastBeatMs: number | undefined;
  #openOnsetMs: number | undefined;
  /** Device time up to which the electrodes were reported off: no silence before it counts. */
  #leadOffUntilMs = -Infinity;

  constructor(kind: AlertKind, minGapMs: number, evidence: (gapMs: number) => AlertEvidence) {
    this.kind = kind;
    this.#minGapMs = minGapMs;
    this.#evidence = evidence;
  }

  onBeat(beat: BeatEvent): EpisodeChange[] {
    const changes: EpisodeChange[] = [];
    if (this.#openOnsetMs !== undefined) {
      const onsetMs = this.#openOnsetMs;
      changes.push({ type: 'end', kind: this.kind, onsetMs, endMs: beat.timeMs, evidence: this.#evidence(beat.timeMs - onsetMs) });
      this.#openOnsetMs = undefined;
    } else if (this.#lastBeatMs === undefined && beat.rrMs >= this.#minGapMs && beat.timeMs - beat.rrMs >= this.#leadOffUntilMs) {
      // Frames were lost, but the device itself measured the gap on lead-on data: reported whole.
      const onsetMs = beat.timeMs - beat.rrMs;
      changes.push({ type: 'onset', kind: this.kind, onsetMs, evidence: this.#evidence(beat.rrMs) });
      changes.push({ type: 'end', kind: this.kind, onsetMs, endMs: beat.timeMs, evidence: this.#evidence(beat.rrMs) });
    }
    this.#lastBeatMs = beat.timeMs;
    return changes;
  }

  onTime(time: TimeEvent): EpisodeChange[] {
    if (this.#openOnsetMs !== undefined || this.#lastBeatMs === undefined) return [];
    const gapMs = time.nowMs - this.#lastBeatMs;
    if (gapMs < this.#minGapMs) return [];
    this.#openOnsetMs = this.#lastBeatMs;
    return [{ type: 'onset', kind: this.kind, onsetMs: this.#openOnsetMs, evidence: this.#evidence(gapMs) }];
  }

  onDiscontinuity(atMs: number, reason: 'lead_off' | 'gap'): EpisodeChange[] {
    if (reason === 'lead_off') this.#leadOffUntilMs = Math.max(this.#leadOffUntilMs, atMs);
    this.#lastBeatMs = undefined;
    return [];
  }
}
