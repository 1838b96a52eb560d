/**
 * Mapping from WFDB beat annotation symbols to the firmware beat classes of the telemetry
 * contract (device-protocol.md `beats[].cls`).
 *
 * The grouping is the one of ANSI/AAMI EC57 (Testing and reporting performance results of
 * cardiac rhythm and ST segment measurement algorithms, 1998/R2008/2012, Table 1 "MIT-BIH
 * heartbeat types → AAMI heartbeat classes"), the reference used to report beat classification
 * results on the MIT-BIH databases:
 *   N (any beat not in S, V, F or Q): N normal, L/R bundle branch block, e atrial escape, j nodal escape
 *   S (supraventricular ectopic):     A atrial premature, a aberrated APC, J nodal premature, S supraventricular premature
 *   V (ventricular ectopic):          V premature ventricular contraction, E ventricular escape
 *   F (fusion):                       F fusion of ventricular and normal
 *   Q (unknown):                      / paced, f fusion of paced and normal, Q unclassifiable
 * Symbols outside the MIT-BIH Arrhythmia set that WFDB still counts as beats are placed where
 * EC57's rule puts them: `B` (bundle branch block, unspecified) and `n` (supraventricular
 * escape) are non-ectopic → N, like e and j; `r` (R-on-T PVC) is ventricular → V; `?` (learning)
 * is unclassified → Q. `!` (ventricular flutter wave, a QRS in WFDB's `isqrs` table; EC57 leaves
 * VF/flutter episodes out of beat classification) → V: a replayed ventricular flutter (mitdb 207)
 * then reaches the detectors as a fast ventricular rhythm — the `vt` alarm, which covers VF and
 * flutter — instead of as no beats at all, which would read as an asystole. Everything else
 * (rhythm `+`, noise `~`, artifact `|`, blocked P `x`, …) is not a beat and is skipped.
 */
import type { BeatClass } from '../contracts/telemetry.ts';

const SYMBOL_TO_CLASS: Readonly<Record<string, BeatClass>> = {
  N: 'N', L: 'N', R: 'N', e: 'N', j: 'N', B: 'N', n: 'N',
  A: 'S', a: 'S', J: 'S', S: 'S',
  V: 'V', E: 'V', r: 'V', '!': 'V',
  F: 'F',
  '/': 'Q', f: 'Q', Q: 'Q', '?': 'Q',
};

/** The firmware class of a WFDB beat symbol, or undefined when the annotation is not a beat. */
export function beatClassOfSymbol(symbol: string): BeatClass | undefined {
  return Object.hasOwn(SYMBOL_TO_CLASS, symbol) ? SYMBOL_TO_CLASS[symbol] : undefined;
}
