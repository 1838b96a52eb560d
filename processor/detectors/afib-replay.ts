/**
 * The AF detector's inputs since its measure last started, so a successor can replay them after
 * a restart, a partition move or a criteria change (the detector's `pendingState`, kept in the
 * processor's changelog record while an AF alarm waits: stream-state.ts `pending`).
 *
 * Why mostly a replay rather than a snapshot of the detector's state: AF is judged over a stretch
 * of at least 30 s, from an 8-beat window, exponential averagers with a memory of ≈ 50 beats, a
 * window history that back-dates the onset and places the end, an extra-detection merger and the
 * P-wave evidence of each beat. A fresh detector given only the frames the bus delivers again (from
 * the committed position, seconds back) started the 30 s over: measured on AF-like streams
 * (`test/processor/afib-restart.test.ts`), a restart 5–35 s into the AF delayed its alarm by up to
 * 35 s with its onset dated up to 35 s late, a 47 s episode with a restart 15–30 s into it was
 * never alarmed, and a restart while the episode's end was being confirmed left the alert open
 * 180 s longer with an estimated end. Feeding the latest inputs to a fresh detector rebuilds the
 * windows, the merger and the history without a second copy of their internals to keep in step;
 * what a short replay cannot rebuild goes as it was — the stretch (it may have begun minutes
 * before), whether it is open, the end it waits to confirm, and the three averagers. The ECG
 * enters only as each beat's measured P-wave coherence and f-wave fraction (the signal itself is
 * not kept).
 *
 * Kept also without a stretch while irregular windows are among the latest (afib.ts
 * `RECENT_IRREGULAR_WINDOWS`: mild AF whose stretch was dropped and starts again).
 *
 * Not covered (`node bench/af-restart-sweep.ts`, EVALUATION.md §3, session 24): a restart in the
 * first beats of AF, before any 8-beat window is irregular (nothing is kept; the successor's first
 * window comes 8 beats after the frames it re-reads: onsets a median 4–6 s later); and one in the
 * AF's last seconds and first beats after it, until 4 regular windows or the end's confirmation
 * (not kept — re-detected with enough AF left, else ended 180 s later at the restart's position —
 * or kept without the P-wave meter's 12-beat group: the end placed a few seconds differently; a
 * graceful hand-over keeps the inputs in any state and the meter too, and closes both). An
 * open episode in full AF is not kept either: the successor re-detects it on the AF evidence
 * without the 30 s (afib.ts `continueOpen`). Keeping the inputs at all times would cover both, at
 * a record rewrite per batch for every stream; re-reading some seconds of frames before the
 * committed position at a restart would too.
 */
import { z } from 'zod';
import { BEAT_CLASSES, type BeatClass } from '../../contracts/telemetry.ts';
import type { AlertEvidence } from '../../contracts/alert.ts';
import type { AtrialMeterState } from './atrial-activity.ts';
import type { BeatEvent, PendingState } from './detector.ts';

/** One beat as the AF detector took it, with the atrial evidence measured at it (NaN: none). */
export interface LoggedBeat extends BeatEvent {
  coherence: number;
  fWave: number;
}

/**
 * The latest beats fed to the detector since its measure last started (a discontinuity or a beat
 * of unknown interval), at most `capacity`. Parallel typed rings: no object per beat.
 */
export class AfibBeatLog {
  readonly #timeMs: Float64Array;
  readonly #rrMs: Float64Array;
  readonly #coherence: Float64Array;
  readonly #fWave: Float64Array;
  readonly #cls: string[];
  readonly capacity: number;
  #start = 0;
  #length = 0;

  constructor(capacity: number) {
    this.capacity = capacity;
    this.#timeMs = new Float64Array(capacity);
    this.#rrMs = new Float64Array(capacity);
    this.#coherence = new Float64Array(capacity);
    this.#fWave = new Float64Array(capacity);
    this.#cls = new Array<string>(capacity);
  }

  clear(): void {
    this.#start = 0;
    this.#length = 0;
  }

  push(b: BeatEvent, coherence: number, fWave: number): void {
    const i = (this.#start + this.#length) % this.capacity;
    this.#timeMs[i] = b.timeMs;
    this.#rrMs[i] = b.rrMs;
    this.#coherence[i] = coherence;
    this.#fWave[i] = fWave;
    this.#cls[i] = b.cls;
    if (this.#length < this.capacity) this.#length++;
    else this.#start = (this.#start + 1) % this.capacity;
  }

  get lastTimeMs(): number | undefined {
    return this.#length > 0 ? this.#timeMs[(this.#start + this.#length - 1) % this.capacity] : undefined;
  }

  /** The logged beats, oldest first, in the changelog's compact form ({@link PendingAfibBeats}). */
  toState(): PendingAfibBeats {
    const at = (k: number) => (this.#start + k) % this.capacity;
    const t0 = this.#timeMs[at(0)]!;
    const out: PendingAfibBeats = { t0, rr0: this.#rrMs[at(0)]!, dt: [], drr: [], cls: '' };
    const c: (number | null)[] = [];
    const f: (number | null)[] = [];
    for (let k = 0; k < this.#length; k++) {
      const i = at(k);
      if (k > 0) {
        const dt = this.#timeMs[i]! - this.#timeMs[at(k - 1)]!;
        out.dt.push(dt);
        out.drr.push(this.#rrMs[i]! - dt);
      }
      out.cls += this.#cls[i]!;
      c.push(rounded(this.#coherence[i]!));
      f.push(rounded(this.#fWave[i]!));
    }
    // A device without ECG has no atrial evidence at any beat (and the f-wave fraction is off by default).
    if (c.some((x) => x !== null)) out.c = c;
    if (f.some((x) => x !== null)) out.f = f;
    return out;
  }
}

/**
 * Atrial evidence to 4 decimals (≤ 5·10⁻⁵ off; the limits it meets are set to 0.05), NaN as null.
 */
const rounded = (x: number): number | null => (Number.isFinite(x) ? Math.round(x * 1e4) / 1e4 : null);

/**
 * The logged beats in the changelog, ≈ 12 bytes per beat without ECG and 19 with it: the first
 * beat's time and interval; then each beat's time after the previous one and how its interval
 * differs from that (0 unless beats were merged or left out upstream); one class letter per beat;
 * the P-wave coherence and the f-wave fraction per beat, absent when none was measured.
 */
export interface PendingAfibBeats {
  t0: number;
  rr0: number;
  dt: number[];
  drr: number[];
  cls: string;
  c?: (number | null)[];
  f?: (number | null)[];
}

/**
 * The stretch an AF alarm waits on, as the detector holds it (afib.ts `Stretch`: the stretch being
 * timed, or the open episode): its onset, its latest irregular beat, the sums its evidence and
 * decisions read, and its latest intervals.
 */
export interface StretchSnapshot {
  onsetMs: number;
  /** Latest beat whose window was irregular. */
  lastIrregularMs: number;
  /** Sums over the stretch's intervals (for the evidence). */
  rrSumMs: number;
  beatCount: number;
  recentRrMs: number[];
  /**
   * Sums of M and of RR over the stretch's windows up to its latest irregular one (the
   * stretch's own I = mean M / mean RR); `pending` holds the regular windows after it.
   */
  pairFractionSum: number;
  windowRrSumMs: number;
  pending: { pairFraction: number; rrMs: number };
  /** Sum and count of the P-wave coherence and of the f-wave fraction of its beats (ECG only). */
  coherenceSum: number;
  coherenceCount: number;
  fWaveSum: number;
  fWaveCount: number;
}

/**
 * The AF detector's pending state (format 1): its latest inputs, replayed to rebuild the measure
 * (8-beat windows, averagers, the window history), and what the replay cannot rebuild when the
 * stretch began before them — the stretch itself, whether it is open, the end it waits to confirm.
 */
export interface PendingAfib extends PendingState {
  v: 1;
  /** Absent only while nothing is logged (just after a discontinuity) and an episode's off-delay runs. */
  beats?: PendingAfibBeats;
  /** Null: no stretch yet (or just dropped), but irregular windows among the latest ones (afib.ts `RECENT_IRREGULAR_WINDOWS`). */
  stretch: StretchSnapshot | null;
  /** The stretch is an open episode (its end being confirmed, or its windows turned regular). */
  open: boolean;
  /** The end an open episode waits to confirm: when the decision left AF, and the end it found. */
  endCandidate?: { decidedMs: number; endMs: number };
  /** End of the detector's previous episode (an onset is never back-dated before it). */
  lastEndMs: number | null;
  /** The RR measure's averagers after the last beat (rr-irregularity.ts), which the replay rebuilds only approximately. */
  averagers: [number | null, number | null, number | null];
  /**
   * How far the averagers had warmed up (rr-irregularity.ts `averagerWeights`: RR; M and B). Absent
   * in states from before issue 12 session 37: read as warmed up ([1, 1]), the averaging then in use.
   */
  averagerWeights?: [number, number];
  /**
   * The P-wave meter as it was (only at a graceful hand-over, from an ECG device): without it the
   * successor's meter refills its 12-beat group first, and an episode's end in those beats is
   * placed a few seconds differently.
   */
  atrial?: AtrialMeterState;
  /**
   * The episode the alarm lifecycle was given (afib.ts `offDelayMs`): its onset, and while its
   * off-delay runs, the end reported if no AF onset comes in time. Absent in states from before
   * the off-delay (a processor of that version ignores it).
   */
  episode?: { onsetMs: number; pendingEnd?: { endMs: number; evidence: AlertEvidence } };
}

const KNOWN_CLASSES: ReadonlySet<string> = new Set(BEAT_CLASSES);

const pendingAfibSchema = z
  .object({
    v: z.literal(1),
    beats: z.object({
      t0: z.number(),
      rr0: z.number(),
      dt: z.array(z.number().min(0)),
      drr: z.array(z.number()),
      cls: z.string().min(1),
      c: z.array(z.number().nullable()).optional(),
      f: z.array(z.number().nullable()).optional(),
    }).optional(),
    stretch: z.object({
      onsetMs: z.number(),
      lastIrregularMs: z.number(),
      rrSumMs: z.number(),
      beatCount: z.number(),
      recentRrMs: z.array(z.number()),
      pairFractionSum: z.number(),
      windowRrSumMs: z.number(),
      pending: z.object({ pairFraction: z.number(), rrMs: z.number() }),
      coherenceSum: z.number(),
      coherenceCount: z.number(),
      fWaveSum: z.number(),
      fWaveCount: z.number(),
    }).nullable(),
    open: z.boolean(),
    endCandidate: z.object({ decidedMs: z.number(), endMs: z.number() }).optional(),
    lastEndMs: z.number().nullable(),
    averagers: z.tuple([z.number().nullable(), z.number().nullable(), z.number().nullable()]),
    averagerWeights: z.tuple([z.number().min(0).max(1), z.number().min(0).max(1)]).optional(),
    atrial: z.object({
      fsHz: z.number().int().min(125).max(1000),
      t0Ms: z.number(),
      next: z.number().int().min(0),
      samples: z.string().max(20_000),
      segments: z.array(z.string().max(400)).max(64),
    }).optional(),
    episode: z.object({
      onsetMs: z.number(),
      // The alert evidence as the detector made it (contracts/alert.ts), kept as it was.
      pendingEnd: z.object({ endMs: z.number(), evidence: z.custom<AlertEvidence>((x) => typeof x === 'object' && x !== null && !Array.isArray(x)) }).optional(),
    }).optional(),
  })
  .refine(({ stretch, open }) => stretch !== null || !open)
  .refine(({ beats, episode }) => beats !== undefined || episode?.pendingEnd !== undefined)
  .refine(({ beats: b }) => {
    if (b === undefined) return true;
    const n = b.cls.length;
    return b.dt.length === n - 1 && b.drr.length === n - 1 && (b.c ?? b.cls).length === n && (b.f ?? b.cls).length === n && [...b.cls].every((x) => KNOWN_CLASSES.has(x));
  });

/** A state in format 1 with its beats unpacked, oldest first; undefined for another format or a malformed one. */
export function parsePendingAfib(state: PendingState): { state: PendingAfib; beats: LoggedBeat[] } | undefined {
  const r = pendingAfibSchema.safeParse(state);
  if (!r.success) return undefined;
  const b = r.data.beats;
  const beats: LoggedBeat[] = [];
  if (b === undefined) return { state: r.data as PendingAfib, beats };
  let t = b.t0;
  for (let k = 0; k < b.cls.length; k++) {
    if (k > 0) t += b.dt[k - 1]!;
    const rrMs = k === 0 ? b.rr0 : b.dt[k - 1]! + b.drr[k - 1]!;
    beats.push({ timeMs: t, rrMs, cls: b.cls[k] as BeatClass, coherence: b.c?.[k] ?? Number.NaN, fWave: b.f?.[k] ?? Number.NaN });
  }
  return { state: r.data as PendingAfib, beats };
}
