/**
 * The production detector set of one patient, built from that patient's alarm criteria
 * (contracts/criteria.ts): one physiological detector per enabled kind (processor/detectors/)
 * and the frame-level technical monitors (technical.ts). Every parameter the criteria allow to
 * change is passed through; the rest keep the detectors' documented defaults.
 */
import type { AlertKind } from '../contracts/alert.ts';
import { DEFAULT_ALARM_CRITERIA, type AlarmCriteria } from '../contracts/criteria.ts';
import { createAfibDetector } from './detectors/afib.ts';
import { AsystoleDetector } from './detectors/asystole.ts';
import { BRADY_DEFAULTS, createBradyDetector } from './detectors/brady.ts';
import type { Detector } from './detectors/detector.ts';
import type { LimitRateParams } from './detectors/limit-rate.ts';
import { createExtremeBradyDetector } from './detectors/extreme-brady.ts';
import { createExtremeTachyDetector } from './detectors/extreme-tachy.ts';
import { createPauseDetector } from './detectors/pause.ts';
import { createTachyDetector, TACHY_DEFAULTS } from './detectors/tachy.ts';
import { createVtDetector } from './detectors/vt.ts';
import { LeadOffMonitor, LowBatteryMonitor, NoRhythmMonitor, type FrameMonitor } from './technical.ts';

type PhysiologicalKind = 'asystole' | 'pause' | 'extreme_brady' | 'brady' | 'extreme_tachy' | 'tachy' | 'vt' | 'afib';

/**
 * A limit alarm's delay from the criteria; with a delay, the 30 s sudden-onset shortcut of the
 * defaults applies too (never longer than the delay itself), and where the defaults have an
 * off-delay (brady) the same delay is the off-delay of the episode's end (limit-rate.ts
 * `recoveryMs`); 0 = the consecutive-beat rule alone.
 */
const sustained = (defaults: LimitRateParams, sustainMs: number) => (sustainMs > 0 ? { sustainMs, recoveryMs: defaults.recoveryMs > 0 ? sustainMs : 0, suddenChange: defaults.suddenChange, suddenSustainMs: defaults.suddenSustainMs } : { sustainMs: 0, recoveryMs: 0, suddenChange: 0, suddenSustainMs: 0 });

const BUILDERS: Record<PhysiologicalKind, (c: AlarmCriteria, kinds: readonly AlertKind[]) => Detector> = {
  asystole: (c) => new AsystoleDetector({ minGapMs: c.asystole.minGapMs }),
  // One alarm per silence: a silence long enough for the asystole (always on, same data rules) is not also a pause (pause.ts).
  pause: (c, kinds) => createPauseDetector({ minRrMs: c.pause.minRrMs, ...(kinds.includes('asystole') && c.asystole.enabled ? { yieldsToGapMs: c.asystole.minGapMs } : {}) }),
  extreme_brady: (c) => createExtremeBradyDetector({ hrBelowBpm: c.extreme_brady.hrBelowBpm, consecutiveBeats: c.extreme_brady.consecutiveBeats, hysteresisBpm: c.extreme_brady.hysteresisBpm, recoveryMs: c.extreme_brady.recoveryMs }),
  brady: (c) => createBradyDetector({ limitBpm: c.brady.limitBpm, consecutiveBeats: c.brady.consecutiveBeats, ...sustained(BRADY_DEFAULTS, c.brady.sustainMs) }),
  extreme_tachy: (c) => createExtremeTachyDetector({ hrAboveBpm: c.extreme_tachy.hrAboveBpm, consecutiveBeats: c.extreme_tachy.consecutiveBeats, hysteresisBpm: c.extreme_tachy.hysteresisBpm, recoveryMs: c.extreme_tachy.recoveryMs }),
  tachy: (c) => createTachyDetector({ limitBpm: c.tachy.limitBpm, consecutiveBeats: c.tachy.consecutiveBeats, ...sustained(TACHY_DEFAULTS, c.tachy.sustainMs) }),
  vt: (c) => createVtDetector({ minBeats: c.vt.minBeats, hrAboveBpm: c.vt.hrAboveBpm, leakageBelow: c.vt.leakageBelow, similarityMin: c.vt.similarityMin }),
  afib: (c) => createAfibDetector({ minEpisodeMs: c.afib.minEpisodeMs, offDelayMs: c.afib.offDelayMs }),
};

export const PHYSIOLOGICAL_KINDS = Object.keys(BUILDERS) as PhysiologicalKind[];

/** Physiological detectors for the enabled kinds of `criteria` (default: fhir-and-alarms.md §5). */
export function detectorsForCriteria(criteria: AlarmCriteria = DEFAULT_ALARM_CRITERIA, kinds: readonly AlertKind[] = PHYSIOLOGICAL_KINDS): Detector[] {
  const out: Detector[] = [];
  for (const kind of PHYSIOLOGICAL_KINDS) {
    if (kinds.includes(kind) && criteria[kind].enabled) out.push(BUILDERS[kind](criteria, kinds));
  }
  return out;
}

/** Technical frame monitors for the enabled kinds of `criteria`. */
export function monitorsForCriteria(criteria: AlarmCriteria = DEFAULT_ALARM_CRITERIA): FrameMonitor[] {
  const out: FrameMonitor[] = [];
  if (criteria.lead_off.enabled) out.push(new LeadOffMonitor({ minDurationMs: criteria.lead_off.minDurationMs }));
  if (criteria.low_battery.enabled) out.push(new LowBatteryMonitor({ belowPct: criteria.low_battery.belowPct, clearAtPct: criteria.low_battery.clearAtPct }));
  if (criteria.signal_loss.enabled) out.push(new NoRhythmMonitor({ silenceMs: criteria.signal_loss.silenceMs }));
  return out;
}

/**
 * Kinds whose configuration differs between two criteria versions (enabled flag or any
 * parameter): only their detectors are rebuilt when a new version takes effect.
 */
export function changedKinds(before: AlarmCriteria, after: AlarmCriteria): AlertKind[] {
  const differs = (k: AlertKind) => JSON.stringify(before[k as keyof AlarmCriteria]) !== JSON.stringify(after[k as keyof AlarmCriteria]);
  // The pause detector also depends on the asystole's length (it yields to it).
  return (Object.keys(after) as AlertKind[]).filter((k) => differs(k) || (k === 'pause' && differs('asystole')));
}
