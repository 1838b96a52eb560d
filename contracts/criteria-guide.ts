/**
 * What each alarm criterion means, in the clinician's words, with its unit, allowed range and
 * default — for whoever shows the criteria to a person (the central station's criteria form reads
 * it from `GET /v1/patients/{id}/criteria`, `fields`). The range and the default are read from
 * {@link alarmCriteriaSchema} itself, so they cannot drift from what the API accepts; only the
 * wording lives here (a test checks that every field of the schema has it).
 */
import { z } from 'zod';
import { alarmCriteriaSchema, type AlarmCriteria } from './criteria.ts';

/** The unit a criterion is stored in (the API's and the stream's); a page may show ms as seconds. */
export type CriterionUnit = 'ms' | 'bpm' | 'beats' | '%' | 'ratio';

export interface CriterionGuide {
  /** What the number is, read in front of it: "heart rate below" [50] bpm. */
  label: string;
  unit: CriterionUnit;
  min: number;
  max: number;
  default: number;
  /** One sentence on what changing it does (shown as help), where the label alone is not enough. */
  help?: string;
}

type Kind = keyof AlarmCriteria;
type Wording = Omit<CriterionGuide, 'min' | 'max' | 'default'>;

/** The wording of each numeric field, kind by kind (`enabled` is the row's checkbox). */
const WORDING: { [K in Kind]: { [F in Exclude<keyof AlarmCriteria[K], 'enabled'>]: Wording } } = {
  asystole: { minGapMs: { label: 'no QRS for', unit: 'ms' } },
  pause: { minRrMs: { label: 'RR interval of at least', unit: 'ms' } },
  extreme_brady: {
    hrBelowBpm: { label: 'heart rate below', unit: 'bpm' },
    consecutiveBeats: { label: 'for', unit: 'beats', help: 'Consecutive beats each below the limit.' },
    hysteresisBpm: { label: 'ends when the rate is above the limit by', unit: 'bpm', help: 'The averaged heart rate must come back this far above the limit before the alarm can end; the alarm still sounds at once.' },
    recoveryMs: { label: 'for at least', unit: 'ms', help: 'The averaged rate must stay recovered this long before the alarm ends, so a rate hovering at the limit is one alarm; 0 ends it at the first beat back over the limit.' },
  },
  brady: {
    limitBpm: { label: 'heart rate below', unit: 'bpm' },
    consecutiveBeats: { label: 'for', unit: 'beats', help: 'Consecutive beats each below the limit.' },
    sustainMs: { label: 'alarm delay', unit: 'ms', help: 'The low rate must last this long before the alarm sounds (30 s after a sudden drop); 0 alarms at once.' },
  },
  extreme_tachy: {
    hrAboveBpm: { label: 'heart rate above', unit: 'bpm' },
    consecutiveBeats: { label: 'for', unit: 'beats', help: 'Consecutive beats each above the limit.' },
    hysteresisBpm: { label: 'ends when the rate is below the limit by', unit: 'bpm', help: 'The averaged heart rate must come back this far below the limit before the alarm can end; the alarm still sounds at once.' },
    recoveryMs: { label: 'for at least', unit: 'ms', help: 'The averaged rate must stay recovered this long before the alarm ends, so a rate hovering at the limit is one alarm; 0 ends it at the first beat back under the limit.' },
  },
  tachy: {
    limitBpm: { label: 'heart rate above', unit: 'bpm' },
    consecutiveBeats: { label: 'for', unit: 'beats', help: 'Consecutive beats each above the limit.' },
    sustainMs: { label: 'alarm delay', unit: 'ms', help: 'The high rate must last this long before the alarm sounds (30 s after a sudden rise); 0 alarms at once.' },
  },
  vt: {
    minBeats: { label: 'run of at least', unit: 'beats', help: 'Consecutive ventricular beats.' },
    hrAboveBpm: { label: 'at a rate above', unit: 'bpm' },
    leakageBelow: { label: 'VT/VF waveform: VF-filter leakage below', unit: 'ratio', help: 'With ECG: a fast ventricular waveform alarms even when its beats cannot be counted. Lower raises fewer such alarms in noise but can miss VT; 0 counts beats only.' },
    similarityMin: { label: 'ECG-derived runs: complexes alike at least', unit: 'ratio', help: 'Devices without firmware beats: a run counts only when its complexes correlate this well (noise read as beats does not). Higher raises fewer alarms in noise but can miss VT; 0 does not check.' },
  },
  afib: {
    minEpisodeMs: { label: 'episode of at least', unit: 'ms' },
    offDelayMs: { label: 'ends after', unit: 'ms', help: 'The alarm ends once the rhythm has stayed out of AF this long after the last AF beat; AF again within it continues the same alarm (paroxysms with short sinus breaks are one alarm). The end is dated at the last AF beat. 0 gives each paroxysm its own alarm.' },
  },
  signal_loss: { silenceMs: { label: 'no data for', unit: 'ms' } },
  lead_off: { minDurationMs: { label: 'electrodes off for', unit: 'ms' } },
  low_battery: {
    belowPct: { label: 'battery below', unit: '%' },
    clearAtPct: { label: 'ends at', unit: '%', help: 'The alarm ends when the battery is back at this level.' },
  },
};

/** The number inside a field's schema: `.default()` around a number with `.min()`/`.max()`. */
function numberOf(field: z.ZodType): z.ZodNumber {
  let t: z.ZodType = field;
  while (t instanceof z.ZodDefault || t instanceof z.ZodPrefault) t = t.unwrap() as z.ZodType;
  if (!(t instanceof z.ZodNumber)) throw new Error('criteria-guide: a criterion that is not a number');
  return t;
}

/** Every numeric criterion of every kind: wording, unit, range and default. */
export function criteriaGuide(): { [K in Kind]: Record<string, CriterionGuide> } {
  const guide = {} as { [K in Kind]: Record<string, CriterionGuide> };
  for (const [kind, kindSchema] of Object.entries(alarmCriteriaSchema.shape) as [Kind, z.ZodPrefault<z.ZodObject>][]) {
    const fields: Record<string, CriterionGuide> = {};
    const defaults = alarmCriteriaSchema.parse({})[kind] as Record<string, unknown>;
    for (const [name, fieldSchema] of Object.entries(kindSchema.unwrap().shape)) {
      if (name === 'enabled') continue;
      const wording = (WORDING[kind] as Record<string, Wording | undefined>)[name];
      if (!wording) throw new Error(`criteria-guide: no wording for ${kind}.${name}`);
      const n = numberOf(fieldSchema as z.ZodType);
      fields[name] = { ...wording, min: n.minValue ?? -Infinity, max: n.maxValue ?? Infinity, default: defaults[name] as number };
    }
    guide[kind] = fields;
  }
  return guide;
}

/** Built once: the schema does not change while a process runs. */
export const CRITERIA_GUIDE = criteriaGuide();
