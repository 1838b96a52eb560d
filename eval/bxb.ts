/**
 * Beat-by-beat comparison of detected beats with reference beats, after WFDB `bxb` (EC57):
 * a detected beat matches a reference beat within 150 ms; the first 5 minutes are a learning
 * period and not scored. QRS sensitivity Se = TP / (TP + FN), positive predictivity
 * +P = TP / (TP + FP); for ventricular ectopic beats (VEB) the same over the matched beats
 * (reference V vs detected V), as bxb's VEB table. Source: fhir-and-alarms.md §6,
 * https://physionet.org/physiotools/wag/bxb-1.htm
 *
 * Ventricular flutter/fibrillation: WFDB `bxb` (app/bxb.c, after EC57) skips the reference
 * annotations between a VFON `[` and a VFOFF `]` annotation and does not count the test beats in
 * that stretch (they get the pseudo-label `*`, which no table counts): there are no QRS complexes
 * to detect in VF, so neither a miss nor an extra beat is scored there. {@link bxb} does the same
 * with `excluded` ({@link vfEpisodes} reads them from the reference annotations). bxb's
 * "shutdown" (reference NOISE annotations marking both signals unreadable) is not excluded: bxb
 * still counts extra beats there as false positives (its `X` row enters Q+P), and so do we.
 */
import type { BeatClass } from '../contracts/telemetry.ts';
import type { WfdbAnnotation } from '../device-sim/wfdb-annotations.ts';

export const BXB_MATCH_WINDOW_MS = 150;

export interface BxbBeat {
  timeMs: number;
  cls: BeatClass;
}

export interface BxbCounts {
  /** QRS detection. */
  tp: number;
  fn: number;
  fp: number;
  /** Ventricular ectopic beats among matched + unmatched beats (bxb VEB). */
  vTp: number;
  vFn: number;
  vFp: number;
}

/** A stretch of a record, ms from sample 0 (both ends included, as bxb's VF test). */
export interface ExcludedInterval {
  fromMs: number;
  toMs: number;
}

/** WFDB annotation codes VFON `[`, VFOFF `]` and RHYTHM `+` (ecgcodes.h). */
const VFON = 32;
const VFOFF = 33;
const RHYTHM = 28;
/** Rhythm labels of ventricular flutter/fibrillation (`(VFL`; `(VF`, `(VFIB` in other databases). */
const VF_RHYTHM = /^\(VF(L|IB)?$/;

/**
 * Ventricular flutter/fibrillation episodes of a reference annotation list: each VFON up to the
 * next VFOFF, as bxb reads them (an unterminated one runs to `endMs`). A record that labels VF
 * only by its rhythm (`+` with aux `(VFL`, up to the next rhythm label) gets those episodes too —
 * bxb would score them; where both marks exist they cover the same stretch.
 */
export function vfEpisodes(annotations: readonly WfdbAnnotation[], fsHz: number, endMs: number): ExcludedInterval[] {
  const out: ExcludedInterval[] = [];
  let on: number | undefined;
  let rhythmOn: number | undefined;
  for (const a of annotations) {
    const tMs = (a.sample * 1000) / fsHz;
    if (a.code === VFON && on === undefined) on = tMs;
    else if (a.code === VFOFF && on !== undefined) { out.push({ fromMs: on, toMs: tMs }); on = undefined; }
    else if (a.code === RHYTHM) {
      const vf = VF_RHYTHM.test(a.aux ?? '');
      if (!vf && rhythmOn !== undefined) { out.push({ fromMs: rhythmOn, toMs: tMs }); rhythmOn = undefined; }
      else if (vf && rhythmOn === undefined) rhythmOn = tMs;
    }
  }
  if (on !== undefined) out.push({ fromMs: on, toMs: endMs });
  if (rhythmOn !== undefined) out.push({ fromMs: rhythmOn, toMs: endMs });
  return out.sort((x, y) => x.fromMs - y.fromMs);
}

export const emptyBxb = (): BxbCounts => ({ tp: 0, fn: 0, fp: 0, vTp: 0, vFn: 0, vFp: 0 });

/**
 * Compares two time-ordered beat lists from `fromMs` on. Each reference beat takes the nearest
 * unmatched detected beat within the window (a greedy two-pointer pass, as bxb's). Beats of
 * either list inside an `excluded` interval (VF episodes) are not scored.
 */
export function bxb(reference: readonly BxbBeat[], detected: readonly BxbBeat[], fromMs: number, windowMs = BXB_MATCH_WINDOW_MS, excluded: readonly ExcludedInterval[] = []): BxbCounts {
  const c = emptyBxb();
  const scored = (b: BxbBeat) => b.timeMs >= fromMs && !excluded.some((e) => b.timeMs >= e.fromMs && b.timeMs <= e.toMs);
  const ref = reference.filter(scored);
  const det = detected.filter(scored);
  let j = 0;
  for (const r of ref) {
    // Detected beats too early for this reference beat are false positives.
    while (j < det.length && det[j]!.timeMs < r.timeMs - windowMs) { countFp(c, det[j]!); j++; }
    // Take the nearest within the window; a later detected beat that is closer to the next reference stays for it.
    if (j < det.length && Math.abs(det[j]!.timeMs - r.timeMs) <= windowMs) {
      let k = j;
      if (k + 1 < det.length && Math.abs(det[k + 1]!.timeMs - r.timeMs) < Math.abs(det[k]!.timeMs - r.timeMs)) { countFp(c, det[k]!); k++; }
      const d = det[k]!;
      c.tp++;
      if (r.cls === 'V' && d.cls === 'V') c.vTp++;
      else if (r.cls === 'V') c.vFn++;
      else if (d.cls === 'V') c.vFp++;
      j = k + 1;
    } else {
      c.fn++;
      if (r.cls === 'V') c.vFn++;
    }
  }
  for (; j < det.length; j++) countFp(c, det[j]!);
  return c;
}

function countFp(c: BxbCounts, d: BxbBeat): void {
  c.fp++;
  if (d.cls === 'V') c.vFp++;
}

export function sumBxb(list: readonly BxbCounts[]): BxbCounts {
  const t = emptyBxb();
  for (const c of list) for (const k of Object.keys(t) as (keyof BxbCounts)[]) t[k] += c[k];
  return t;
}

export const se = (c: BxbCounts) => (c.tp + c.fn > 0 ? (100 * c.tp) / (c.tp + c.fn) : undefined);
export const pp = (c: BxbCounts) => (c.tp + c.fp > 0 ? (100 * c.tp) / (c.tp + c.fp) : undefined);
export const vSe = (c: BxbCounts) => (c.vTp + c.vFn > 0 ? (100 * c.vTp) / (c.vTp + c.vFn) : undefined);
export const vPp = (c: BxbCounts) => (c.vTp + c.vFp > 0 ? (100 * c.vTp) / (c.vTp + c.vFp) : undefined);
