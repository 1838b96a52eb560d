/**
 * The default alarm criteria the simulator's ground truth assumes (fhir-and-alarms.md §5 and
 * issue 4). They are restated here from the published definitions rather than imported from the
 * processor, so the simulator stays an independent judge of the detectors; a test checks that
 * they equal the detectors' defaults. A patient whose criteria were changed through the API is
 * judged against these defaults all the same (the report then shows the difference).
 */

/** Asystole: no QRS for ≥ 4 s (PhysioNet/CinC 2015). */
export const ASYSTOLE_MIN_GAP_MS = 4000;
/** Pause: an RR interval of ≥ 3 s (vendor convention, fhir-and-alarms.md §5). */
export const PAUSE_MIN_RR_MS = 3000;
/**
 * Extreme bradycardia: HR < 40 bpm for 5 consecutive beats (PhysioNet/CinC 2015). Its alarm ends
 * once the averaged HR is ≥ 45 bpm for 30 s (end hysteresis, the afdb 04908 finding; the end reported is the
 * first beat of that stretch); the ground truth's end stays the first beat after the run, which on
 * the simulator's abrupt rhythm changes is the same beat or a few later (end error, not scored).
 */
export const EXTREME_BRADY = { hrBelowBpm: 40, consecutiveBeats: 5, hysteresisBpm: 5, recoveryMs: 30_000 } as const;
/**
 * Bradycardia limit alarm: HR < 50 bpm for 5 beats; ends at HR ≥ 55 bpm for 5 beats, final after
 * the 120 s off-delay without 5 beats < 50 bpm again (processor defaults). Alarm delay (issue 12,
 * against nuisance alarms; AHA 2017 practice standards, Sandau et al., alarm management): the run
 * of slow beats must also span 120 s — or 30 s when it starts suddenly, see {@link SUDDEN_ONSET}.
 */
export const BRADY = { limitBpm: 50, consecutiveBeats: 5, recoveredBpm: 55, recoveryBeats: 5, recoveryMs: 120_000, sustainMs: 120_000, suddenSustainMs: 30_000 } as const;
/** Extreme tachycardia: HR > 140 bpm for 17 consecutive beats (PhysioNet/CinC 2015); ends as extreme brady, at an averaged HR ≤ 130 bpm for 30 s. */
export const EXTREME_TACHY = { hrAboveBpm: 140, consecutiveBeats: 17, hysteresisBpm: 10, recoveryMs: 30_000 } as const;
/**
 * Tachycardia limit alarm: HR > 120 bpm for 5 beats (EDAN: RR < 0.5 s × 5); ends at HR ≤ 115 bpm
 * for 5 beats (no off-delay). Alarm delay (issue 12): the run must span 5 min, or 30 s after a
 * sudden onset.
 */
export const TACHY = { limitBpm: 120, consecutiveBeats: 5, recoveredBpm: 115, recoveryBeats: 5, recoveryMs: 0, sustainMs: 300_000, suddenSustainMs: 30_000 } as const;
/**
 * Sudden onset of a limit-alarm run (the "sudden onset" discriminator of implantable
 * defibrillators): the mean of the run's first `consecutiveBeats` intervals is at least
 * `change` (20 %) shorter (tachy) than the mean of the last `beforeIntervals` (8) intervals
 * inside the limit before the run, or longer by the same rate change (brady: RR ≥ mean / 0.8,
 * i.e. ≥ 25 % longer). Those intervals are consecutive and immediately before the run: an
 * interval beyond the limit among them (an earlier dip) restarts the count. Fewer than 8: not
 * sudden. The run must differ as much from the **prevailing interval** before it as well: the
 * average of all intervals weighted by time with an exponential memory of `prevailingTauMs`
 * (5 min; {@link nextPrevailingRrMs}), so the return to a sleeping rate after an arousal of a
 * minute or two is not a sudden onset (issue 12, nuisance alarms).
 */
export const SUDDEN_ONSET = { change: 0.2, beforeIntervals: 8, prevailingTauMs: 300_000 } as const;

/**
 * The prevailing interval after one more interval of `rrMs`: it moves towards `rrMs` by
 * 1 − e^(−rrMs / τ), the share of the memory that interval's duration fills. NaN before any interval.
 */
export function nextPrevailingRrMs(prevailingRrMs: number, rrMs: number): number {
  return Number.isNaN(prevailingRrMs) ? rrMs : prevailingRrMs + (1 - Math.exp(-rrMs / SUDDEN_ONSET.prevailingTauMs)) * (rrMs - prevailingRrMs);
}
/**
 * VT: ≥ 5 consecutive ventricular beats at HR > 100 bpm (PhysioNet/CinC 2015; Philips default) — by
 * the mean of their V-to-V intervals and on all of them but `maxSlowIntervals` (one extra
 * detection must not make a slow run fast) — or with ECG a VT/VF waveform: VF-filter leakage of
 * 4 s < 0.65 (processor/detectors/vt.ts, EVALUATION.md §6). When the processor derives the beats
 * from the ECG, the run's consecutive complexes must also be alike (mean correlation ≥
 * `similarityMin`, complex-similarity.ts): the simulator's ventricular complexes are one shape plus
 * its noise, so its ground truth needs no such test. The waveform rule is not waveform evidence
 * while the device's own beats march regularly as N below the rate limit through the window
 * (`firmwareRhythmVeto`, firmware-rhythm.ts): the simulator's VT/VF scenarios send V beats or none,
 * so its ground truth is the same with the veto on.
 */
export const VT = { minBeats: 5, hrAboveBpm: 100, maxSlowIntervals: 1, leakageBelow: 0.65, similarityMin: 0.3, firmwareRhythmVeto: true } as const;
/** AF: an episode of ≥ 30 s is diagnostic (ESC 2016). */
export const AFIB_MIN_EPISODE_MS = 30_000;
/** Lead-off: frames flagged leadOff for ≥ 10 s (processor/technical.ts, our choice). */
export const LEAD_OFF_MIN_MS = 10_000;
/** Low battery: below 15 % (issue 4); ends at ≥ 20 % (hysteresis, processor/technical.ts). */
export const LOW_BATTERY = { belowPct: 15, clearAtPct: 20 } as const;
/** Signal loss: a streaming device silent for 10 s of wall-clock time (issue 4; arrival based). */
export const SIGNAL_LOSS_SILENCE_MS = 10_000;

/** RR above this is HR < 40 bpm. */
export const EXTREME_BRADY_RR_MS = 60_000 / EXTREME_BRADY.hrBelowBpm;
/** RR above this is HR < 50 bpm. */
export const BRADY_RR_MS = 60_000 / BRADY.limitBpm;
/** RR below this is HR > 140 bpm (≈ 428.6 ms). */
export const EXTREME_TACHY_RR_MS = 60_000 / EXTREME_TACHY.hrAboveBpm;
/** RR below this is HR > 120 bpm. */
export const TACHY_RR_MS = 60_000 / TACHY.limitBpm;
