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

/**
 * A detector's whole state from a graceful hand-over (Detector.handoverState), held until the
 * first input: taken up (`takeUp`) when that input follows what the predecessor saw, so the
 * successor goes on exactly; dropped when it is re-delivered instead (a batch the predecessor had
 * not committed), and then the regular state the same record gave the detector first stands, as at
 * a restart, whose skipping of counted beats keeps them from being counted twice. Used by the VT,
 * limit-rate, consecutive-rate and silence detectors.
 */
export class HeldHandover<T extends { seenUntilMs?: number | undefined }> {
  #held: T | undefined;
  readonly #takeUp: (state: T) => void;

  constructor(takeUp: (state: T) => void) {
    this.#takeUp = takeUp;
  }

  hold(state: T): void {
    this.#held = state;
  }

  /** The state not yet taken up (a hand-over written meanwhile carries it on as it came). */
  get held(): T | undefined {
    return this.#held;
  }

  /**
   * The first input is at device time `atMs` (a beat, a time step, a hole): new when not before
   * what the predecessor saw. Whether a held state was taken up now.
   */
  inputAt(atMs: number): boolean {
    return this.settle(atMs >= (this.#held?.seenUntilMs ?? -Infinity));
  }

  settle(isNew: boolean): boolean {
    const held = this.#held;
    if (!held) return false;
    this.#held = undefined;
    if (isNew) this.#takeUp(held);
    return isNew;
  }
}

/** `{ [key]: x }` when `x` is a finite number, else `{}`: a hand-over state leaves out times not yet known (±∞, NaN do not survive JSON). */
export function finiteEntry(key: string, x: number | undefined): Record<string, number> {
  return x !== undefined && Number.isFinite(x) ? { [key]: x } : {};
}
