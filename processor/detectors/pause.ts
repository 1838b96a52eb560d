/**
 * Pause: an RR interval of at least 3 s (configurable 2.5–4 s), medium priority.
 * Source: fhir-and-alarms.md §5 — vendor convention (Philips "Pause" is configurable); no
 * guideline number was verified, hence the configurable range.
 *
 * One alert per pause: onset = the beat before the pause (raised live once the silence reaches
 * the threshold, like asystole), end = the beat that ends it. Only continuous, lead-on data
 * counts (same rules as asystole.ts): a silence that spans lead-off or lost frames is a technical
 * condition; a device-measured RR after lost frames still counts when it began on lead-on data.
 *
 * Relation to asystole (no QRS ≥ 4 s, high priority): both fire for a silence ≥ 4 s, on purpose.
 * They are separate conditions with separate priorities and per-patient switches (a clinician
 * may set pause to 2.5 s and leave asystole at 4 s, or turn pause off in a patient with known
 * sinus pauses without losing asystole); coupling the detectors would make one silently depend
 * on the other's settings. The alarm layer can show the highest-priority alert of a patient
 * first (IEC 60601-1-8 prioritisation); both alerts carry the same onset and end, so they are
 * recognisably the same event.
 */
import { SilenceDetector } from './silence.ts';

export interface PauseParams {
  /** Shortest RR interval that is a pause, ms (allowed 2500–4000). */
  minRrMs: number;
}

export const PAUSE_DEFAULTS: PauseParams = { minRrMs: 3000 };
export const PAUSE_RANGE_MS = { min: 2500, max: 4000 } as const;

export class PauseDetector extends SilenceDetector {
  constructor(params: PauseParams = PAUSE_DEFAULTS) {
    if (!(params.minRrMs >= PAUSE_RANGE_MS.min && params.minRrMs <= PAUSE_RANGE_MS.max)) {
      throw new RangeError(`pause minRrMs must be within ${PAUSE_RANGE_MS.min}–${PAUSE_RANGE_MS.max} ms, got ${params.minRrMs}`);
    }
    super('pause', params.minRrMs, (gapMs) => ({ gapMs, criterion: `RR ≥ ${params.minRrMs / 1000} s (pause)`, thresholds: { minRrMs: params.minRrMs } }));
  }
}

/** Factory with the documented default (RR ≥ 3 s); `minRrMs` is patient-adjustable within 2.5–4 s. */
export function createPauseDetector(params: Partial<PauseParams> = {}): PauseDetector {
  return new PauseDetector({ ...PAUSE_DEFAULTS, ...params });
}
