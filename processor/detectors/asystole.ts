/**
 * Asystole: no QRS for ≥ 4 s. Source: PhysioNet/CinC Challenge 2015 (fhir-and-alarms.md §5;
 * vendor telemetry often uses 3 s — configurable).
 *
 * Onset = the last R-peak before the silence; end = the next R-peak; only continuous, lead-on
 * data counts (silence.ts). A silence of derived beats while the vt detector sees VF/VT in the
 * waveform is that VF, not an asystole (silence.ts); a flat line, baseline wander or noise never
 * reads as VF (vt.ts).
 */
import { SilenceDetector } from './silence.ts';

export const ASYSTOLE_DEFAULTS = { minGapMs: 4000 } as const;

export class AsystoleDetector extends SilenceDetector {
  constructor(params: { minGapMs: number } = ASYSTOLE_DEFAULTS) {
    super('asystole', params.minGapMs, (gapMs) => ({
      gapMs, criterion: `no QRS for ≥ ${params.minGapMs / 1000} s (PhysioNet/CinC 2015)`, thresholds: { minGapMs: params.minGapMs },
    }), Infinity, true);
  }
}
