/**
 * RR interval and HRV (SDNN) Observations of an alert (fhir-and-alarms.md §1 rows 2 and 3;
 * shared/docs/fhir-examples/rr.json, hrv.json). Pure: no I/O.
 *
 * Where the intervals come from, best first:
 * 1. The ECG strip's beats (contracts/ecg-strip.ts), which carry device times: the intervals
 *    between consecutive beats from the onset on (up to the end when known). An interval counts
 *    only if every sample between its two beats was recorded (no `null`, no lead-off range): a beat
 *    missed in a gap would otherwise make one long fake interval.
 * 2. Otherwise the detector's evidence.rrMs, but only when it holds *every* qualifying interval
 *    (beatCount === rrMs.length, so none was dropped by the 32-interval cap and the intervals are
 *    contiguous). The detectors start an episode at its first qualifying beat, whose RR interval
 *    ends there (processor/detectors/limit-rate.ts run.firstMs), so the intervals span
 *    onset − rr[0] .. onset + Σ rr[1..]. Any other case sends no RR resource rather than a guessed period.
 * Lead-off or no intervals → no resource; never a made-up value (§2.5). An asystole or pause sends
 * none either: its episode is one missing interval, and a mean would mix it with what followed.
 *
 * Mean RR: MDC 147240 MDC_ECG_TIME_PD_RR_GL, category procedure, UCUM `ms`, effectivePeriod over
 * the intervals used (§1 row 2: "Period (mean)").
 *
 * SDNN: LOINC 80404-7, category procedure, UCUM `ms`, effectivePeriod = the analysis window (§1
 * row 3). Our rule, because HRV needs a defined window and normal-to-normal intervals (Task Force
 * of the ESC and NASPE, "Heart rate variability: standards of measurement…", Circulation 1996;
 * 93:1043–65: short-term analysis is specified over a stated recording length, 5 min recommended,
 * and SDNN values from windows of different length must not be compared):
 * - only from strip beats (the evidence carries no beat class, so normal-to-normal is unknown);
 * - only N–N intervals (both beats class `N`) inside the window, and at least
 *   {@link SDNN_MIN_NN_INTERVALS} of them;
 * - never for atrial fibrillation: the rhythm is not sinus, so SDNN is not HRV;
 * - the window is stated in effectivePeriod and in code.text ("ultra-short-term, N s"), since our
 *   16 s strips are far shorter than the Task Force's 5 min and must not be read as a 5-min SDNN.
 * RMSSD is not sent: there is no verified LOINC code for it (§1 row 3).
 */
import type { Alert } from '../contracts/alert.ts';
import type { EcgStrip } from '../contracts/ecg-strip.ts';
import { PROCEDURE_CATEGORY, RR_INTERVAL_CODING, SYSTEMS } from './codes.ts';
import type { Coding, Observation } from './fhir-types.ts';
import { businessIdentifier, toInstant } from './identifier.ts';

/** LOINC 80404-7 "R-R interval.standard deviation (Heart rate variability)" = SDNN, not RMSSD (§1 row 3). */
export const SDNN_CODING: Coding = { system: SYSTEMS.loinc, code: '80404-7', display: 'R-R interval.standard deviation (Heart rate variability)' };
/** Fewest N–N intervals for an SDNN (see the file comment). */
export const SDNN_MIN_NN_INTERVALS = 20;

export interface RrInterval {
  /** Device time of the beat that ends the interval, ms since epoch (undefined when only the length is known). */
  endMs?: number;
  rrMs: number;
  /** Both beats are class N (normal-to-normal). */
  normal: boolean;
}

export interface RrSeries {
  source: 'ecg-strip' | 'alert-evidence';
  intervals: RrInterval[];
  startMs: number;
  endMs: number;
}

/** Intervals between consecutive strip beats in [onset, end], each fully recorded; undefined when none. */
export function stripIntervals(strip: EcgStrip, alert: Pick<Alert, 'onset' | 'end'>): RrSeries | undefined {
  const fromMs = Date.parse(alert.onset);
  const toMs = alert.end === undefined ? Infinity : Date.parse(alert.end);
  const periodMs = 1000 / strip.fsHz;
  const missing = new Uint8Array(strip.uV.length);
  for (const [from, to] of strip.leadOff) missing.fill(1, Math.max(0, from), Math.min(strip.uV.length, to));
  strip.uV.forEach((v, i) => { if (v === null || !Number.isFinite(v)) missing[i] = 1; });
  const index = (tMs: number) => Math.floor((tMs - strip.startMs) / periodMs);
  const recorded = (aMs: number, bMs: number) => {
    const a = index(aMs);
    const b = index(bMs);
    if (a < 0 || b >= strip.uV.length) return false;
    for (let i = a; i <= b; i++) if (missing[i] === 1) return false;
    return true;
  };
  const beats = strip.beats.filter((b) => b.timeMs >= fromMs && b.timeMs <= toMs).sort((a, b) => a.timeMs - b.timeMs);
  const intervals: RrInterval[] = [];
  let startMs = Infinity;
  for (let i = 1; i < beats.length; i++) {
    const prev = beats[i - 1]!;
    const cur = beats[i]!;
    if (cur.timeMs <= prev.timeMs || !recorded(prev.timeMs, cur.timeMs)) continue;
    intervals.push({ endMs: cur.timeMs, rrMs: cur.timeMs - prev.timeMs, normal: prev.cls === 'N' && cur.cls === 'N' });
    startMs = Math.min(startMs, prev.timeMs);
  }
  if (intervals.length === 0) return undefined;
  return { source: 'ecg-strip', intervals, startMs, endMs: intervals.at(-1)!.endMs! };
}

/** The detector's intervals when they are complete (see the file comment); undefined otherwise. */
export function evidenceIntervals(alert: Pick<Alert, 'onset' | 'evidence'>): RrSeries | undefined {
  const rr = alert.evidence.rrMs;
  if (!rr || rr.length === 0 || alert.evidence.beatCount !== rr.length) return undefined;
  if (!rr.every((x) => Number.isFinite(x) && x > 0)) return undefined;
  const onsetMs = Date.parse(alert.onset);
  const afterMs = rr.slice(1).reduce((s, x) => s + x, 0);
  return { source: 'alert-evidence', intervals: rr.map((rrMs) => ({ rrMs, normal: false })), startMs: onsetMs - rr[0]!, endMs: onsetMs + afterMs };
}

/**
 * Kinds whose episode is one missing interval, not a rhythm: a mean RR "of the episode" would mix
 * the silence with the beats after it (a hospital's walkthrough saw an asystole's "mean of 3" of
 * 2482.7 ms). Their length is the alarm's own content (the rhythm Observation); no RR resource.
 */
const SILENCE_KINDS: ReadonlySet<Alert['kind']> = new Set(['asystole', 'pause']);

/** Strip first (it has times and beat classes), else complete evidence; none for a silence. */
export function alertRrSeries(alert: Alert, strip: EcgStrip | undefined): RrSeries | undefined {
  if (SILENCE_KINDS.has(alert.kind)) return undefined;
  return (strip && stripIntervals(strip, alert)) || evidenceIntervals(alert);
}

const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;
const round1 = (x: number) => Math.round(x * 10) / 10;
const ms = (value: number) => ({ value: round1(value), unit: 'ms', system: SYSTEMS.ucum, code: 'ms' });
const period = (startMs: number, endMs: number) => ({ start: new Date(startMs).toISOString(), end: new Date(endMs).toISOString() });

/** Sample standard deviation (n − 1), as SDNN is usually computed. */
export function sdnnMs(rrMs: number[]): number {
  const m = mean(rrMs);
  return Math.sqrt(rrMs.reduce((s, x) => s + (x - m) ** 2, 0) / (rrMs.length - 1));
}

interface Refs { identifierSystem: string; patientReference: string; deviceReference: string }

function base(alert: Alert, code: string, o: Refs): Pick<Observation, 'resourceType' | 'identifier' | 'status' | 'category' | 'subject' | 'device'> {
  return {
    resourceType: 'Observation',
    // Keyed on the alert (device, code, kind, onset), not on the period: the period depends on whether
    // the strip arrived in time, and a re-delivery must find the first one.
    identifier: [businessIdentifier(o.identifierSystem, alert.deviceId, code, alert.kind, toInstant(alert.onset, 'alert.onset'))],
    status: 'final',
    category: [{ coding: [{ ...PROCEDURE_CATEGORY }] }],
    subject: { reference: o.patientReference },
    device: { reference: o.deviceReference },
  };
}

/** Mean RR over the series (§1 row 2). */
export function meanRrObservation(alert: Alert, series: RrSeries, o: Refs): Observation {
  return {
    ...base(alert, RR_INTERVAL_CODING.code, o),
    code: { coding: [{ ...RR_INTERVAL_CODING }], text: `R-R interval, mean of ${series.intervals.length} (${series.source === 'ecg-strip' ? 'ECG strip' : 'detector'})` },
    effectivePeriod: period(series.startMs, series.endMs),
    valueQuantity: ms(mean(series.intervals.map((i) => i.rrMs))),
  };
}

/** SDNN over the N–N intervals of the series, or undefined when the rule of the file comment is not met. */
export function sdnnObservation(alert: Alert, series: RrSeries, o: Refs): Observation | undefined {
  if (series.source !== 'ecg-strip' || alert.kind === 'afib') return undefined;
  const nn = series.intervals.filter((i) => i.normal);
  if (nn.length < SDNN_MIN_NN_INTERVALS) return undefined;
  const windowS = Math.round((series.endMs - series.startMs) / 1000);
  return {
    ...base(alert, SDNN_CODING.code, o),
    code: { coding: [{ ...SDNN_CODING }], text: `HRV SDNN, ultra-short-term, ${nn.length} N-N intervals over ${windowS} s` },
    effectivePeriod: period(series.startMs, series.endMs),
    valueQuantity: ms(sdnnMs(nn.map((i) => i.rrMs))),
  };
}
