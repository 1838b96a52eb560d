/**
 * Per-patient alarm criteria: which alarms are on and their thresholds, set by a clinician on the
 * patient's care team (or an admin) through `PUT /v1/patients/{id}/criteria`, versioned, and
 * carried to the processor on the compacted stream {@link STREAMS.criteria}.
 *
 * Defaults and ranges come from fhir-and-alarms.md §5 (sources per field below); the defaults
 * equal the detector defaults in processor/detectors/*.ts (a test checks that).
 *
 * Record on the stream (key = patient id): the patient's whole recent history of versions, so a
 * compacted stream (one record per key) still tells the processor which version applies to a
 * frame whose device time lies before the newest version's `effectiveFrom`.
 */
import { z } from 'zod';
import type { AlertKind } from './alert.ts';

/** Kinds that cannot be switched off: the life-threatening rhythms and "no data" (see below). */
export const ALWAYS_ON_KINDS: ReadonlySet<AlertKind> = new Set(['asystole', 'extreme_brady', 'extreme_tachy', 'vt', 'signal_loss']);

/** Versions kept in one stream record (older ones are dropped; the audit trail keeps them all). */
export const MAX_CRITERIA_VERSIONS = 20;

const int = (min: number, max: number) => z.number().int().min(min).max(max);

/**
 * Bounded ranges. Each line: default, allowed range, source.
 * - asystole: no QRS ≥ 4 s (PhysioNet/CinC 2015); 3 s is used by vendor telemetry (Data Critical
 *   PatientNet) → 3–6 s.
 * - pause: RR ≥ 3 s, configurable 2.5–4 s (fhir-and-alarms.md §5, vendor convention).
 * - extreme_brady: HR < 40 bpm for 5 beats (PhysioNet/CinC 2015). Range 30–45 bpm, 3–10 beats:
 *   our bounds around the published value (unverified as a standard).
 * - brady: HR < 50 default (unverified), ZOLL ships 30 → limit 30–60 bpm.
 * - extreme_tachy: HR > 140 bpm for 17 beats (PhysioNet/CinC 2015). Range 130–220 bpm, 5–30 beats
 *   (our bounds; must stay above the tachy limit, checked below).
 * - extreme_brady/extreme_tachy hysteresisBpm, recoveryMs (the afdb 04908 finding): the end hysteresis
 *   (processor/detectors/consecutive-rate.ts `RateRecovery`, extreme-tachy.ts): the episode ends
 *   once the monitor's averaged HR is back past the limit by hysteresisBpm (default 5 / 10) for
 *   recoveryMs (default 30 s); the onset is never delayed. Our numbers (no standard gives an
 *   alarm-off hysteresis) → 0–20 bpm, 0–120 s; recoveryMs 0 is the PhysioNet rule (the episode ends
 *   at the first beat back inside the limit, as before). Criteria stored before them get the defaults.
 * - tachy: 120–150 configurable (EDAN, ZOLL 150) → limit 100–180 bpm.
 * - brady/tachy sustainMs: alarm delay of the limit alarms against nuisance alarms (issue 12;
 *   processor/detectors/brady.ts, tachy.ts): default 120 s / 5 min, 30 s after a sudden onset.
 *   Basis: alarm delays for non-lethal conditions and patient-specific limits are alarm-fatigue
 *   measures of the AHA 2017 practice standards (Sandau et al., Circulation 2017, alarm
 *   management); the numbers are ours, not fitted to the evaluated records (EVALUATION.md §3).
 *   A clinician sets 0 for the consecutive-beat rule alone (no delay, no sudden-onset test)
 *   → 0–10 / 0–15 min.
 * - vt: ≥ 5 V beats at > 100 bpm (PhysioNet, Philips) — by their mean V–V interval and on all
 *   intervals but one (processor/detectors/vt.ts); the clinical definition starts at 3 beats
 *   (2017 AHA/ACC/HRS) → 3–10 beats, 100–150 bpm. leakageBelow: VT/VF waveform evidence from the
 *   ECG, VF-filter leakage of 4 s < 0.65 (Kuo & Dillman 1978, Amann et al. 2005; threshold chosen by
 *   5-fold CV on the CinC 2015 VT alarms, EVALUATION.md §6) → 0–0.75 (0 = beats only).
 *   similarityMin: beats derived from the ECG (ECG-only devices): a run of V beats counts only when
 *   its consecutive complexes are alike (mean correlation ≥ 0.3; noise read as V beats is not;
 *   firmware beats are not checked; processor/detectors/complex-similarity.ts, EVALUATION.md §6)
 *   → 0–0.9 (0 = not checked).
 * - afib: episode ≥ 30 s is diagnostic (ESC 2016) → 30 s–5 min (never shorter than 30 s).
 *   offDelayMs: the alarm ends once no AF onset has come for this long after the last AF beat (an
 *   onset within it continues the same alarm; the product's 2-min brady off-delay, afib.ts) → 0–10 min
 *   (0 = each paroxysm its own alarm).
 * - signal_loss: a streaming device silent for 10 s (issue 4) → 5–60 s.
 * - lead_off: frames flagged lead-off for ≥ 10 s (our choice, see processor/technical.ts) → 0–60 s.
 * - low_battery: < 15 % (issue 4), ends at ≥ 20 % (hysteresis, our choice) → 5–30 %, clear 10–50 %.
 */
const alarmCriteriaShape = {
  asystole: z.strictObject({ enabled: z.boolean().default(true), minGapMs: int(3000, 6000).default(4000) }).prefault({}),
  pause: z.strictObject({ enabled: z.boolean().default(true), minRrMs: int(2500, 4000).default(3000) }).prefault({}),
  extreme_brady: z.strictObject({ enabled: z.boolean().default(true), hrBelowBpm: int(30, 45).default(40), consecutiveBeats: int(3, 10).default(5), hysteresisBpm: int(0, 20).default(5), recoveryMs: int(0, 120_000).default(30_000) }).prefault({}),
  brady: z.strictObject({ enabled: z.boolean().default(true), limitBpm: int(30, 60).default(50), consecutiveBeats: int(3, 20).default(5), sustainMs: int(0, 600_000).default(120_000) }).prefault({}),
  extreme_tachy: z.strictObject({ enabled: z.boolean().default(true), hrAboveBpm: int(130, 220).default(140), consecutiveBeats: int(5, 30).default(17), hysteresisBpm: int(0, 20).default(10), recoveryMs: int(0, 120_000).default(30_000) }).prefault({}),
  tachy: z.strictObject({ enabled: z.boolean().default(true), limitBpm: int(100, 180).default(120), consecutiveBeats: int(3, 20).default(5), sustainMs: int(0, 900_000).default(300_000) }).prefault({}),
  vt: z.strictObject({ enabled: z.boolean().default(true), minBeats: int(3, 10).default(5), hrAboveBpm: int(100, 150).default(100), leakageBelow: z.number().min(0).max(0.75).default(0.65), similarityMin: z.number().min(0).max(0.9).default(0.3) }).prefault({}),
  afib: z.strictObject({ enabled: z.boolean().default(true), minEpisodeMs: int(30_000, 300_000).default(30_000), offDelayMs: int(0, 600_000).default(120_000) }).prefault({}),
  signal_loss: z.strictObject({ enabled: z.boolean().default(true), silenceMs: int(5000, 60_000).default(10_000) }).prefault({}),
  lead_off: z.strictObject({ enabled: z.boolean().default(true), minDurationMs: int(0, 60_000).default(10_000) }).prefault({}),
  low_battery: z.strictObject({ enabled: z.boolean().default(true), belowPct: int(5, 30).default(15), clearAtPct: int(10, 50).default(20) }).prefault({}),
};
type AlarmCriteriaShape = typeof alarmCriteriaShape;
/** Each kind's schema, untyped by kind (to walk them). */
const kindSchemas = alarmCriteriaShape as Record<string, z.ZodPrefault<z.ZodObject>>;

/**
 * What a client may write (`PUT /v1/patients/{id}/criteria`): strict, so a misspelt field or kind
 * is a 400 naming it, never a setting silently ignored.
 */
export const alarmCriteriaSchema = z.strictObject(alarmCriteriaShape).superRefine(checkCombination);

/** Rules across fields, for writing and reading alike. */
function checkCombination(c: z.output<z.ZodObject<AlarmCriteriaShape>>, ctx: z.RefinementCtx): void {
  for (const kind of ALWAYS_ON_KINDS) {
    if (!c[kind as keyof typeof c].enabled) {
      // Monitors commonly forbid switching off lethal-arrhythmia alarms (IEC 60601-2-27 is said to
      // require it; not checked, fhir-and-alarms.md §7), and "no data" must never look like "fine".
      ctx.addIssue({ code: 'custom', path: [kind, 'enabled'], message: `${kind} cannot be switched off` });
    }
  }
  if (c.extreme_brady.hrBelowBpm >= c.brady.limitBpm) {
    ctx.addIssue({ code: 'custom', path: ['extreme_brady', 'hrBelowBpm'], message: `must be below the brady limit (${c.brady.limitBpm} bpm)` });
  }
  if (c.extreme_tachy.hrAboveBpm <= c.tachy.limitBpm) {
    ctx.addIssue({ code: 'custom', path: ['extreme_tachy', 'hrAboveBpm'], message: `must be above the tachy limit (${c.tachy.limitBpm} bpm)` });
  }
  if (c.low_battery.clearAtPct <= c.low_battery.belowPct) {
    ctx.addIssue({ code: 'custom', path: ['low_battery', 'clearAtPct'], message: `must be above belowPct (${c.low_battery.belowPct} %)` });
  }
}

/** Complete criteria of one patient (every kind present, defaults filled in). */
export type AlarmCriteria = z.output<typeof alarmCriteriaSchema>;
/** What a client may send: any subset; missing fields take the defaults (not the previous version). */
export type AlarmCriteriaInput = z.input<typeof alarmCriteriaSchema>;

/**
 * Criteria as read back from the criteria stream: the fields this version knows are validated as
 * on writing (ranges, defaults, the rules across fields); fields and kinds it does not know are
 * kept as they are (typed as the known ones only). Why: the stream is read by every version of a
 * rolling deploy, and a newer API's record carries fields an older reader has never seen
 * (`hysteresisBpm`, `recoveryMs`, `offDelayMs`, and earlier `sustainMs`, each added after the
 * schema): read strictly, the whole record was refused and the older processor went on with the
 * patient's previous criteria, or the defaults. Kept rather than dropped, so an older API that
 * republishes the patient's versions with its next change does not reset a newer field to its
 * default. The processor then drops them ({@link knownAlarmCriteria}) and says once which.
 */
export const storedAlarmCriteriaSchema = z
  .looseObject(Object.fromEntries(Object.entries(kindSchemas).map(([kind, fields]) => [kind, fields.unwrap().loose().prefault({})])) as unknown as AlarmCriteriaShape)
  .superRefine(checkCombination);

/**
 * The criteria with only the fields this version knows, and the paths of the others
 * (`extreme_tachy.someNewMs`, or a kind's name), as a reader of {@link storedAlarmCriteriaSchema} got them.
 */
export function knownAlarmCriteria(stored: AlarmCriteria): { criteria: AlarmCriteria; unknownFields: string[] } {
  const unknownFields: string[] = [];
  const criteria: Record<string, Record<string, unknown>> = {};
  for (const [kind, fields] of Object.entries(stored as unknown as Record<string, Record<string, unknown>>)) {
    const known = Object.hasOwn(kindSchemas, kind) ? kindSchemas[kind]!.unwrap().shape : undefined;
    if (!known) {
      unknownFields.push(kind);
      continue;
    }
    criteria[kind] = Object.fromEntries(Object.entries(fields).filter(([field]) => {
      if (Object.hasOwn(known, field)) return true;
      unknownFields.push(`${kind}.${field}`);
      return false;
    }));
  }
  return { criteria: criteria as unknown as AlarmCriteria, unknownFields };
}

/** The defaults of fhir-and-alarms.md §5: what applies to a patient nobody configured. */
export const DEFAULT_ALARM_CRITERIA: AlarmCriteria = Object.freeze(alarmCriteriaSchema.parse({})) as AlarmCriteria;

const isoTime = z.string().refine((s) => /^\d{4}-\d{2}-\d{2}T/.test(s) && Number.isFinite(Date.parse(s)), 'must be an ISO 8601 date-time');

export const criteriaVersionSchema = z.object({
  /** 1, 2, 3, … per patient; version 0 is the implicit defaults. */
  version: z.number().int().min(1),
  /** Device time (ISO 8601) from which the version applies to frames (frame ts ≥ effectiveFrom). */
  effectiveFrom: isoTime,
  /** Who set it (token subject) and when (wall clock, ISO 8601). */
  setBy: z.string().min(1),
  setAt: isoTime,
  reason: z.string().max(500).optional(),
  alarms: storedAlarmCriteriaSchema,
});
export type CriteriaVersion = z.output<typeof criteriaVersionSchema>;

/** How many relearns a criteria record keeps (the oldest are dropped; only the latest matters to the processor). */
export const MAX_RELEARNS = 20;

/**
 * The care team asked for the patient's beat shapes to be learned afresh (POST
 * /v1/patients/{id}/relearn; bedside monitors' "relearn arrhythmia"): the processor forgets the
 * shapes it learned from the ECG at the first frame that ends after `at` (device time).
 */
export const relearnSchema = z.object({
  at: isoTime,
  /** Who asked (token subject). */
  by: z.string().min(1),
  reason: z.string().max(500).optional(),
});
export type Relearn = z.output<typeof relearnSchema>;

/** The value on STREAMS.criteria, keyed by patient id. */
export const criteriaRecordSchema = z.object({
  schema: z.literal('pb.criteria.v1'),
  patientId: z.string().min(1),
  /** Ascending by version, at most MAX_CRITERIA_VERSIONS. */
  versions: z.array(criteriaVersionSchema).max(MAX_CRITERIA_VERSIONS),
  /** Ascending by `at`, at most MAX_RELEARNS; absent when nobody asked for one. */
  relearns: z.array(relearnSchema).max(MAX_RELEARNS).optional(),
  /**
   * The write that published this record, and the write whose record it was built on (absent for a
   * patient's first record, and in records of earlier versions). A writer that finds its record
   * replaced one it was not built on — another API instance wrote the patient at the same moment —
   * publishes the two merged (dashboard-api/routes-criteria.ts). Readers need neither.
   */
  writeId: z.string().max(64).optional(),
  basedOn: z.string().max(64).optional(),
});
export type CriteriaRecord = z.output<typeof criteriaRecordSchema>;

/** The implicit version 0 (defaults, effective since forever). */
export const DEFAULT_CRITERIA_VERSION: CriteriaVersion = Object.freeze({
  version: 0,
  effectiveFrom: new Date(0).toISOString(),
  setBy: 'pulsebridge-defaults',
  setAt: new Date(0).toISOString(),
  alarms: DEFAULT_ALARM_CRITERIA,
}) as CriteriaVersion;

/**
 * The version that applies to a frame starting at `tsMs` (device time): among the versions whose
 * `effectiveFrom` ≤ tsMs, the one with the highest version number (the newest decision wins once
 * it is effective); the defaults when none is.
 */
export function criteriaAt(versions: readonly CriteriaVersion[], tsMs: number): CriteriaVersion {
  let best: CriteriaVersion = DEFAULT_CRITERIA_VERSION;
  for (const v of versions) {
    if (Date.parse(v.effectiveFrom) <= tsMs && v.version > best.version) best = v;
  }
  return best;
}

/** The newest version (what the API shows as "current"), the defaults when there is none. */
export function latestCriteria(versions: readonly CriteriaVersion[]): CriteriaVersion {
  return versions.reduce<CriteriaVersion>((best, v) => (v.version > best.version ? v : best), DEFAULT_CRITERIA_VERSION);
}

/**
 * Device time of the latest relearn at or before `tsMs`, -Infinity when there is none: a stream
 * relearns when this moves on (processor/stream-runtime.ts). The latest time, not a count, so
 * dropping the oldest relearns from the record changes nothing.
 */
export function latestRelearnAt(relearns: readonly Relearn[] | undefined, tsMs: number): number {
  let latest = -Infinity;
  for (const r of relearns ?? []) {
    const at = Date.parse(r.at);
    if (at <= tsMs && at > latest) latest = at;
  }
  return latest;
}
