/**
 * Beat-by-beat comparison of detected beats with reference beats, after WFDB `bxb` (EC57):
 * a detected beat matches a reference beat within 150 ms; the first 5 minutes are a learning
 * period and not scored. QRS sensitivity Se = TP / (TP + FN), positive predictivity
 * +P = TP / (TP + FP); for ventricular ectopic beats (VEB) the same over the matched beats
 * (reference V vs detected V), as bxb's VEB table. Source: fhir-and-alarms.md §6,
 * https://physionet.org/physiotools/wag/bxb-1.htm
 */
import type { BeatClass } from '../contracts/telemetry.ts';

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

export const emptyBxb = (): BxbCounts => ({ tp: 0, fn: 0, fp: 0, vTp: 0, vFn: 0, vFp: 0 });

/**
 * Compares two time-ordered beat lists from `fromMs` on. Each reference beat takes the nearest
 * unmatched detected beat within the window (a greedy two-pointer pass, as bxb's).
 */
export function bxb(reference: readonly BxbBeat[], detected: readonly BxbBeat[], fromMs: number, windowMs = BXB_MATCH_WINDOW_MS): BxbCounts {
  const c = emptyBxb();
  const ref = reference.filter((b) => b.timeMs >= fromMs);
  const det = detected.filter((b) => b.timeMs >= fromMs);
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
