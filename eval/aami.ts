/**
 * Mapping of MIT-BIH beat annotation symbols to the five AAMI beat classes the device firmware
 * reports (contracts/telemetry.ts BEAT_CLASSES). Source: ANSI/AAMI EC57 beat classes as used by
 * WFDB `bxb` (N: normal and bundle-branch-block and escape beats; S: supraventricular ectopic;
 * V: ventricular ectopic; F: fusion of ventricular and normal; Q: paced, paced fusion,
 * unclassifiable).
 */
import type { BeatClass } from '../contracts/telemetry.ts';

const AAMI_CLASS: Readonly<Record<string, BeatClass>> = {
  N: 'N', L: 'N', R: 'N', B: 'N', e: 'N', j: 'N', n: 'N',
  A: 'S', a: 'S', J: 'S', S: 'S',
  V: 'V', E: 'V', r: 'V',
  F: 'F',
  '/': 'Q', f: 'Q', Q: 'Q', '?': 'Q',
};

/** AAMI class of a beat annotation symbol; unknown beat symbols are `Q` (unclassifiable). */
export function aamiClass(symbol: string): BeatClass {
  return AAMI_CLASS[symbol] ?? 'Q';
}
