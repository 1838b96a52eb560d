/**
 * Ventricular tachycardia (alarm, high priority): at least 5 consecutive ventricular beats
 * (firmware class `V`) at a heart rate above 100 bpm.
 * Sources (fhir-and-alarms.md §5): PhysioNet/CinC Challenge 2015 alarm definition; Philips
 * IntelliVue default (run ≥ 5 and HR ≥ 100). The clinical definition (≥ 3 beats, sustained
 * > 30 s, 2017 AHA/ACC/HRS) is broader; the alarm uses the stricter, vendor-aligned 5 beats.
 *
 * Rate of the run = 60000 / mean of the RR intervals between its ventricular beats (the
 * `minBeats − 1` intervals inside the window; the coupling interval from the preceding normal
 * beat is not part of the ventricular rhythm). The test slides over the run, so a run that
 * starts slow and speeds up alarms once its last `minBeats` beats are fast.
 *
 * Onset = the first ventricular beat of the qualifying window; end = the first beat that is not
 * ventricular (the run is over). While it lasts the rate is not re-tested: a VT that slows
 * stays one episode instead of flapping. A beat with unknown RR (after lost frames) restarts
 * the count; an open episode stays open across a discontinuity (Detector contract).
 */
import type { AlertEvidence } from '../../contracts/alert.ts';
import type { BeatEvent, Detector, EpisodeChange, TimeEvent } from './detector.ts';

export interface VtParams {
  /** Consecutive ventricular beats that make a run. */
  minBeats: number;
  /** The run's rate must exceed this, bpm. */
  hrAboveBpm: number;
}

export const VT_DEFAULTS: VtParams = { minBeats: 5, hrAboveBpm: 100 };

const MAX_EVIDENCE_RR = 32;

interface OpenRun {
  onsetMs: number;
  beatCount: number;
  rrSumMs: number;
  /** Known intervals summed in rrSumMs. */
  intervals: number;
  recentRrMs: number[];
}
const round1 = (x: number) => Math.round(x * 10) / 10;

export class VtDetector implements Detector {
  readonly kind = 'vt' as const;
  readonly #p: VtParams;
  /** The last `minBeats` beats of the current run of ventricular beats. */
  #run: BeatEvent[] = [];
  #open: OpenRun | undefined;

  constructor(params: VtParams = VT_DEFAULTS) {
    if (!(params.minBeats >= 2)) throw new RangeError('vt minBeats must be ≥ 2 (a rate needs an interval)');
    this.#p = params;
  }

  #evidence(o: OpenRun): AlertEvidence {
    return {
      hrBpm: round1(60000 / (o.rrSumMs / o.intervals)),
      rrMs: o.recentRrMs.slice(-MAX_EVIDENCE_RR),
      beatCount: o.beatCount,
      criterion: `≥ ${this.#p.minBeats} consecutive ventricular beats at HR > ${this.#p.hrAboveBpm} bpm (PhysioNet/CinC 2015; Philips default)`,
      thresholds: { minBeats: this.#p.minBeats, hrAboveBpm: this.#p.hrAboveBpm },
    };
  }

  onBeat(beat: BeatEvent): EpisodeChange[] {
    if (beat.cls !== 'V') {
      this.#run = [];
      if (!this.#open) return [];
      const o = this.#open;
      this.#open = undefined;
      return [{ type: 'end', kind: this.kind, onsetMs: o.onsetMs, endMs: beat.timeMs, evidence: this.#evidence(o) }];
    }
    if (this.#open) {
      const o = this.#open;
      o.beatCount++;
      if (beat.rrMs > 0) {
        o.rrSumMs += beat.rrMs;
        o.intervals++;
        o.recentRrMs.push(beat.rrMs);
        if (o.recentRrMs.length > MAX_EVIDENCE_RR) o.recentRrMs.shift();
      }
      return [];
    }
    // An unknown interval means the previous beat is unknown: the run starts again here.
    if (beat.rrMs <= 0) this.#run = [];
    this.#run.push(beat);
    if (this.#run.length > this.#p.minBeats) this.#run.shift();
    if (this.#run.length < this.#p.minBeats) return [];
    const intervals = this.#run.slice(1).map((b) => b.rrMs);
    const rrSumMs = intervals.reduce((a, b) => a + b, 0);
    // HR > limit ⟺ mean RR < 60000 / limit.
    if (rrSumMs / intervals.length >= 60000 / this.#p.hrAboveBpm) return [];
    this.#open = { onsetMs: this.#run[0]!.timeMs, beatCount: this.#run.length, rrSumMs, intervals: intervals.length, recentRrMs: intervals };
    this.#run = [];
    return [{ type: 'onset', kind: this.kind, onsetMs: this.#open.onsetMs, evidence: this.#evidence(this.#open) }];
  }

  onTime(_time: TimeEvent): EpisodeChange[] {
    return [];
  }

  onDiscontinuity(): EpisodeChange[] {
    this.#run = [];
    return [];
  }
}

/** Factory with the documented defaults (≥ 5 V beats, HR > 100 bpm); both patient-adjustable. */
export function createVtDetector(params: Partial<VtParams> = {}): VtDetector {
  return new VtDetector({ ...VT_DEFAULTS, ...params });
}
