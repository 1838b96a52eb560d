/**
 * Asystole: no QRS for ≥ 4 s. Source: PhysioNet/CinC Challenge 2015 (fhir-and-alarms.md §5;
 * vendor telemetry often uses 3 s — configurable).
 *
 * Only continuous, lead-on data counts: the silence must be covered by frames without lead-off
 * and without holes, otherwise we do not know that there was no beat (that is signal loss, a
 * technical condition). Onset = the last R-peak before the silence; end = the next R-peak.
 */
import type { AlertEvidence } from '../../contracts/alert.ts';
import type { BeatEvent, Detector, EpisodeChange, TimeEvent } from './detector.ts';

export const ASYSTOLE_DEFAULTS = { minGapMs: 4000 } as const;

export class AsystoleDetector implements Detector {
  readonly kind = 'asystole' as const;
  readonly #minGapMs: number;
  /** Last R-peak seen on continuous data; undefined after a discontinuity. */
  #lastBeatMs: number | undefined;
  #openOnsetMs: number | undefined;
  /** Device time up to which the electrodes were reported off: no silence before it counts. */
  #leadOffUntilMs = -Infinity;

  constructor(params: { minGapMs: number } = ASYSTOLE_DEFAULTS) {
    this.#minGapMs = params.minGapMs;
  }

  #evidence(gapMs: number): AlertEvidence {
    return { gapMs, criterion: `no QRS for ≥ ${this.#minGapMs / 1000} s (PhysioNet/CinC 2015)`, thresholds: { minGapMs: this.#minGapMs } };
  }

  onBeat(beat: BeatEvent): EpisodeChange[] {
    const changes: EpisodeChange[] = [];
    if (this.#openOnsetMs !== undefined) {
      changes.push({ type: 'end', kind: this.kind, onsetMs: this.#openOnsetMs, endMs: beat.timeMs, evidence: this.#evidence(beat.timeMs - this.#openOnsetMs) });
      this.#openOnsetMs = undefined;
    } else if (this.#lastBeatMs === undefined && beat.rrMs >= this.#minGapMs && beat.timeMs - beat.rrMs >= this.#leadOffUntilMs) {
      // Frames were lost, but the device itself measured the gap (rr known) on lead-on data:
      // still asystole.
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
