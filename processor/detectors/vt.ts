/**
 * Ventricular tachycardia (alarm, high priority): at least 5 consecutive ventricular beats
 * (firmware class `V`) at a heart rate above 100 bpm.
 * Sources (fhir-and-alarms.md §5): PhysioNet/CinC Challenge 2015 alarm definition; Philips
 * IntelliVue default (run ≥ 5 and HR ≥ 100). The clinical definition (≥ 3 beats, sustained
 * > 30 s, 2017 AHA/ACC/HRS) is broader; the alarm uses the stricter, vendor-aligned 5 beats.
 *
 * Rate of the run = 60000 / mean of the RR intervals between its ventricular beats (the
 * `minBeats − 1` intervals inside the window; the coupling interval from the preceding normal
 * beat is not part of the ventricular rhythm). The test slides over the run, so a run that
 * starts slow and speeds up alarms once its last `minBeats` beats are fast.
 * The rate must also exceed the limit on **all of the window's intervals but one**
 * ({@link MAX_SLOW_INTERVALS}). The mean alone is fooled by one extra detection: in motion
 * artefact the ECG labeller can read several beats of a slow rhythm as `V`, and a noise spike
 * between two of them splits one interval in two — 710, 270, 460, 720 ms is a mean of 540 ms
 * (111 bpm) in a rhythm of 83/min (mitdb 105, chest lead, EVALUATION §3 and §6). A ventricular
 * rhythm faster than the limit has every interval short except, at most, one doubled by a complex
 * the QRS detector missed (small VT complexes in a lead dominated by tall sinus beats, EVALUATION
 * §6 v525l), which the one slow interval allowed still tolerates. So the rule never raises more
 * than the mean alone; the price is a later alarm for slow, irregular ventricular runs (at 102 bpm
 * with 5 % interval jitter a third are alarmed 2–4 beats later; at ≥ 110 bpm almost none:
 * eval/vt-rate-jitter.ts, EVALUATION §6).
 *
 * When the beats are derived from the ECG by the processor (an ECG-only device; the beat labeller,
 * qrs-morphology.ts, is ours), the run's complexes must also be alike ({@link
 * VtParams.similarityMin}, default 0.3; complex-similarity.ts): the mean correlation of consecutive
 * complexes (low-passed, aligned within ±30 ms) of the window's beats. A device's firmware beat
 * classes decide as documented (fhir-and-alarms.md §5: ≥ 5 V beats), ECG or not. A ventricular
 * focus repeats its complex, while motion or muscle artefact that our labeller reads as wide beats
 * changes shape from one "beat" to the next;
 * an unlike window is not a VT run, and the window slides on (a VT whose first complexes are
 * disturbed is raised a beat or two later). The threshold is low on purpose — VT in heavy noise
 * loses similarity too — and was set by `node eval/vt-similarity.ts` (EVALUATION.md §6): at 0.3
 * no CinC 2015 true VT alarm is lost and 2 of 240 synthetic VT runs in noise (both at 600 µV sd;
 * with more seeds ≈ 1–3 % of the runs in the heaviest cases), while mitdb's ECG-only false VT
 * fall from 67 to 48 (MLII) and 383 to 211 (chest leads) per 24 h. Where the
 * ECG does not hold every complex (a hole, a run longer than the meter's 12 s of filtered ECG,
 * vf-leakage.ts FILTERED_HISTORY_MS) the beats decide alone, as before.
 *
 * Evidence (cardiologist walk, finding 5): the run of ventricular beats the episode holds — its
 * beat count, the rate from the V–V intervals inside it (60000 / their mean; never the coupling
 * interval from the beat before the first V beat, nor an interval between a V beat and a
 * non-ventricular one) and `runMs`, first to last V beat. V beats that follow at or below the rate
 * limit wait until a faster V beat makes them part of the run; when the run ends first they are
 * not counted (CinC 2015 v131l: a V beat 878 ms after 7 at 343–375 ms, then sinus: 7 beats at
 * 167.6/min over 2.1 s, where the evidence said 5 beats at 131.2 with the 878 ms interval). The
 * qualifying window counts whole (its one slow interval too). When the waveform opens the episode,
 * the run's V beats already seen from the onset on are counted (they were dropped before). The
 * evidence grows with the run ({@link VtDetector.openEvidence}, published in the lifecycle's
 * updates). None of this changes when an episode opens or ends.
 *
 * Onset = the first ventricular beat of the qualifying window; end = the first beat that is not
 * ventricular (the run is over). While it lasts the rate is not re-tested: a VT that slows
 * stays one episode instead of flapping. A beat with unknown RR (after lost frames) restarts
 * the count; an open episode stays open across a discontinuity (Detector contract).
 *
 * Waveform evidence (devices that send ECG; issue 12 item 6): the VF-filter leakage of the last
 * 4 s of the lead (vf-leakage.ts; Kuo & Dillman 1978, compared by Amann et al. 2005) below
 * `leakageBelow` (default 0.65, chosen by 5-fold cross-validation on the CinC 2015 VT alarms,
 * EVALUATION.md §6) is VT/VF evidence without beats: fhir-and-alarms.md §5 "fibrillatory,
 * flutter or oscillatory waveform ≥ 4 s". VF/flutter raises this `vt` kind (the alert kinds are a
 * stable contract); the evidence's criterion says which rule fired. Onset = start of the 4 s
 * window. The leakage is read once per second of ECG ({@link READING_EVERY_MS}, on a grid of the
 * samples, whatever the frame length) and acted on at the next onBeat/onTime (onEcg cannot return
 * changes). In ECG mode the waveform arrives ~1 s before the beats derived
 * from it: a reading below the threshold opens the episode at once and the later beats join it;
 * the end waits until the beats reach the reading that ended the waveform evidence, so one event
 * seen by both stays one episode. The episode ends when neither holds: the last beat is not
 * ventricular and the last reading is not below the threshold (or no ECG for 4 s of beats).
 * Lead-off samples are never fed (PatientStream); a hole in the chunks or an fs change restarts
 * the 4 s window.
 *
 * A low leakage alone is not a ventricular waveform: any narrow-band signal cancels itself — a
 * flat line's baseline wander or respiration artefact (< 1 Hz), mains residue, and even 10 µV of
 * amplifier noise dips below 0.65 (vt-waveform.test.ts). The window must also oscillate (issue 12
 * item 6, so that an asystole is never read as VF): at ≥ 100 µV peak-to-peak ({@link
 * ASYSTOLE_BELOW_UV}: below it the AHA's AED performance recommendations call the rhythm asystole,
 * Kerber et al., Circulation 1997;95:1677; fine VF is 100–200 µV), and at a frequency faster than
 * the VT rate limit (`hrAboveBpm`: a slower oscillation is no VT) and not above {@link
 * VF_MAX_HZ} (human VF: dominant frequency ≈ 3–7 Hz, median ≈ 4–5 Hz, spectral edge ≈ 10 Hz,
 * Strohmenger et al., Chest 1997;111:584; faster is muscle or mains noise).
 *
 * Firmware rhythm (cardiologist walk, finding 8a; firmware-rhythm.ts): a device that sends its own
 * beats and ECG got a high VT alarm from the waveform rule in motion artefact while its beats, all
 * `N` at ≈ 92/min, marched regularly through the window (mitdb 105 at 22:04.5). A cardiologist
 * reads that strip as artefact at a glance: VF and flutter have no normal QRS complexes between
 * the oscillations. So when the beats are the device's own (not derived from this ECG) and those
 * of the 4 s window are all `N`, regular (spread ≤ 120 ms) and at a mean rate not above
 * `hrAboveBpm`, with none overdue at the window's end, the window is not waveform evidence — it
 * counts as a reading above the threshold (an open episode then ends as when the leakage rises).
 * The waveform rule still alarms a QRS-free oscillation (the device sends no beat: VF), one with
 * `V` beats, with beats faster than the limit (VT the firmware labels `N`), or chaotic ones (VF the
 * firmware half-detects); the beat rule is unchanged. Not a medium "check strip" alarm instead:
 * the alert kinds and their priorities are a stable contract, and a strip that the device's own
 * beats already explain needs no alarm. Limit: a VT whose complexes the firmware counts only every
 * other one, as regular `N` slower than the limit, is not alarmed by the waveform (a firmware
 * refractory period of ≈ 200 ms makes that unlikely below 200/min oscillations, and 2:1 at ≥ 200/min
 * gives beats faster than 100/min). After a restart without hand-over the beats of the first 4 s
 * are not known, and nothing is vetoed. Measured on mitdb's firmware-beats + ECG path (EVALUATION.md
 * §3, eval/firmware-ecg-path.ts).
 *
 * Paced rhythm (devices that flag pacer pulses, JSON v1 `ecg.pace`): a window in which the
 * pacemaker fires faster than the VT rate limit (≥ 3 pulses, mean interval < 60 000 / `hrAboveBpm`
 * ms) is a paced tachycardia — wide evoked complexes at a steady rate, which the VF filter reads as
 * flutter (leakage 0.6–0.65 at 160/min) — and is not waveform evidence; a paced rhythm is not VT,
 * and monitors must reject pacer pulses (IEC 60601-2-27). The beats still decide (paced beats are
 * `Q`, never `V`). Slower pulses do not count: a pacemaker that does not sense VF goes on pacing
 * at its lower rate (≈ 60–70/min), and VF under those pulses must still raise the alarm.
 *
 * Silences (issue 12): while an episode is open and the waveform evidence holds, the stream shows
 * VF/VT, not a silence: {@link VtDetector.explainsSilence} tells the asystole and pause detectors
 * (silence.ts) so they raise nothing for that stretch — one alarm condition, the more specific and
 * higher-priority one (IEC 60601-1-8).
 *
 * Restarts (processor restart, partition move) and criteria changes (issue 12 session 18): the
 * run of ventricular beats so far is a pending alarm ({@link VtDetector.pendingState}, kept in the
 * processor's changelog while it lasts), so a fresh detector counts on from it instead of from
 * zero — up to `minBeats` − 1 beats late otherwise (5.4 s at 10 beats and 100/min). Firmware beats
 * only: a run of beats derived from the ECG must also show alike complexes, and a successor's
 * waveform buffer does not hold the earlier ones, so such a run is judged afresh. A graceful
 * hand-over (processor.ts `stop`, written once) carries the whole detector instead (format 2: the
 * run, the open episode, the waveform readings and the 4 s window as the input it was filtered
 * from, vf-leakage.ts `VfMeterState`), so the successor goes on exactly (issue 12 session 27).
 */
import { z } from 'zod';
import type { AlertEvidence } from '../../contracts/alert.ts';
import { BEAT_CLASSES } from '../../contracts/telemetry.ts';
import type { BeatEvent, Detector, EcgChunk, EpisodeChange, PendingState, TimeEvent } from './detector.ts';
import { complexReachBeforeR, consecutiveComplexSimilarity } from './complex-similarity.ts';
import { RecentBeats, recentBeatsSchema } from './firmware-rhythm.ts';
import { finiteEntry, HeldHandover, parsePendingBeatRun, seenBefore, type PendingBeatRun } from './pending-run.ts';
import { VF_WINDOW_MS, VfLeakageMeter, vfMeterStateSchema, type VfReading } from './vf-leakage.ts';

export interface VtParams {
  /** Consecutive ventricular beats that make a run. */
  minBeats: number;
  /** The run's rate must exceed this, bpm. */
  hrAboveBpm: number;
  /** Waveform evidence: VF-filter leakage of 4 s of ECG below this (0 = beats only). */
  leakageBelow: number;
  /**
   * Beats derived from the ECG (ECG-only device): a run of ventricular beats counts only when its
   * consecutive complexes are alike — mean correlation at least this (complex-similarity.ts; file
   * comment). 0 = not checked. Firmware beats are not checked.
   */
  similarityMin: number;
  /**
   * Firmware beats with ECG: a low-leakage window through which the device's own beats show a
   * regular normal rhythm slower than the rate limit is not waveform evidence (file comment,
   * "Firmware rhythm"; firmware-rhythm.ts). Off only to measure what it changes (eval/firmware-ecg-path.ts).
   */
  firmwareRhythmVeto: boolean;
}

export const VT_DEFAULTS: VtParams = { minBeats: 5, hrAboveBpm: 100, leakageBelow: 0.65, similarityMin: 0.3, firmwareRhythmVeto: true };

/** Below this peak-to-peak amplitude a window is asystole, not VF (Kerber et al. 1997, file comment), µV. */
export const ASYSTOLE_BELOW_UV = 100;
/** Above this mean frequency a low-leakage window is noise, not VF (Strohmenger et al. 1997, file comment), Hz. */
export const VF_MAX_HZ = 10;

/** Pacer pulses in a 4 s window that can make it a paced tachycardia (with their mean rate, file comment). */
const PACED_WINDOW_MIN_PULSES = 3;

/** Chunks further apart than this restart the leakage window, ms (as PatientStream's continuity). */
const ECG_CONTINUITY_MS = 50;
/**
 * The waveform evidence is read once per this much ECG, ms: on a fixed grid of the samples, not
 * at frame ends. Until session 30 it was read at the end of every frame, so a device sending
 * 0.1 s frames had ten readings a second (more chances for one to dip below the threshold: more
 * false alarms) and one sending 5 s frames one in five (CinC 2015: true VT lost, EVALUATION.md §6).
 * 1 s is the contract's default frame, on which the threshold was chosen.
 */
const READING_EVERY_MS = 1000;

/** Samples [from, to) of a frame's ECG (a view when typed, a copy otherwise). */
function sliceOf(uV: ArrayLike<number>, from: number, to: number): ArrayLike<number> {
  if (from === 0 && to === uV.length) return uV;
  return ArrayBuffer.isView(uV) ? (uV as Int16Array).subarray(from, to) : Array.prototype.slice.call(uV, from, to) as number[];
}

/** A change of the waveform evidence, at the end of the ECG chunk it was read on. */
interface WaveReading {
  atMs: number;
  /** Start of the chunk it was read on. */
  chunkStartMs: number;
  /** The stream's beats are derived from this ECG (they lag it; EcgChunk.beatsDerived). */
  beatsDerived: boolean;
  below: boolean;
  leakage: number;
}

const MAX_EVIDENCE_RR = 32;
/** Beats of the current ventricular run kept for a waveform onset's evidence (its 4 s window holds ≤ 20 at 300/min). */
const MAX_RUN_BEATS = 64;

/** Intervals of a qualifying window that may be at or below the rate limit (file comment). */
export const MAX_SLOW_INTERVALS = 1;

/**
 * Whether a window's V-to-V intervals are a ventricular rate above `hrAboveBpm`: by their mean
 * (HR > limit ⟺ mean RR < 60000 / limit) and on all of them but {@link MAX_SLOW_INTERVALS}
 * (file comment). Shared with the reference ground truth (eval/ground-truth.ts).
 */
export function isVtRate(intervalsMs: readonly number[], hrAboveBpm: number): boolean {
  const limitMs = 60000 / hrAboveBpm;
  let sum = 0;
  let slow = 0;
  for (const rr of intervalsMs) {
    sum += rr;
    if (rr >= limitMs) slow++;
  }
  return intervalsMs.length > 0 && sum / intervalsMs.length < limitMs && slow <= MAX_SLOW_INTERVALS;
}

/**
 * The open episode. Its evidence describes the run of ventricular beats (file comment, "Evidence"):
 * `beatCount` V beats from `firstBeatMs` to `lastBeatMs`, and the V–V intervals between them
 * (`rrSumMs` over `intervals`, the latest in `recentRrMs`), never a coupling interval from a
 * non-ventricular beat. V beats that follow the run at or below the rate limit wait in `tail`
 * until a faster V beat makes them part of it; when the run ends first, they are not counted.
 */
interface OpenRun {
  onsetMs: number;
  beatCount: number;
  rrSumMs: number;
  /** Known intervals summed in rrSumMs. */
  intervals: number;
  recentRrMs: number[];
  /** First and last ventricular beat counted in the run (NaN: none yet). */
  firstBeatMs: number;
  lastBeatMs: number;
  /** Trailing V beats at or below the rate limit, not (yet) counted: their times and V–V intervals. */
  tail: { timeMs: number; rrMs: number }[];
  /** The latest beat was a ventricular beat of this episode (the next V beat's interval is V–V). */
  afterV: boolean;
  /** The latest beat was ventricular (beat evidence still holds). */
  beatsHold: boolean;
  /** Lowest leakage read while open (1 = none below the threshold). */
  minLeakage: number;
  /** Similarity of the qualifying run's complexes (NaN: not measured). */
  similarity: number;
  /** Opened by the waveform (no qualifying run yet). */
  byWaveform: boolean;
}
const round1 = (x: number) => Math.round(x * 10) / 10;

/**
 * One more ventricular beat of the open episode's run (OpenRun): `rrMs` its V–V interval (0 when
 * the beat before it was not one of the run's). A beat at or below the rate limit waits in the
 * tail; a faster one (or one of unknown interval) makes the tail part of the run, then counts.
 */
function addRunBeat(o: OpenRun, timeMs: number, rrMs: number, limitMs: number): void {
  o.afterV = true;
  if (rrMs >= limitMs && o.beatCount > 0) {
    o.tail.push({ timeMs, rrMs });
    return;
  }
  for (const t of o.tail) countRunBeat(o, t.timeMs, t.rrMs);
  o.tail = [];
  countRunBeat(o, timeMs, rrMs);
}

function countRunBeat(o: OpenRun, timeMs: number, rrMs: number): void {
  o.beatCount++;
  if (!Number.isFinite(o.firstBeatMs)) o.firstBeatMs = timeMs;
  o.lastBeatMs = timeMs;
  if (rrMs > 0) {
    o.rrSumMs += rrMs;
    o.intervals++;
    o.recentRrMs.push(rrMs);
    if (o.recentRrMs.length > MAX_EVIDENCE_RR) o.recentRrMs.shift();
  }
}

/** `x` with 2 decimals, or as many more as it takes for the text to read below `limit` too (never "0.65 < 0.65"). */
export function digitsBelow(x: number, limit: number): string {
  for (let d = 2; d <= 6; d++) {
    const text = x.toFixed(d);
    if (Number(text) < limit) return text;
  }
  return String(x);
}

const beatRunSchema = z.object({ v: z.literal(1), beats: z.array(z.object({ timeMs: z.number(), rrMs: z.number() })).min(1), seenUntilMs: z.number() });

/** {@link VtDetector.pendingState} at a hand-over (format 2): the whole detector; times that are not yet known are left out. */
const vtHandoverSchema = z.object({
  v: z.literal(2),
  run: z.array(z.object({ timeMs: z.number(), rrMs: z.number(), cls: z.enum(BEAT_CLASSES) })),
  open: z.object({
    onsetMs: z.number(), beatCount: z.number().int(), rrSumMs: z.number(), intervals: z.number().int(), recentRrMs: z.array(z.number()),
    beatsHold: z.boolean(), minLeakage: z.number(), similarity: z.number().optional(), byWaveform: z.boolean(),
    // (Optional: a hand-over written before the run's evidence was kept goes on without them.)
    firstBeatMs: z.number().optional(), lastBeatMs: z.number().optional(),
    tail: z.array(z.object({ timeMs: z.number(), rrMs: z.number() })).optional(), afterV: z.boolean().optional(),
  }).optional(),
  vBeats: z.array(z.object({ timeMs: z.number(), rrMs: z.number() })).optional(),
  meter: vfMeterStateSchema.optional(),
  beatsDerived: z.boolean(),
  ecgEndMs: z.number().optional(),
  readings: z.array(z.object({ atMs: z.number(), chunkStartMs: z.number(), beatsDerived: z.boolean(), below: z.boolean(), leakage: z.number() })),
  waveBelow: z.boolean(),
  waveOffMs: z.number().optional(),
  afterLastNonVMs: z.number().optional(),
  lastBeatWasNonV: z.boolean(),
  lastPushedBelow: z.boolean(),
  pulsesMs: z.array(z.number()),
  // (Optional: a hand-over written before the firmware-rhythm veto goes on without them.)
  recentBeats: recentBeatsSchema.optional(),
  seenUntilMs: z.number().optional(),
  resumed: beatRunSchema.optional(),
});

export type VtHandover = z.infer<typeof vtHandoverSchema> & PendingState;

export class VtDetector implements Detector {
  readonly kind = 'vt' as const;
  readonly #p: VtParams;
  /** The last `minBeats` beats of the current run of ventricular beats. */
  #run: BeatEvent[] = [];
  /**
   * The current run of ventricular beats while no episode is open (up to {@link MAX_RUN_BEATS}),
   * its first beat's interval not a V–V one: the beats a waveform onset counts from (evidence only).
   */
  #vBeats: { timeMs: number; rrMs: number }[] = [];
  #open: OpenRun | undefined;
  #meter: VfLeakageMeter | undefined;
  /** The beats are derived from this ECG by the processor (EcgChunk.beatsDerived): the similarity check applies. */
  #beatsDerived = false;
  /** Device time the ECG continues at (end of the last chunk). */
  #ecgEndMs: number | undefined;
  /** Waveform readings not yet reached by the beat stream (changes of `below` only), in time order. */
  readonly #readings: WaveReading[] = [];
  /** The waveform evidence as of the beat stream's time. */
  #waveBelow = false;
  /** When it last stopped holding (reading time). */
  #waveOffMs = -Infinity;
  /** The first beat after the last non-ventricular beat (or that beat while none followed), ms. */
  #afterLastNonVMs = -Infinity;
  #lastBeatWasNonV = false;
  /** Whether the last state pushed to #readings was `below`. */
  #lastPushedBelow = false;
  /** Changes found while answering {@link explainsSilence}, returned with the next onBeat/onTime. */
  #queued: EpisodeChange[] = [];
  /** Flagged pacer pulses inside the current 4 s window, device time ms, ascending. */
  #pulsesMs: number[] = [];
  /** The stream's beats of the last seconds, for the firmware-rhythm veto (firmware-rhythm.ts). */
  #recentBeats = new RecentBeats();
  /** Device time up to which the stream was seen (the last beat or onTime). */
  #seenUntilMs = -Infinity;
  /** {@link resumePending}: a predecessor's run, taken over at the first beat after what it saw. */
  #resumed: PendingBeatRun | undefined;
  /** A hand-over's state, held until the first input (pending-run.ts). */
  readonly #whole = new HeldHandover<z.infer<typeof vtHandoverSchema>>((h) => this.#takeUp(h));

  constructor(params: VtParams = VT_DEFAULTS) {
    if (!(params.minBeats >= 2)) throw new RangeError('vt minBeats must be ≥ 2 (a rate needs an interval)');
    if (!(params.leakageBelow >= 0 && params.leakageBelow < 1)) throw new RangeError('vt leakageBelow must be in [0, 1)');
    if (!(params.similarityMin >= 0 && params.similarityMin < 1)) throw new RangeError('vt similarityMin must be in [0, 1)');
    this.#p = params;
  }

  /** The rate limit as a V–V interval, ms: intervals at or above it are not faster than the limit. */
  get #limitMs(): number {
    return 60000 / this.#p.hrAboveBpm;
  }

  #evidence(o: OpenRun): AlertEvidence {
    const beats = `≥ ${this.#p.minBeats} consecutive ventricular beats at HR > ${this.#p.hrAboveBpm} bpm (PhysioNet/CinC 2015; Philips default)`;
    const wave = `VF-filter leakage ${digitsBelow(o.minLeakage, this.#p.leakageBelow)} < ${this.#p.leakageBelow} over ${VF_WINDOW_MS / 1000} s of ECG: VT/VF/flutter waveform (Kuo & Dillman 1978; fhir-and-alarms.md §5 VF/flutter ≥ 4 s, raised as vt)`;
    const waveHeld = o.minLeakage < this.#p.leakageBelow;
    const alike = Number.isFinite(o.similarity) ? `, consecutive complexes alike (mean correlation ${o.similarity.toFixed(2)} ≥ ${this.#p.similarityMin})` : '';
    const thresholds: Record<string, number> = { minBeats: this.#p.minBeats, hrAboveBpm: this.#p.hrAboveBpm };
    if (this.#p.leakageBelow > 0) thresholds.leakageBelow = this.#p.leakageBelow;
    if (this.#p.similarityMin > 0) thresholds.similarityMin = this.#p.similarityMin;
    return {
      ...(o.intervals > 0 ? { hrBpm: round1(60000 / (o.rrSumMs / o.intervals)), rrMs: o.recentRrMs.slice(-MAX_EVIDENCE_RR) } : {}),
      beatCount: o.beatCount,
      ...(o.beatCount > 1 && Number.isFinite(o.firstBeatMs) ? { runMs: o.lastBeatMs - o.firstBeatMs } : {}),
      criterion: o.byWaveform ? wave + (o.intervals > 0 && o.beatCount >= this.#p.minBeats ? `; then ${beats}` : '') : beats + alike + (waveHeld ? `; also ${wave}` : ''),
      thresholds,
    };
  }

  onEcg(chunk: EcgChunk): void {
    const held = this.#whole.held;
    if (held) this.#whole.settle(held.ecgEndMs === undefined || chunk.startMs >= held.ecgEndMs - ECG_CONTINUITY_MS);
    if ((this.#p.leakageBelow <= 0 && this.#p.similarityMin <= 0) || chunk.uV.length === 0) return;
    if (!this.#meter || this.#meter.fsHz !== chunk.fsHz || this.#ecgEndMs === undefined || Math.abs(chunk.startMs - this.#ecgEndMs) > ECG_CONTINUITY_MS) {
      // A hole (lost frames, lead-off never fed) or a new rate: the 4 s window starts again. The
      // evidence keeps its last state until a fresh window says otherwise (open episodes stay open).
      if (!this.#meter || this.#meter.fsHz !== chunk.fsHz) this.#meter = new VfLeakageMeter(chunk.fsHz);
      else this.#meter.reset();
      this.#pulsesMs = [];
    }
    this.#beatsDerived = chunk.beatsDerived === true;
    this.#ecgEndMs = chunk.startMs + (chunk.uV.length * 1000) / chunk.fsHz;
    const meter = this.#meter;
    const pace = chunk.pace ?? [];
    let paced = 0;
    // The leakage is read every READING_EVERY_MS of samples since the window (re)started, wherever
    // the frames begin and end, so the device's frame length does not change what is read.
    const every = Math.max(1, Math.round((READING_EVERY_MS * chunk.fsHz) / 1000));
    for (let from = 0; from < chunk.uV.length;) {
      const to = Math.min(chunk.uV.length, from + every - (meter.sampleCount % every));
      meter.push(sliceOf(chunk.uV, from, to));
      const atMs = chunk.startMs + (to * 1000) / chunk.fsHz;
      for (; paced < pace.length && pace[paced]! < to; paced++) this.#pulsesMs.push(chunk.startMs + (pace[paced]! * 1000) / chunk.fsHz);
      while (this.#pulsesMs.length > 0 && this.#pulsesMs[0]! < atMs - VF_WINDOW_MS) this.#pulsesMs.shift();
      from = to;
      // (The meter also keeps the filtered ECG the complex similarity reads; leakage 0 = no waveform evidence.)
      if (meter.sampleCount % every === 0 && meter.ready && this.#p.leakageBelow > 0) this.#read(atMs, chunk.startMs);
    }
  }

  /** One reading of the waveform evidence, the window ending at device time `atMs`. */
  #read(atMs: number, chunkStartMs: number): void {
    const reading = this.#meter!.reading();
    const leakage = reading.leakage;
    const below = leakage < this.#p.leakageBelow && this.#oscillates(reading) && !this.#pacedFast();
    const last = this.#readings.at(-1);
    // With firmware beats each reading below is kept on its own: the veto judges each window by
    // the beats in it, which come after the ECG they lie in (onBeat/onTime, #advance).
    if (below !== this.#lastPushedBelow || (below && this.#vetoApplies(this.#beatsDerived))) {
      this.#readings.push({ atMs, chunkStartMs, beatsDerived: this.#beatsDerived, below, leakage });
      this.#lastPushedBelow = below;
    } else if (below && last && leakage < last.leakage) last.leakage = leakage;
    else if (below && this.#open && !last) this.#open.minLeakage = Math.min(this.#open.minLeakage, leakage);
  }

  /**
   * Applies the waveform readings at the beat stream's time `nowMs`: a reading below the threshold
   * at once (its 4 s window is complete; in ECG mode this is ~1 s before the beats of that time
   * arrive, which then join the open episode); a reading that ends the evidence only once the
   * beats have reached its time (beats still to come may hold the episode), and not at all when
   * the waveform is VT-like again by then (one event, one episode).
   */
  #advance(nowMs: number): EpisodeChange[] {
    const out: EpisodeChange[] = [];
    // No ECG for a full window of beats (the device stopped sending it): the waveform says nothing.
    if (this.#lastPushedBelow && this.#ecgEndMs !== undefined && nowMs > this.#ecgEndMs + VF_WINDOW_MS) {
      this.#readings.push({ atMs: this.#ecgEndMs, chunkStartMs: this.#ecgEndMs, beatsDerived: this.#beatsDerived, below: false, leakage: 1 });
      this.#lastPushedBelow = false;
    }
    while (this.#readings.length > 0) {
      const r = this.#readings[0]!;
      // A reading below waits for the beats of its own chunk when they come with it (firmware
      // beats: the frame's beats follow its ECG), so a V run there opens the episode at its first
      // V beat. When the beats are derived from this ECG they lag it by the QRS detector's
      // decision delay (0.5–1.4 s), and the beat stream may already be inside the chunk: waiting
      // for it to reach the chunk's end would raise a VF alarm up to a frame later, so it applies
      // at once — the onset is then placed from the beats known so far.
      if (r.below && r.atMs > nowMs && nowMs >= r.chunkStartMs && !r.beatsDerived) break;
      if (!r.below && r.atMs > nowMs) {
        // Not reached yet; superseded if the waveform is VT-like again after it.
        if (this.#readings.length > 1) { this.#readings.shift(); continue; }
        break;
      }
      this.#readings.shift();
      // A window the device's own beats show to be a regular normal rhythm is not evidence: read as not below.
      const below = r.below && !(this.#vetoApplies(r.beatsDerived) && this.#recentBeats.regularNormalThrough(r.atMs - VF_WINDOW_MS, r.atMs, this.#limitMs));
      this.#waveBelow = below;
      if (below) {
        if (this.#open) {
          this.#open.minLeakage = Math.min(this.#open.minLeakage, r.leakage);
          continue;
        }
        // The window's start, or after the last non-ventricular beat inside it (the rhythm was
        // still normal then): the first beat after it, or that beat itself when none followed.
        const onsetMs = Math.max(r.atMs - VF_WINDOW_MS, this.#afterLastNonVMs);
        this.#open = { onsetMs, beatCount: 0, rrSumMs: 0, intervals: 0, recentRrMs: [], firstBeatMs: Number.NaN, lastBeatMs: Number.NaN, tail: [], afterV: false, beatsHold: false, minLeakage: r.leakage, similarity: Number.NaN, byWaveform: true };
        // The run's V beats already seen from the onset on are the episode's (evidence only).
        // (Its first one's interval is from a beat before the onset: not one of the run's.)
        const open = this.#open;
        this.#vBeats.filter((b) => b.timeMs >= onsetMs).forEach((b, i) => addRunBeat(open, b.timeMs, i > 0 ? b.rrMs : 0, this.#limitMs));
        this.#run = [];
        out.push({ type: 'onset', kind: this.kind, onsetMs, evidence: this.#evidence(this.#open) });
      } else {
        this.#waveOffMs = r.atMs;
        if (this.#open && !this.#open.beatsHold) out.push(this.#end(r.atMs));
      }
    }
    return out;
  }

  #end(endMs: number): EpisodeChange {
    const o = this.#open!;
    this.#open = undefined;
    return { type: 'end', kind: this.kind, onsetMs: o.onsetMs, endMs: Math.max(endMs, o.onsetMs), evidence: this.#evidence(o) };
  }

  /** The firmware-rhythm veto is on and the beats are the device's own (not derived from this ECG). */
  #vetoApplies(beatsDerived: boolean): boolean {
    return this.#p.firmwareRhythmVeto && !beatsDerived;
  }

  /** The 4 s window is paced faster than the VT rate limit (file comment): a paced rhythm, not VT. */
  #pacedFast(): boolean {
    const n = this.#pulsesMs.length;
    if (n < PACED_WINDOW_MIN_PULSES) return false;
    const meanIntervalMs = (this.#pulsesMs[n - 1]! - this.#pulsesMs[0]!) / (n - 1);
    return meanIntervalMs < 60_000 / this.#p.hrAboveBpm;
  }

  /** A ventricular oscillation, not a flat line, baseline wander or noise (file comment). */
  #oscillates(r: VfReading): boolean {
    return r.peakToPeakUv >= ASYSTOLE_BELOW_UV && r.meanHz > this.#p.hrAboveBpm / 60 && r.meanHz <= VF_MAX_HZ;
  }

  /**
   * The stream shows VF/VT in the waveform at device time `nowMs`: an episode is open and the
   * waveform evidence holds (as {@link onTime} would apply it at `nowMs`). The silence detectors
   * ask before raising asystole/pause; they run before this one at each step, so the readings are
   * applied here first and their changes handed out with this detector's next call.
   */
  explainsSilence(nowMs: number): boolean {
    this.#whole.inputAt(nowMs);
    if (this.#readings.length > 0 || this.#lastPushedBelow) this.#queued.push(...this.#advance(nowMs));
    return this.#open !== undefined && this.#waveBelow;
  }

  #takeQueued(): EpisodeChange[] {
    if (this.#queued.length === 0) return [];
    const out = this.#queued;
    this.#queued = [];
    return out;
  }

  onBeat(beat: BeatEvent): EpisodeChange[] {
    this.#whole.inputAt(beat.timeMs);
    const changes = this.#takeQueued();
    if (this.#readings.length > 0 || this.#lastPushedBelow) changes.push(...this.#advance(beat.timeMs));
    changes.push(...this.#beat(beat));
    return changes;
  }

  /**
   * The run of ventricular beats so far (firmware beats), while no episode is open and its latest
   * interval is faster than the limit; undefined otherwise. Not a lone ventricular beat (isolated
   * PVCs are common: mitdb 106, bigeminy, would be pending in 40 % of its frames, a changelog
   * rewrite each) nor a slow ventricular rhythm (idioventricular: hours of it). The price: a
   * restart right after such a beat costs the VT alarm one beat (≤ 0.6 s at > 100/min).
   */
  pendingState(): PendingBeatRun | undefined {
    if (this.#resumed) return this.#resumed;
    const last = this.#run.at(-1);
    if (this.#open || this.#run.length < 2 || this.#beatsDerived || !(last!.rrMs > 0 && last!.rrMs < 60000 / this.#p.hrAboveBpm)) return undefined;
    return { v: 1, beats: this.#run.map((b) => ({ timeMs: b.timeMs, rrMs: b.rrMs })), seenUntilMs: this.#seenUntilMs };
  }

  /**
   * Takes over a predecessor's run: re-delivered beats it saw are skipped, the first beat after
   * them continues it (or ends it). Or, from a hand-over, the predecessor's whole state, taken up
   * at the first input (pending-run.ts `HeldHandover`); an open episode is then announced again at the next beat
   * or time step, which is how the alarm lifecycle recognises a successor's detector continuing it
   * (alarm-lifecycle.ts `expectRedetection`).
   */
  resumePending(state: PendingState): void {
    if (state.v === 2) {
      const h = vtHandoverSchema.safeParse(state).data;
      if (h && !this.#open && this.#run.length === 0) this.#whole.hold(h);
      return;
    }
    const r = parsePendingBeatRun(state);
    if (r && !this.#open && this.#run.length === 0) this.#resumed = r;
  }

  /**
   * At a graceful hand-over (processor.ts `stop`): the detector's whole state ({@link VtHandover}),
   * so the successor goes on exactly — the run of beats derived from the ECG too, the open episode,
   * the 4 s waveform window and the filtered ECG the run's complexes and the next beats' lie in.
   */
  handoverState(): VtHandover | undefined {
    // (Not yet taken up: on as it came.)
    if (this.#whole.held) return this.#whole.held;
    const o = this.#open;
    return {
      v: 2,
      run: this.#run.map((b) => ({ ...b })),
      ...(o ? { open: { onsetMs: o.onsetMs, beatCount: o.beatCount, rrSumMs: o.rrSumMs, intervals: o.intervals, recentRrMs: [...o.recentRrMs], beatsHold: o.beatsHold, minLeakage: o.minLeakage, ...finiteEntry('similarity', o.similarity), byWaveform: o.byWaveform, ...finiteEntry('firstBeatMs', o.firstBeatMs), ...finiteEntry('lastBeatMs', o.lastBeatMs), tail: o.tail.map((b) => ({ ...b })), afterV: o.afterV } } : {}),
      vBeats: this.#vBeats.map((b) => ({ ...b })),
      ...(this.#meter ? { meter: this.#meter.state(this.#complexesNeededFrom()) } : {}),
      beatsDerived: this.#beatsDerived,
      ...(this.#ecgEndMs !== undefined ? { ecgEndMs: this.#ecgEndMs } : {}),
      readings: this.#readings.map((r) => ({ ...r })),
      waveBelow: this.#waveBelow,
      ...finiteEntry('waveOffMs', this.#waveOffMs),
      ...finiteEntry('afterLastNonVMs', this.#afterLastNonVMs),
      lastBeatWasNonV: this.#lastBeatWasNonV,
      lastPushedBelow: this.#lastPushedBelow,
      pulsesMs: [...this.#pulsesMs],
      recentBeats: this.#recentBeats.beats.map((b) => ({ ...b })),
      ...finiteEntry('seenUntilMs', this.#seenUntilMs),
      ...(this.#resumed ? { resumed: this.#resumed } : {}),
    };
  }

  /**
   * The oldest filtered sample the complex similarity can still read after a hand-over: the current
   * run's first complex, or the next beat's (beats come after the beat stream's time; their ECG is
   * already in the meter), less the complex's reach before its R peak (complex-similarity.ts).
   * Keeping only that makes the hand-over record carry ≈ 4–6 s of ECG instead of the meter's 12 s.
   */
  #complexesNeededFrom(): number {
    const m = this.#meter!;
    const fromMs = Math.min(this.#run[0]?.timeMs ?? Infinity, this.#seenUntilMs);
    if (this.#ecgEndMs === undefined || !Number.isFinite(fromMs)) return 0;
    return m.sampleCount - Math.ceil(((this.#ecgEndMs - fromMs) * m.fsHz) / 1000) - complexReachBeforeR(m.fsHz);
  }

  /**
   * A hand-over's state, taken up at the first input that follows what the predecessor saw
   * (pending-run.ts): ECG from where its window ends, beats and time from its last.
   */
  #takeUp(h: z.infer<typeof vtHandoverSchema>): void {
    const meter = h.meter && VfLeakageMeter.restore(h.meter);
    // (A window that does not add up starts again, as after a hole: the beats still decide.)
    this.#meter = meter;
    this.#ecgEndMs = meter ? h.ecgEndMs : undefined;
    this.#run = h.run.map((b) => ({ ...b }));
    this.#open = h.open && { ...h.open, recentRrMs: [...h.open.recentRrMs], similarity: h.open.similarity ?? Number.NaN, firstBeatMs: h.open.firstBeatMs ?? Number.NaN, lastBeatMs: h.open.lastBeatMs ?? Number.NaN, tail: (h.open.tail ?? []).map((b) => ({ ...b })), afterV: h.open.afterV ?? false };
    this.#vBeats = (h.vBeats ?? []).map((b) => ({ ...b }));
    this.#beatsDerived = h.beatsDerived;
    this.#readings.push(...h.readings.map((r) => ({ ...r })));
    this.#waveBelow = h.waveBelow;
    this.#waveOffMs = h.waveOffMs ?? -Infinity;
    this.#afterLastNonVMs = h.afterLastNonVMs ?? -Infinity;
    this.#lastBeatWasNonV = h.lastBeatWasNonV;
    this.#lastPushedBelow = h.lastPushedBelow;
    this.#pulsesMs = [...h.pulsesMs];
    this.#recentBeats = new RecentBeats(h.recentBeats ?? []);
    this.#seenUntilMs = h.seenUntilMs ?? -Infinity;
    this.#resumed = h.resumed && parsePendingBeatRun(h.resumed);
    if (this.#open) this.#queued.push({ type: 'onset', kind: this.kind, onsetMs: this.#open.onsetMs, evidence: this.#evidence(this.#open) });
  }

  #beat(beat: BeatEvent): EpisodeChange[] {
    this.#seenUntilMs = Math.max(this.#seenUntilMs, beat.timeMs);
    const resumed = this.#resumed;
    if (resumed && !seenBefore(resumed, beat.timeMs)) {
      this.#resumed = undefined;
      if (!this.#open && !this.#beatsDerived) {
        this.#run = resumed.beats.map((b) => ({ timeMs: b.timeMs, rrMs: b.rrMs, cls: 'V' as const }));
        this.#vBeats = resumed.beats.map((b) => ({ timeMs: b.timeMs, rrMs: b.rrMs }));
      }
    }
    this.#recentBeats.add(beat.timeMs, beat.rrMs, beat.cls);
    if (this.#lastBeatWasNonV) this.#afterLastNonVMs = beat.timeMs;
    this.#lastBeatWasNonV = beat.cls !== 'V';
    if (beat.cls !== 'V') {
      this.#afterLastNonVMs = beat.timeMs;
      this.#run = [];
      this.#vBeats = [];
      if (!this.#open) return [];
      this.#open.beatsHold = false;
      // Slow V beats after the run, then a non-ventricular beat: the run ended before them.
      this.#open.tail = [];
      this.#open.afterV = false;
      if (this.#waveBelow) return [];
      return [this.#end(Math.max(beat.timeMs, this.#waveOffMs))];
    }
    if (this.#open) {
      const o = this.#open;
      o.beatsHold = true;
      addRunBeat(o, beat.timeMs, o.afterV ? beat.rrMs : 0, this.#limitMs);
      return [];
    }
    // A re-delivered beat of the run taken over: already counted.
    if (this.#resumed) return [];
    // An unknown interval means the previous beat is unknown: the run starts again here.
    if (beat.rrMs <= 0) {
      this.#run = [];
      this.#vBeats = [];
    }
    this.#vBeats.push({ timeMs: beat.timeMs, rrMs: beat.rrMs });
    if (this.#vBeats.length > MAX_RUN_BEATS) this.#vBeats.shift();
    this.#run.push(beat);
    if (this.#run.length > this.#p.minBeats) this.#run.shift();
    if (this.#run.length < this.#p.minBeats) return [];
    const intervals = this.#run.slice(1).map((b) => b.rrMs);
    const rrSumMs = intervals.reduce((a, b) => a + b, 0);
    if (!isVtRate(intervals, this.#p.hrAboveBpm)) return [];
    // Unlike complexes are noise read as ventricular beats: the window slides on, and a VT whose
    // first complexes are disturbed is raised a beat or two later.
    const similarity = this.#similarity(this.#run);
    if (similarity < this.#p.similarityMin) return [];
    // The qualifying window is the run so far, all of it (its one slow interval too, file comment).
    this.#open = {
      onsetMs: this.#run[0]!.timeMs, beatCount: this.#run.length, rrSumMs, intervals: intervals.length, recentRrMs: intervals,
      firstBeatMs: this.#run[0]!.timeMs, lastBeatMs: this.#run.at(-1)!.timeMs, tail: [], afterV: true,
      beatsHold: true, minLeakage: 1, similarity, byWaveform: false,
    };
    this.#run = [];
    return [{ type: 'onset', kind: this.kind, onsetMs: this.#open.onsetMs, evidence: this.#evidence(this.#open) }];
  }

  /**
   * Similarity of the run's complexes from the ECG the meter still holds (complex-similarity.ts);
   * NaN — not checked, the beats decide as before — for firmware beats, without ECG, when the check
   * is off, or when the ECG does not hold every complex (a run reaching back beyond the meter's
   * 12 s, a hole).
   */
  #similarity(run: readonly BeatEvent[]): number {
    const m = this.#meter;
    const endMs = this.#ecgEndMs;
    if (this.#p.similarityMin <= 0 || !this.#beatsDerived || !m || endMs === undefined) return Number.NaN;
    const peaks = run.map((b) => m.sampleCount - Math.round(((endMs - b.timeMs) * m.fsHz) / 1000));
    return consecutiveComplexSimilarity((i) => m.filteredAt(i), m.fsHz, peaks);
  }

  /** The open episode's evidence now: the run's beats, rate and length so far (Detector.openEvidence). */
  openEvidence(): { onsetMs: number; evidence: AlertEvidence } | undefined {
    const o = this.#whole.held ? undefined : this.#open;
    return o && { onsetMs: o.onsetMs, evidence: this.#evidence(o) };
  }

  onTime(time: TimeEvent): EpisodeChange[] {
    this.#whole.inputAt(time.nowMs);
    this.#seenUntilMs = Math.max(this.#seenUntilMs, time.nowMs);
    const changes = this.#takeQueued();
    if (this.#readings.length > 0 || this.#lastPushedBelow) changes.push(...this.#advance(time.nowMs));
    return changes;
  }

  onDiscontinuity(atMs: number): EpisodeChange[] {
    this.#whole.inputAt(atMs);
    this.#run = [];
    this.#vBeats = [];
    this.#recentBeats.clear();
    if (this.#open) this.#open.afterV = false;
    // A taken-over run survives only a hole the predecessor saw too (before what it saw).
    if (this.#resumed && atMs > this.#resumed.seenUntilMs) this.#resumed = undefined;
    return this.#takeQueued();
  }
}

/** Factory with the documented defaults (≥ 5 V beats, HR > 100 bpm, leakage < 0.65); all patient-adjustable. */
export function createVtDetector(params: Partial<VtParams> = {}): VtDetector {
  return new VtDetector({ ...VT_DEFAULTS, ...params });
}
