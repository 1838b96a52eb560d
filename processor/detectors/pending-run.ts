/**
 * A run of beats counted towards an alarm at a restart (format 1): the pending state of the
 * "N consecutive beats" criteria — extreme bradycardia and tachycardia (consecutive-rate.ts) and
 * VT (vt.ts). A fresh detector takes it over at the first beat after what its predecessor saw.
 */
import type { PendingState } from './detector.ts';

export interface PendingBeatRun extends PendingState {
  v: 1;
  /** The run's beats so far (R-peak times and their RR), oldest first. */
  beats: { timeMs: number; rrMs: number }[];
  /** Device time up to which the predecessor saw the stream: beats before it are in `beats` or were not in the run. */
  seenUntilMs: number;
}

/** The run in a state from the changelog; undefined for another format or a malformed one. */
export function parsePendingBeatRun(state: PendingState): PendingBeatRun | undefined {
  const s = state as Partial<PendingBeatRun>;
  if (s.v !== 1 || !Array.isArray(s.beats) || s.beats.length === 0 || typeof s.seenUntilMs !== 'number') return undefined;
  if (!s.beats.every((b) => typeof b?.timeMs === 'number' && typeof b.rrMs === 'number')) return undefined;
  return s as PendingBeatRun;
}

/**
 * Whether a beat was seen by the predecessor whose run was taken over. A beat lies before the end
 * of its frame, so one at the predecessor's last frame end is new.
 */
export const seenBefore = (run: PendingBeatRun, beatMs: number) => beatMs < run.seenUntilMs;
