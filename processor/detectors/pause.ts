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
 * Relation to asystole (no QRS ≥ 4 s, high priority, always on): in the production detector set
 * (detector-set.ts) the pause yields to asystole — a silence that reaches the patient's asystole
 * length raises asystole only, one alarm condition per silence with the higher priority
 * (IEC 60601-1-8 prioritisation; issue 12: on nsr2db every overnight silence raised both). Both
 * detectors apply the same data rules (silence.ts), so every silence the pause gives up is an
 * asystole; a pause is then raised at its end beat (≤ 1 s after the live 3 s point at the
 * defaults), since only then is it known not to become an asystole. Without `yieldsToGapMs`
 * (tests, evaluation of pause alone) it is raised live at the threshold as before. Separate
 * per-patient switches stay: a clinician may turn pause off without losing asystole.
 */
import { SilenceDetector } from './silence.ts';

export interface PauseParams {
  /** Shortest RR interval that is a pause, ms (allowed 2500–4000). */
  minRrMs: number;
  /** A silence this long is the asystole's (the patient's asystole length): no pause for it. Default ∞ (pause alone). */
  yieldsToGapMs?: number;
}

export const PAUSE_DEFAULTS: PauseParams = { minRrMs: 3000 };
export const PAUSE_RANGE_MS = { min: 2500, max: 4000 } as const;

export class PauseDetector extends SilenceDetector {
  constructor(params: PauseParams = PAUSE_DEFAULTS) {
    if (!(params.minRrMs >= PAUSE_RANGE_MS.min && params.minRrMs <= PAUSE_RANGE_MS.max)) {
      throw new RangeError(`pause minRrMs must be within ${PAUSE_RANGE_MS.min}–${PAUSE_RANGE_MS.max} ms, got ${params.minRrMs}`);
    }
    const yields = params.yieldsToGapMs ?? Infinity;
    const criterion = `RR ≥ ${params.minRrMs / 1000} s (pause)${yields === Infinity ? '' : `; ≥ ${yields / 1000} s is an asystole, not a pause`}`;
    super('pause', params.minRrMs, (gapMs) => ({ gapMs, criterion, thresholds: { minRrMs: params.minRrMs } }), yields);
  }
}

/** Factory with the documented default (RR ≥ 3 s); `minRrMs` is patient-adjustable within 2.5–4 s. */
export function createPauseDetector(params: Partial<PauseParams> = {}): PauseDetector {
  return new PauseDetector({ ...PAUSE_DEFAULTS, ...params });
}
