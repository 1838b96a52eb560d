/**
 * The device's own beats of the last seconds, and whether they show a regular normal rhythm
 * marching through a window of ECG: the vt detector's firmware-rhythm veto on its waveform rule
 * (vt.ts file comment, "Firmware rhythm"; cardiologist walk, finding 8a).
 *
 * Why: the waveform rule (VF-filter leakage, vf-leakage.ts) reads one lead. Motion artefact — tooth
 * brushing, tremor, a scratched electrode — can make that lead a 2–10 Hz oscillation for seconds,
 * and the leakage then cannot tell it from ventricular flutter or VF. A cardiologist tells them
 * apart by the patient's own QRS complexes "marching through" the artefact at the underlying
 * sinus rate — the usual clue to artefact that mimics VT, whose cost (needless drugs, procedures,
 * a defibrillator) Knight et al. reported (N Engl J Med 1999;341:1270). A device that sends its own
 * beats has already looked for
 * them, usually on more than the one lead it streams: narrow (`N`), regular, slower than the VT rate
 * limit, through the whole window. VF and flutter have no such complexes (there is no organised
 * ventricular depolarisation between the oscillations), so during a real VF/VT the device's
 * beats are absent (a QRS-free oscillation), ventricular (`V`), faster than the limit, or chaotic.
 *
 * What counts as regular: the intervals vary by at most {@link REGULAR_RR_SPREAD_MS} — the usual
 * textbook bound above which a sinus rhythm is called sinus arrhythmia (P–P varying by more than
 * 0.12 s; some texts use 0.16 s: the stricter one here, so fewer windows are vetoed). The rate is the
 * mean of the intervals, as a heart rate is read (and as vt.ts `isVtRate` reads a run's rate first).
 * Only beats the device sent: beats the processor derives from the same lead (ECG-only devices,
 * processor/ecg-beats.ts) are taken from the very signal the artefact is in, and are not a second opinion.
 * Pure: no I/O, no clock; a bounded list of beats.
 */
import { z } from 'zod';
import { BEAT_CLASSES, type BeatClass } from '../../contracts/telemetry.ts';

/** Largest spread (longest − shortest) of the intervals of a regular rhythm, ms (file comment). */
export const REGULAR_RR_SPREAD_MS = 120;
/** Fewest beats that show a rhythm: two intervals, so that their spread means something. */
const MIN_BEATS = 3;
/**
 * Beats kept: those of the last this many ms before the newest one — the 4 s window and one
 * interval before it at down to 20/min. An older rhythm is not known, so nothing is vetoed.
 */
const KEEP_MS = 7000;
/** At most this many beats kept (7 s at 300/min is 35). */
const MAX_BEATS = 64;

export interface RecentBeat { timeMs: number; cls: BeatClass }

export const recentBeatsSchema = z.array(z.object({ timeMs: z.number(), cls: z.enum(BEAT_CLASSES) }));

export class RecentBeats {
  #beats: RecentBeat[] = [];

  constructor(beats: readonly RecentBeat[] = []) {
    this.#beats = beats.map((b) => ({ ...b }));
  }

  /** One more beat; `rrMs` ≤ 0 (unknown previous beat: lost frames, lead-off) starts the list afresh. */
  add(timeMs: number, rrMs: number, cls: BeatClass): void {
    if (rrMs <= 0) this.#beats = [];
    this.#beats.push({ timeMs, cls });
    while (this.#beats.length > MAX_BEATS || this.#beats[0]!.timeMs < timeMs - KEEP_MS) this.#beats.shift();
  }

  /** Forgets the beats (a hole: what came between is not known). */
  clear(): void {
    this.#beats = [];
  }

  get beats(): readonly RecentBeat[] {
    return this.#beats;
  }

  /**
   * The beats show a regular normal rhythm through [fromMs, toMs] (file comment): from the last
   * beat at or before `fromMs` to the last at or before `toMs`, at least {@link MIN_BEATS}, all
   * `N`, their intervals' mean at or above `minMeanRrMs` (not faster than the rate limit), their
   * spread at most {@link REGULAR_RR_SPREAD_MS}, and no beat overdue at `toMs` (the time since the
   * last beat no longer than a regular interval of this rhythm could be).
   */
  regularNormalThrough(fromMs: number, toMs: number, minMeanRrMs: number): boolean {
    let first = -1;
    for (let i = 0; i < this.#beats.length && this.#beats[i]!.timeMs <= fromMs; i++) first = i;
    if (first < 0) return false;
    const beats = this.#beats.slice(first).filter((b) => b.timeMs <= toMs);
    if (beats.length < MIN_BEATS || beats.some((b) => b.cls !== 'N')) return false;
    const intervals = beats.slice(1).map((b, i) => b.timeMs - beats[i]!.timeMs);
    const shortest = Math.min(...intervals);
    const longest = Math.max(...intervals);
    const mean = (beats.at(-1)!.timeMs - beats[0]!.timeMs) / intervals.length;
    return mean >= minMeanRrMs && longest - shortest <= REGULAR_RR_SPREAD_MS && toMs - beats.at(-1)!.timeMs <= shortest + REGULAR_RR_SPREAD_MS;
  }
}
