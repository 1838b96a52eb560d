/**
 * Beats for a device stream that carries ECG but no firmware beats (issue 12 item 3): ECG-only
 * devices, replayed CinC 2015/2017 records, or firmware whose beat output is missing.
 *
 * Sits in front of PatientStream: `frames(frame)` returns the frame(s) the detectors should see.
 * - Firmware mode (the frame has beats, or the device sent beats within the last
 *   {@link FIRMWARE_BEAT_MEMORY_MS}): the frame passes unchanged — firmware beats are trusted, and
 *   so is a silence the firmware reports (asystole), unless the processor's own QRS detector,
 *   running on the same ECG, finds the patient's complexes in it: then the firmware's beat output
 *   has failed, not the heart, and ECG mode takes over until the firmware's next beat (issue 12
 *   item 3; {@link FIRMWARE_OUTAGE_BEATS}). Monitors detect asystole from the ECG itself; before,
 *   frames with ECG showing normal QRS complexes but `beats: []` were a false asystole (high
 *   priority) for up to a minute (eval/firmware-beats-drop.ts). Only complexes like the patient's
 *   learned dominant beat count, so a flat line, noise, or P waves without QRS (ventricular
 *   standstill) stay an asystole, raised at the same device time as before. After a switch, 4 s
 *   without such a complex (nor a fast rhythm) hand the silence back to the firmware
 *   (`#outageLike`): a standstill that follows one, its P waves read as derived beats meanwhile,
 *   is raised ≈ 4 s later.
 * - ECG mode (no firmware beat for that long, or never, and the frame has `ecg`): the frame's
 *   samples go through the stream's {@link QrsDetector}; what comes out is a frame covering the
 *   device time in which the detector's beats are final ([previous watermark, new watermark)),
 *   with those beats (R-peak offset, RR, morphology class). Its end lags the input by 0.27–0.56 s
 *   (one MWI window and margins behind a rising candidate or the input; more while a search-back
 *   is possible, bounded by 1.5 mean RR, or while a beat is held); a beat itself comes out
 *   ≈ 0.6 s after its R peak, once no later candidate can replace it (eval/beat-lag.ts).
 * The QRS detector runs on every ECG frame, in both modes, so it is warmed up when it is needed.
 * When firmware beats come back in ECG mode, the derived beats up to that frame go out first, as
 * at the end of any run of ECG (below); until session 30 the ≈ 0.6 s not yet handed out were lost.
 * Output frames never go back in device time (PatientStream and the detectors need order).
 * Lead-off, a hole in the frames or a change of sampling rate restarts the detector (its
 * 2 s learning period follows); lead-off frames pass through so the detectors see them.
 *
 * Restarts (processor restart, partition move): a fresh source would restart the detector at the
 * first frame it sees, lose the beats the old one had not yet handed out (its ~0.5–3 s decision
 * lag) and give its first beat no RR, which ends a brady/tachy run whose alarm delay is running
 * (limit-rate.ts). So while such a delay runs the processor's changelog keeps {@link
 * EcgBeatState} (stream-state.ts `ecgBeats`): the ECG of the current detector run from
 * {@link RESUME_LEAD_MS} before the last handed-out beat, the handed-out beats in it and the
 * output position. A successor whose first frame continues that ECG runs a new detector over it
 * first, so the detector has been running across the span between the last handed-out beat and
 * the next one: the next beat's RR is a measured interval, not a guess across a blind spot, and
 * the beats the predecessor had not handed out are found. Why not the interval from the last
 * handed-out beat alone: beats in the lag window and at the new detector's start would be missed,
 * and a missed beat makes one long "interval" — a false bradycardia beat, or the end of a
 * tachycardia run. Why not serialize the detector in these records: its filters, thresholds and
 * histories are ≈ 5 kB at 250 Hz, and the records are rewritten with every batch; its input is
 * the public contract. A graceful hand-over (processor.ts `stop`), written once per stream and
 * stop, does carry the detector itself ({@link EcgBeatState.exact}): the re-run above is close but
 * not exact — thresholds learned again from 2 s, beat shapes that take in the re-read beats a
 * second time — and changed a beat's class or time within a minute after 26 % of hand-overs on the
 * mitdb records (bench/ecg-handover-sweep.ts; 0 with the detector's state).
 */
import { z } from 'zod';
import { BEAT_CLASSES, type Beat, type TelemetryFrame } from '../contracts/telemetry.ts';
import type { EpisodeChange } from './detectors/detector.ts';
import { base64ToInt16, int16ToBase64 } from './int16-base64.ts';
import { ecgChunkOf, type PatientStream } from './patient-stream.ts';
import { QRS_DEFAULTS, QrsDetector, qrsSnapshotSchema, type QrsBeat, type QrsParams, type QrsSnapshot } from './detectors/qrs-detector.ts';
import { MORPHOLOGY_DEFAULTS, type MorphologyTemplates } from './detectors/qrs-morphology.ts';
import { LEAD_OFF_DEFAULTS } from './technical.ts';
import { ASYSTOLE_DEFAULTS } from './detectors/asystole.ts';
import { SILENCE_PENDING_MS } from './detectors/silence.ts';
import { VT_DEFAULTS } from './detectors/vt.ts';

/** ECG-derived beats are used once the firmware has sent no beat for this long (device time), ms. */
export const FIRMWARE_BEAT_MEMORY_MS = 60_000;
/**
 * A silence of the firmware's beats is its beat output failing, not the heart, once the QRS
 * detector has found this many intervals in a row between complexes like the patient's learned
 * dominant beat in it (see {@link EcgBeatSource} `#firmwareSilenceFails`): one — the firmware's
 * last beat as the detector saw it, and one more complex like it that the firmware did not report.
 * Each further interval waits one more RR and ≈ 0.6 s for the detector's decision, and complexes
 * in device time the firmware's frames have already covered are lost: with two, the derived beats
 * began ≈ 3 RR after the last firmware beat, past the 4 s of the asystole criterion below
 * ≈ 45/min (eval/firmware-beats-drop.ts, synthetic rhythms: a false asystole at 40/min). Should a
 * complex be mistaken for the patient's QRS, ECG mode still shows a flat line as an asystole, from
 * that complex on (a delay, not a missed alarm).
 */
export const FIRMWARE_OUTAGE_BEATS = 1;
/**
 * A complex the QRS detector finds within this of the firmware's latest beat is that beat, ms:
 * the match window of beat-by-beat comparison (ANSI/AAMI EC57, 150 ms).
 */
const FIRMWARE_BEAT_MATCH_MS = 150;
/**
 * Intervals between the complexes of a {@link FIRMWARE_OUTAGE_BEATS} row, ms: shorter than the
 * asystole criterion (no QRS for 4 s: a shorter interval between the patient's complexes is no
 * asystole), and not faster than 240/min (faster is no succession of the patient's own QRS
 * complexes: flutter/fibrillation waves, or a complex counted twice).
 */
const OUTAGE_RR_MIN_MS = 250;
const OUTAGE_RR_MAX_MS = ASYSTOLE_DEFAULTS.minGapMs;
/**
 * Complexes found closer than this during a firmware beat-output failure are a fast rhythm (the VT
 * criterion's rate, vt.ts `hrAboveBpm`): the derived beats go on for the detectors to judge, even
 * without a complex like the patient's dominant beat (`#outageLike`), ms.
 */
const OUTAGE_FAST_RR_MS = 60_000 / VT_DEFAULTS.hrAboveBpm;
/** Firmware beats kept to match the QRS detector's complexes with ({@link FIRMWARE_BEAT_MATCH_MS}), ms: its decision lag is ≤ 1.5 mean RR, the mean capped at 2 s. */
const FIRMWARE_BEATS_KEPT_MS = 3000;

/**
 * A firmware beat-output failure found (issue 12 item 3): the firmware's latest beat, and where the
 * complexes the QRS detector found since then made it one (device time, ms). For the processor's
 * log and metric (telemetry-pipeline.ts).
 */
export interface FirmwareOutage {
  lastFirmwareBeatMs: number;
  detectedAtMs: number;
}
/**
 * The patient's beat shapes survive a lead-off shorter than this, ms: the lead-off alarm's delay
 * (technical.ts, 10 s), which tells a patch that moved from electrodes that came off. Putting
 * electrodes back takes longer.
 */
const SHAPES_SURVIVE_LEAD_OFF_MS = LEAD_OFF_DEFAULTS.minDurationMs;
/** A frame starting further than this from where the ECG left off restarts the detector, ms. */
const ECG_CONTINUITY_MS = 50;
/**
 * A successor's detector starts at least this long before the last handed-out beat (unless that is
 * where the run started): the QRS detector's learning period (qrs-detector.ts), so it has settled
 * its filters and thresholds before the beats it hands out, ms.
 */
const RESUME_LEAD_MS = QRS_DEFAULTS.learningMs;
/**
 * ECG kept for a successor at most, ms: the lead, a 30 bpm interval, the detector's decision lag
 * (≤ 1.5 mean RR, the mean capped at 2 s) and a 5 s frame (device-protocol.md's longest).
 */
const MAX_RESUME_ECG_MS = 12_000;

/**
 * What a successor needs to continue an ECG-only stream's beats (format 1; the processor's
 * changelog, stream-state.ts `ecgBeats`). Samples are int16 (the contract's range), base64 little-endian.
 */
export interface EcgBeatState {
  v: 1;
  /** Device time up to which derived frames were handed out, ms. */
  outUntilMs: number;
  /** Device time the detector run started at (after the last hole, lead-off or change of rate), ms. */
  runStartMs: number;
  /** Handed-out beats (R-peaks, device time ms) within the ECG below: the last one gives the next beat its RR. */
  beatsMs: number[];
  /** The current detector run's latest ECG frames, oldest first, back to back (`pace`: the frame's flagged pacer pulses, if any). */
  ecg: { ts: number; durMs: number; fs: number; uV: string; pace?: number[] }[];
  /**
   * Written at a graceful hand-over only (processor.ts `stop`): the QRS detector itself and the
   * beats it found but had not handed out, so a successor whose first frame continues the ECG goes
   * on exactly (see {@link EcgBeatSource.state}). Optional: regular records and older hand-overs
   * have none, and a successor whose first frame starts elsewhere runs over {@link ecg} instead.
   */
  exact?: ExactBeatSourceState;
}

/** {@link EcgBeatState.exact}. */
export interface ExactBeatSourceState {
  /** Device time the next frame's ECG continues at (the exact state is for that frame only). */
  nextEcgMs: number;
  /** Device time of the detector's sample 0 (re-anchored on the device clock at every frame), ms. */
  t0Ms: number;
  /** The last handed-out beat (R peak, device time ms): the next beat's RR is measured from it. */
  lastBeatMs?: number;
  /** Beats detected but not handed out yet (device time ms, class). */
  beats: { tMs: number; cls: Beat['cls'] }[];
  qrs: QrsSnapshot;
}

const exactBeatSourceStateSchema = z.object({
  nextEcgMs: z.number(),
  t0Ms: z.number(),
  lastBeatMs: z.number().optional(),
  beats: z.array(z.object({ tMs: z.number(), cls: z.enum(BEAT_CLASSES) })),
  qrs: qrsSnapshotSchema,
});

/** Format 1 of {@link EcgBeatState} as it comes back from the changelog (z.number() is finite). */
export const ecgBeatStateSchema = z.object({
  v: z.literal(1),
  outUntilMs: z.number(),
  runStartMs: z.number(),
  beatsMs: z.array(z.number()),
  ecg: z.array(z.object({ ts: z.number(), durMs: z.number().positive(), fs: z.number().int().positive(), uV: z.base64(), pace: z.array(z.number().int().min(0)).optional() })
    .refine((f) => Buffer.byteLength(f.uV, 'base64') === 2 * Math.floor((f.fs * f.durMs) / 1000), 'samples must match fs × durMs')).min(1),
  exact: exactBeatSourceStateSchema.optional(),
});

/**
 * The beat shapes the labeller learned (qrs-morphology.ts `MorphologyTemplates`) in the processor's
 * changelog (stream-state.ts `beatShapes`, format 1): waves as int16 base64, like the ECG.
 */
export interface BeatShapesState {
  v: 1;
  fsHz: number;
  templates: { wave: string; qrsMs: number; widths: number[]; paced: boolean; weight: number; normalRateWeight?: number }[];
  /** The first beats after a lead-off are still being checked for a patch put back turned (qrs-morphology.ts `polarityUnchecked`). */
  polarityUnchecked?: true;
  /**
   * Written during a lead-off: device time it began. The successor then keeps the shapes only if
   * the lead-off ends within {@link SHAPES_SURVIVE_LEAD_OFF_MS} of it, and checks the first beats
   * after it for a turned patch, as the predecessor would have.
   */
  leadOffSinceMs?: number;
}

export const beatShapesStateSchema = z.object({
  v: z.literal(1),
  fsHz: z.number().int().positive(),
  templates: z.array(z.object({ wave: z.base64(), qrsMs: z.number(), widths: z.array(z.number()), paced: z.boolean(), weight: z.number().nonnegative(), normalRateWeight: z.number().nonnegative().optional() })).min(1).max(8),
  polarityUnchecked: z.literal(true).optional(),
  leadOffSinceMs: z.number().optional(),
});

/**
 * A firmware beat-output failure the stream has switched to ECG-derived beats for ({@link
 * FIRMWARE_OUTAGE_BEATS}), in the processor's changelog (stream-state.ts `firmwareOutage`, format
 * 1): what the fall-back to the firmware's silence (`#outageLike`) needs, so a successor restarted
 * during the switch hands the silence back to the firmware as the predecessor would have. Without
 * it (older records: `beatsFromEcg` alone) the successor took the stream for an ECG-only device and
 * a ventricular standstill whose P waves the QRS detector reads kept the derived beats going: no
 * asystole.
 */
export interface FirmwareOutageState {
  v: 1;
  /** The firmware's latest beat, device time ms: its silence stands again after the fall-back (within {@link FIRMWARE_BEAT_MEMORY_MS}). */
  lastFirmwareBeatMs: number;
  /** The latest complex like the patient's dominant beat, device time ms: the fall-back comes {@link OUTAGE_RR_MAX_MS} past it. */
  likeLastMs: number;
  /**
   * Which of the record's `beatShapes` templates that dominant beat is (their order); absent when
   * it is not named (a restart of the QRS detector since the switch: its first dominant-like
   * complex names it) or not among them. A successor whose first detector starts from those shapes
   * counts complexes like that template only, as the predecessor did, not like a shape that has
   * become dominant since (tall P waves voting beat after beat in a standstill).
   */
  dominant?: number;
  /** Complexes the QRS detector found in the last {@link OUTAGE_RR_MAX_MS} × 2 (device time ms): no fall-back while they come fast. */
  foundMs: number[];
}

export const firmwareOutageStateSchema = z.object({
  v: z.literal(1),
  lastFirmwareBeatMs: z.number(),
  likeLastMs: z.number(),
  dominant: z.number().int().min(0).optional(),
  foundMs: z.array(z.number()),
});

export class EcgBeatSource {
  readonly #params: Partial<QrsParams>;
  #qrs: QrsDetector | undefined;
  /** Device time of sample 0 of the current detector run, ms. */
  #t0Ms = 0;
  /** Device time the ECG continues at. */
  #nextEcgMs: number | undefined;
  #lastFirmwareBeatMs = -Infinity;
  /**
   * The current silence of the firmware's beats is its beat output failing ({@link
   * FIRMWARE_OUTAGE_BEATS}): ECG-derived beats until the firmware's next beat.
   */
  #firmwareOutage = false;
  /**
   * During {@link #firmwareOutage}: the latest complex like the patient's dominant beat — the
   * template the switch confirmed (`token`; after a restart of the detector, the first dominant-like
   * complex's, its shapes being the same ones adopted), as the switch counts them: class `N`,
   * correlation ≥ `matchCorr`, learned. Once the QRS detector has decided {@link OUTAGE_RR_MAX_MS}
   * (the asystole criterion) past it without another, and no two complexes it found in that time
   * came faster than {@link OUTAGE_FAST_RR_MS} (a VT or fast rhythm, for the detectors to judge on
   * the derived beats), the ECG no longer shows the patient's QRS and the firmware's silence stands
   * again, as before the switch. Otherwise a ventricular standstill after a last QRS the firmware
   * missed, or during its beat-output failure, was never an asystole: its tall P waves went out as
   * derived `V` beats at 70/min (review of a7b472a, test/processor/firmware-outage-standstill.test.ts).
   * The derived beats already handed out delay that asystole (counted from the last of them).
   */
  #outageLike: { token: object | undefined; lastMs: number } | undefined;
  /** During {@link #firmwareOutage}: every complex the QRS detector found, device time, the last ≈ {@link OUTAGE_RR_MAX_MS}. */
  #outageFoundMs: number[] = [];
  /**
   * {@link rememberFirmwareOutage}: the predecessor's dominant template among the beat shapes it
   * left ({@link FirmwareOutageState.dominant}), named at this source's first QRS detector.
   */
  #outageDominantIndex: number | undefined;
  /**
   * {@link rememberFirmwareOutage}: the predecessor's latest complex noted, until the first frame
   * ({@link frames}) says whether this source's QRS detector runs again over the predecessor's
   * kept ECG ({@link #prime}; then {@link #outageRerun}) or takes the predecessor's detector ({@link
   * #resumeExactly}: nothing is found twice) or starts afresh (neither).
   */
  #outageNotedUntilMs = -Infinity;
  /**
   * The QRS detector run again over a predecessor's kept ECG ({@link #prime}) finds the
   * predecessor's complexes a second time: noted twice, one complex made a "fast rhythm" (0 ms
   * apart) that held off the fall-back. Its complexes up to the match window after `untilMs` (the
   * predecessor's latest noted) are skipped — that detector's only (`qrs`), and only until it finds
   * a later complex, the outage ends or the detector restarts (a hole, lead-off, a clock step):
   * those complexes are new. Before, the skip stayed for the rest of the process: after a device
   * clock step back, complexes of a later outage were not noted (the fall-back came 4 s into it,
   * the patient's QRS present), and after an exact hand-over a complex the restored detector adds
   * before that point (search-back) was skipped though the predecessor would have noted it.
   */
  #outageRerun: { qrs: QrsDetector; untilMs: number } | undefined;
  /**
   * In firmware mode ({@link #firmwareSilenceFails}): complexes like the dominant beat found in a
   * row that the firmware did not report, and the latest complex like it in that row or reported
   * by the firmware (undefined: the row is broken until the firmware reports such a complex).
   */
  #outageRun = { beats: 0, lastMs: undefined as number | undefined, dominant: undefined as object | undefined };
  /** The firmware's beats of the last {@link FIRMWARE_BEATS_KEPT_MS} (device time, ms): the QRS detector finds their complexes up to ≈ 1.5 RR later. */
  #firmwareBeatsMs: number[] = [];
  /** Outages found since {@link takeFirmwareOutages} was last called. */
  #outages: FirmwareOutage[] = [];
  /** Complexes the QRS detector found in the current frame (device time, like the dominant beat). */
  readonly #found: { tMs: number; dominant: object | undefined }[] = [];
  /** Device time up to which frames have been handed out. */
  #outUntilMs: number | undefined;
  #lastBeatMs: number | undefined;
  readonly #scratch: QrsBeat[] = [];
  /** Beats detected but not yet handed out (their time is not final yet in firmware mode). */
  #beats: { tMs: number; cls: Beat['cls'] }[] = [];
  /** Device time the current detector run started at. */
  #runStartMs = 0;
  /** The current detector run's recent input frames (references), for {@link state}. */
  #ecgTail: { ts: number; durMs: number; fs: number; uV: number[]; pace?: number[] }[] = [];
  /** Recently handed-out derived beats, device time ms (those within {@link #ecgTail}). */
  #handedMs: number[] = [];
  /** {@link resume}: a predecessor's state, applied at the first frame. */
  #resume: EcgBeatState | undefined;
  /**
   * The patient's beat shapes, for the next QRS detector of this stream: the last detector's,
   * kept across missing ECG (a hole, frames without ECG), a processor restart
   * ({@link rememberBeatShapes}) and a lead-off shorter than {@link SHAPES_SURVIVE_LEAD_OFF_MS}.
   * Without them a detector started inside a sustained VT took the VT's complex for the patient's
   * beat and read it `N`: one lost frame ended the VT alarm while the VT went on (issue 12 session
   * 19). After a longer lead-off the electrodes may have been put back elsewhere, and the beat
   * looks different: it is learned afresh, as kept shapes would read every beat `V`.
   */
  #learned: MorphologyTemplates | undefined;
  /** {@link rememberNoQrsSince}, until the first QRS detector is made (or restored: {@link #resumeExactly}). */
  #noQrsSinceMs: number | undefined;
  /** Start of the current lead-off (device time), until ECG with contact comes again. */
  #leadOffSinceMs: number | undefined;
  /** The current lead-off began while the stream's beats came from its ECG: its shapes go on into the changelog. */
  #leadOffInEcgMode = false;
  /** Beats found too late to hand out since {@link takeDroppedLateBeats} was last called. */
  #lateBeats = 0;
  /**
   * Device time a predecessor had handed out to when this source took over ({@link resume}): the
   * beats a re-run finds before it were the predecessor's to hand out, so skipping them is no loss.
   */
  #predecessorOutMs = -Infinity;

  constructor(params: Partial<QrsParams> = {}) {
    this.#params = params;
  }

  /**
   * How many derived beats were dropped since the last call because the detector found them
   * after their device time had been handed out (resets the count). Should always be 0: the
   * QRS detector's `finalBefore` is built so that it is.
   */
  takeDroppedLateBeats(): number {
    const n = this.#lateBeats;
    this.#lateBeats = 0;
    return n;
  }

  /**
   * Learns the patient's beat shapes afresh from the next beats (the care team's relearn: the
   * criteria record's `relearns`, stream-runtime.ts). What it is for: shapes that no longer fit the
   * patient — a patch put back at another angle after a short lead-off, or a stream that began
   * inside a VT and learned the VT's complex — read the patient's own beats `V`, and during a
   * sinus tachycardia that is a false VT alarm that stays open. Bedside monitors give the
   * clinician the same action ("relearn arrhythmia"), with the same caution: relearning during a
   * ventricular rhythm learns that rhythm as the patient's beat. Firmware beat classes are the
   * device's and are not changed.
   */
  relearn(): void {
    this.#qrs?.relearnMorphology();
    this.#learned = undefined;
  }

  /** Whether the last frame was analysed with ECG-derived beats (or carried no rhythm in that mode: {@link noRhythm}). */
  ecgMode = false;

  /**
   * Whether the last frame carried no rhythm: the stream's beats come from its ECG, and this
   * lead-on frame has neither ECG nor beats (an ECG-only device whose ECG was switched off by a
   * `config` command, or a frame that lost it). It says nothing about the heart, so it goes to no
   * detector: for them it is missing data, a hole, never a silence. Before issue 12 session 19 it
   * passed on as a frame without beats, and after 4 s raised a false asystole. The processor's
   * technical alarm for it is `NoRhythmMonitor` (technical.ts).
   */
  noRhythm = false;

  /**
   * The firmware beat-output failures found since the last call (resets the list): each time the
   * stream switched to ECG-derived beats inside a silence of the firmware's beats.
   */
  takeFirmwareOutages(): FirmwareOutage[] {
    const out = this.#outages;
    if (out.length > 0) this.#outages = [];
    return out;
  }

  /** Frames to analyse for one incoming frame (in device-time order), zero or more. */
  frames(frame: TelemetryFrame): TelemetryFrame[] {
    const resume = this.#resume;
    this.#resume = undefined;
    const exactly = resume !== undefined && this.#resumeExactly(resume, frame);
    const resumeFromMs = resume && !exactly ? this.#prime(resume, frame) : undefined;
    const endMs = frame.ts + frame.durMs;
    if (frame.beats.length > 0) {
      this.#lastFirmwareBeatMs = frame.ts + frame.beats.at(-1)!.off;
      this.#firmwareOutage = false;
      this.#outageRerun = undefined;
      this.#outageRun.beats = 0;
      const fw = this.#firmwareBeatsMs;
      for (const b of frame.beats) fw.push(frame.ts + b.off);
      while (fw.length > 0 && fw[0]! < this.#lastFirmwareBeatMs - FIRMWARE_BEATS_KEPT_MS) fw.shift();
    } else if (this.#firmwareOutage && this.#outageShowsNoQrs()) {
      // The firmware's silence is trusted again (#outageLike); this frame ends the derived run,
      // handing out what it found.
      this.#firmwareOutage = false;
      this.#outageRerun = undefined;
    }
    let firmware = frame.beats.length > 0 || (endMs - this.#lastFirmwareBeatMs < FIRMWARE_BEAT_MEMORY_MS && !this.#firmwareOutage);
    // A run of ECG that ends (lead-off, a hole, no ECG, another rate) hands out every beat found in
    // it; so does the run whose beats the firmware's take over from (its beat output was missing).
    // No complex comes twice at that switch: the run hands out only complexes decided before its
    // end (≥ ≈ 0.2 s before it, the MWI having peaked), the firmware only beats after it.
    this.#found.length = 0;
    const handedBeforeMs = this.#lastBeatMs;
    const ended = this.#feedEcg(frame, this.ecgMode, this.ecgMode && firmware);
    const before = ended ? [ended] : [];
    // (Only a detector that ran over the kept ECG, from its start, finds the predecessor's complexes again.)
    const notedUntilMs = this.#outageNotedUntilMs;
    this.#outageNotedUntilMs = -Infinity;
    if (resumeFromMs !== undefined && this.#qrs && this.#runStartMs === resumeFromMs && Number.isFinite(notedUntilMs)) this.#outageRerun = { qrs: this.#qrs, untilMs: notedUntilMs };
    if (this.#firmwareOutage) this.#noteOutageComplexes();
    const outage = firmware && !this.ecgMode && this.#firmwareSilenceFails();
    if (outage && frame.beats.length === 0 && endMs - this.#lastFirmwareBeatMs >= SILENCE_PENDING_MS) {
      firmware = false;
      this.#firmwareOutage = true;
      this.#outageLike = { token: this.#outageRun.dominant, lastMs: this.#outageRun.lastMs! };
      this.#outageFoundMs = [];
      this.#outageRerun = undefined;
      this.#outages.push({ lastFirmwareBeatMs: this.#lastFirmwareBeatMs, detectedAtMs: endMs });
      // Complexes in the device time the firmware's frames have covered are gone with them (the
      // output never goes back): the derived beats start where those frames ended.
      const fromMs = this.#outUntilMs ?? -Infinity;
      this.#beats = this.#beats.filter((b) => b.tMs >= fromMs);
    }
    if (resume && !exactly && resumeFromMs !== undefined) this.#continueFrom(resume, frame.ts, resumeFromMs);
    this.noRhythm = this.ecgMode && !firmware && !frame.ecg && !frame.leadOff;
    if (this.noRhythm) {
      // (#feedEcg restarted the QRS detector: the ECG that follows starts a new run.) The detectors
      // see a hole from where the derived frames ended to where the next ones start.
      this.#outUntilMs = Math.max(this.#outUntilMs ?? endMs, endMs);
      return before;
    }
    if (firmware || !frame.ecg || frame.leadOff) {
      const wasEcgMode = this.ecgMode;
      this.ecgMode = false;
      this.#beats = [];
      // The derived beats up to here are superseded by this frame.
      this.#lastBeatMs = undefined;
      this.#handedMs = [];
      // (A successor needs ECG only in ECG mode: a firmware device keeps none.)
      this.#ecgTail = [];
      if (this.#outUntilMs !== undefined && frame.ts < this.#outUntilMs) {
        // Cannot happen for ordered input; keep the detectors' time monotone anyway.
        if (endMs <= this.#outUntilMs) return [];
      }
      this.#outUntilMs = endMs;
      return [...before, wasEcgMode && frame.beats.length > 0 ? this.#afterDerived(frame, ended, handedBeforeMs) : frame];
    }
    this.ecgMode = true;
    const watermarkMs = this.#qrs ? this.#t0Ms + (this.#qrs.finalBefore * 1000) / this.#qrs.fsHz : frame.ts;
    const out = this.#handOut(frame, Math.floor(watermarkMs));
    return out ? [...before, out] : before;
  }

  /**
   * The firmware's first frame with beats after ECG-derived ones: its first beat's RR is the
   * firmware's interval since the last beat *it* reported, across the derived beats (after a beat
   * output failure, the whole failure: a 9 s "interval" read as a brady beat, or, by a successor
   * that has no derived beat before it, as an asystole since the firmware's last beat — silence.ts
   * counts a device-measured RR). It becomes the interval from the last derived beat handed out
   * (0, unknown, when there is none).
   */
  #afterDerived(frame: TelemetryFrame, ended: TelemetryFrame | undefined, handedBeforeMs: number | undefined): TelemetryFrame {
    const lastEnded = ended?.beats.at(-1);
    const lastMs = lastEnded ? ended!.ts + lastEnded.off : handedBeforeMs;
    const rr = lastMs === undefined ? 0 : frame.ts + frame.beats[0]!.off - lastMs;
    const first = { ...frame.beats[0]!, rr: rr > 0 && rr <= 0xffff ? rr : 0 };
    return { ...frame, beats: [first, ...frame.beats.slice(1)] };
  }

  /**
   * Hands out the device time from where the output ended to `toMs` as one frame (the input
   * frame's fields, without ECG), with the found beats before `toMs`; undefined when there is none.
   */
  #handOut(frame: TelemetryFrame, toMs: number): TelemetryFrame | undefined {
    const fromMs = this.#outUntilMs ?? this.#t0Ms;
    if (toMs <= fromMs) return undefined;
    const beats: Beat[] = [];
    let k = 0;
    for (; k < this.#beats.length && this.#beats[k]!.tMs < toMs; k++) {
      const b = this.#beats[k]!;
      // Found after its device time went to the detectors: it cannot be handed out any more
      // (output never goes back in time). finalBefore is meant to make this impossible; counted,
      // so that it shows if it ever happens (pb_processor_ecg_beats_dropped_total).
      if (b.tMs < fromMs) {
        if (b.tMs >= this.#predecessorOutMs) this.#lateBeats++;
        continue;
      }
      const rr = this.#lastBeatMs === undefined ? 0 : b.tMs - this.#lastBeatMs;
      beats.push({ off: b.tMs - fromMs, rr: rr > 0 && rr <= 0xffff ? rr : 0, cls: b.cls });
      this.#lastBeatMs = b.tMs;
      this.#handedMs.push(b.tMs);
    }
    this.#beats.splice(0, k);
    this.#outUntilMs = toMs;
    this.#pruneTail();
    return { ...frame, ts: fromMs, durMs: toMs - fromMs, beats, hr: 0, leadOff: false, ecg: undefined };
  }

  /**
   * The current detector run's ECG ends (the caller restarts or drops the detector). With
   * `handOut` (the stream's beats come from its ECG), no later sample can change what the run
   * found: every beat found in it, the held ones too (QrsDetector.flushAtEnd), goes out now, in a
   * frame up to the run's end. Until session 29 the beats not yet handed out were dropped: the
   * 0.6–1.5 s of beats before every lead-off or hole (0.9 beats per lead-off on mitdb, EVALUATION.md §5).
   */
  #endRun(frame: TelemetryFrame, handOut: boolean): TelemetryFrame | undefined {
    const qrs = this.#qrs;
    if (!handOut || !qrs || this.#nextEcgMs === undefined) return undefined;
    this.#scratch.length = 0;
    this.#keepFound(qrs.flushAtEnd(this.#scratch), qrs);
    return this.#handOut(frame, this.#nextEcgMs);
  }

  /**
   * Feeds the frame's ECG to the QRS detector, restarting it where the ECG does not continue or
   * `newRun` says so; returns the frame that ends the previous run ({@link #endRun}).
   */
  #feedEcg(frame: TelemetryFrame, handOut: boolean, newRun: boolean): TelemetryFrame | undefined {
    const ecg = frame.ecg;
    if (!ecg || frame.leadOff) {
      // No conclusion spans missing ECG or lead-off: the next ECG restarts the detector.
      if (frame.leadOff && this.#leadOffSinceMs === undefined) {
        this.#leadOffSinceMs = frame.ts;
        // (Still the previous frame's mode: this frame's is decided after it is fed.)
        this.#leadOffInEcgMode = this.ecgMode;
      }
      const ended = this.#endRun(frame, handOut);
      this.#learned = this.#qrs?.morphologyTemplates() ?? this.#learned;
      this.#restart(undefined);
      return ended;
    }
    if (this.#leadOffSinceMs !== undefined && frame.ts - this.#leadOffSinceMs >= SHAPES_SURVIVE_LEAD_OFF_MS) this.#learned = undefined;
    const afterLeadOff = this.#leadOffSinceMs !== undefined;
    this.#leadOffSinceMs = undefined;
    let ended: TelemetryFrame | undefined;
    if (newRun || !this.#qrs || this.#qrs.fsHz !== ecg.fs || this.#nextEcgMs === undefined || Math.abs(frame.ts - this.#nextEcgMs) > ECG_CONTINUITY_MS) {
      ended = this.#endRun(frame, handOut);
      const qrs = new QrsDetector(ecg.fs, this.#params);
      // (Shapes learned at another rate are resampled to this one, and after a lead-off the first
      // beats check whether the patch went back on turned: qrs-morphology.ts adopt.)
      const learned = this.#qrs?.morphologyTemplates() ?? this.#learned;
      const adopted = learned !== undefined && qrs.adoptMorphology(learned, afterLeadOff);
      this.#learned = undefined;
      if (this.#noQrsSinceMs !== undefined) qrs.noteQrsAt(Math.floor(((this.#noQrsSinceMs - frame.ts) * ecg.fs) / 1000));
      this.#noQrsSinceMs = undefined;
      this.#restart(qrs);
      this.#nameOutageDominant(adopted);
      this.#t0Ms = frame.ts;
      this.#runStartMs = frame.ts;
      if (this.#outUntilMs === undefined || this.#outUntilMs < frame.ts) this.#outUntilMs = frame.ts;
    }
    const qrs = this.#qrs!;
    this.#scratch.length = 0;
    this.#keepFound(qrs.push(ecg.uV, this.#scratch, ecg.pace), qrs);
    // Re-anchor on the device clock: frames of a non-integer sample count must not drift.
    this.#nextEcgMs = frame.ts + frame.durMs;
    this.#t0Ms = this.#nextEcgMs - (qrs.samples * 1000) / qrs.fsHz;
    this.#ecgTail.push({ ts: frame.ts, durMs: frame.durMs, fs: ecg.fs, uV: ecg.uV, ...(ecg.pace?.length ? { pace: ecg.pace } : {}) });
    this.#pruneTail();
    return ended;
  }

  /** Keeps the detector's beats, in device time (whole ms, as the wire carries them), until they are handed out. */
  #keepFound(found: readonly QrsBeat[], qrs: QrsDetector): void {
    for (const b of found) {
      const tMs = Math.round(this.#t0Ms + ((b.sample + b.offset) * 1000) / qrs.fsHz);
      this.#beats.push({ tMs, cls: b.cls });
      // (Like the dominant beat: the template it matched, else undefined.)
      const like = b.cls === 'N' && b.templateCorr >= MORPHOLOGY_DEFAULTS.matchCorr && qrs.dominantLearned;
      this.#found.push({ tMs, dominant: like ? qrs.dominantToken : undefined });
    }
  }

  /**
   * In firmware mode: whether the complexes the QRS detector has found make the firmware's silence
   * a failure of its beat output — {@link FIRMWARE_OUTAGE_BEATS} intervals in a row, each {@link
   * OUTAGE_RR_MIN_MS} to {@link OUTAGE_RR_MAX_MS} long, between complexes like the patient's
   * learned dominant beat (qrs-morphology.ts: class `N`, correlation ≥ `matchCorr` with it and not
   * wider, the dominant beat learned from 15 beats), all but the first not reported by the
   * firmware. "Dominant" is the template that was dominant at the latest complex the firmware did
   * report and the detector saw like it (the two agreed on it): a shape that becomes dominant
   * during a real asystole (tall P waves, unlike the QRS, voting beat after beat: qrs-morphology.ts)
   * is another template, and never counts. Other complexes (ectopic, noisy, a P wave read as one)
   * neither count nor break the row; an interval out of range starts it again at its complex; a
   * restart of the detector (hole, lead-off) ends it until the firmware reports a complex again.
   * The caller switches only once the firmware has been silent for {@link SILENCE_PENDING_MS}: a
   * single beat the firmware missed is not its output failing.
   */
  #firmwareSilenceFails(): boolean {
    const run = this.#outageRun;
    for (const b of this.#found) {
      if (b.dominant === undefined) continue;
      if (this.#firmwareBeatsMs.some((t) => Math.abs(b.tMs - t) <= FIRMWARE_BEAT_MATCH_MS)) {
        // A beat the firmware reported, as the QRS detector saw it: the shape the row counts.
        run.beats = 0;
        run.lastMs = b.tMs;
        run.dominant = b.dominant;
        continue;
      }
      if (b.tMs <= this.#lastFirmwareBeatMs || b.dominant !== run.dominant) continue;
      const rr = run.lastMs === undefined ? NaN : b.tMs - run.lastMs;
      run.beats = rr >= OUTAGE_RR_MIN_MS && rr < OUTAGE_RR_MAX_MS ? run.beats + 1 : 0;
      run.lastMs = b.tMs;
    }
    return run.beats >= FIRMWARE_OUTAGE_BEATS;
  }

  /** During {@link #firmwareOutage}: notes the complexes found in this frame ({@link #outageLike}). */
  #noteOutageComplexes(): void {
    const like = this.#outageLike;
    const found = this.#outageFoundMs;
    if (this.#outageRerun && this.#outageRerun.qrs !== this.#qrs) this.#outageRerun = undefined;
    for (const b of this.#found) {
      // (The predecessor's complexes, found again by the re-run: up to the match window after its last one.)
      if (this.#outageRerun) {
        if (b.tMs < this.#outageRerun.untilMs + FIRMWARE_BEAT_MATCH_MS) continue;
        this.#outageRerun = undefined;
      }
      found.push(b.tMs);
      while (found[0]! < b.tMs - 2 * OUTAGE_RR_MAX_MS) found.shift();
      if (!like || b.dominant === undefined || (like.token !== undefined && b.dominant !== like.token)) continue;
      like.token ??= b.dominant;
      like.lastMs = Math.max(like.lastMs, b.tMs);
    }
  }

  /** {@link #outageLike}: the ECG has shown no QRS of the patient's for the asystole criterion, as far as the detector has decided. */
  #outageShowsNoQrs(): boolean {
    const qrs = this.#qrs;
    const like = this.#outageLike;
    if (!qrs || !like) return false;
    const decidedMs = this.#t0Ms + (qrs.finalBefore * 1000) / qrs.fsHz;
    if (decidedMs - like.lastMs < OUTAGE_RR_MAX_MS) return false;
    const found = this.#outageFoundMs.filter((t) => t >= decidedMs - OUTAGE_RR_MAX_MS).sort((a, b) => a - b);
    this.#outageFoundMs = found;
    return !found.some((t, i) => i > 0 && t - found[i - 1]! < OUTAGE_FAST_RR_MS);
  }

  /**
   * At the first QRS detector after {@link rememberFirmwareOutage}: names the predecessor's dominant
   * template in it, when it starts from the predecessor's shapes (`fromShapes`), the template
   * order being theirs; else the first dominant-like complex names it, as after any restart.
   */
  #nameOutageDominant(fromShapes: boolean): void {
    const index = this.#outageDominantIndex;
    if (index === undefined || !this.#qrs) return;
    this.#outageDominantIndex = undefined;
    if (fromShapes && this.#outageLike) this.#outageLike.token = this.#qrs.templateToken(index);
  }

  #restart(qrs: QrsDetector | undefined): void {
    this.#qrs = qrs;
    // (A new detector's templates are new objects: the first dominant-like complex names it again.)
    if (this.#outageLike) this.#outageLike.token = undefined;
    // (Intervals are not measured across the restart.)
    this.#outageRun = { beats: 0, lastMs: undefined, dominant: undefined };
    this.#nextEcgMs = undefined;
    this.#beats = [];
    this.#lastBeatMs = undefined;
    this.#ecgTail = [];
    this.#handedMs = [];
  }

  /** Keeps the ECG from {@link RESUME_LEAD_MS} before the last handed-out beat (at most {@link MAX_RESUME_ECG_MS}). */
  #pruneTail(): void {
    const tail = this.#ecgTail;
    if (this.#nextEcgMs === undefined) return;
    const keepFromMs = Math.max(this.#nextEcgMs - MAX_RESUME_ECG_MS, (this.#lastBeatMs ?? -Infinity) - RESUME_LEAD_MS);
    let drop = 0;
    while (drop + 1 < tail.length && tail[drop + 1]!.ts <= keepFromMs) drop++;
    if (drop > 0) tail.splice(0, drop);
    const fromMs = tail[0]?.ts ?? Infinity;
    while (this.#handedMs.length > 0 && this.#handedMs[0]! < fromMs) this.#handedMs.shift();
  }

  /**
   * In ECG mode: device time up to which the input holds no beat after the last one handed out,
   * as far as the QRS detector knows: the first beat found but not handed out yet (or still being
   * decided), else the end of the input. The derived frames lag it by the detector's decision
   * (0.27–0.56 s, up to 1.5 RR while a search-back may still add a weak beat). Undefined otherwise
   * (firmware beats come with their frames) and during the detector's learning period.
   */
  quietUntilMs(): number | undefined {
    const qrs = this.#qrs;
    if (!this.ecgMode || !qrs || qrs.learning || this.#nextEcgMs === undefined) return undefined;
    const undecided = qrs.firstUndecided;
    const undecidedMs = undecided === undefined ? Infinity : this.#t0Ms + (undecided * 1000) / qrs.fsHz;
    return Math.min(this.#beats[0]?.tMs ?? Infinity, undecidedMs, this.#nextEcgMs);
  }

  /**
   * What a successor needs to go on where this source is (see the file comment), in ECG mode;
   * undefined otherwise (firmware beats need nothing: they come with the frames).
   * `exact` (a graceful hand-over): also the QRS detector's own state ({@link EcgBeatState.exact},
   * ≈ 4.6 kB more at 250 Hz). A successor that runs a fresh detector over the kept ECG finds the
   * same beats almost always, but its thresholds and beat shapes are learned again from 2 s and
   * the beats it re-reads count twice in its shapes: measured on the mitdb records (both leads),
   * 26 % of hand-overs changed a beat's class or time within the next minute (EVALUATION.md §3). Paid once
   * per stream at a stop; the regular records, written with every batch, keep only the ECG.
   */
  state(options: { exact?: boolean } = {}): EcgBeatState | undefined {
    const tail = this.#ecgTail;
    if (!this.ecgMode || this.#outUntilMs === undefined || tail.length === 0) return undefined;
    const qrs = this.#qrs;
    const exact: ExactBeatSourceState | undefined = options.exact && qrs && this.#nextEcgMs !== undefined ? {
      nextEcgMs: this.#nextEcgMs,
      t0Ms: this.#t0Ms,
      ...(this.#lastBeatMs !== undefined ? { lastBeatMs: this.#lastBeatMs } : {}),
      beats: this.#beats.map((b) => ({ ...b })),
      qrs: qrs.snapshot(),
    } : undefined;
    return {
      v: 1,
      outUntilMs: this.#outUntilMs,
      runStartMs: this.#runStartMs,
      beatsMs: [...this.#handedMs],
      ecg: tail.map((f) => ({ ts: f.ts, durMs: f.durMs, fs: f.fs, uV: int16ToBase64(f.uV), ...(f.pace ? { pace: f.pace } : {}) })),
      ...(exact ? { exact } : {}),
    };
  }

  /**
   * Device time of the firmware's latest beat, while it still makes this source trust the
   * firmware (within {@link FIRMWARE_BEAT_MEMORY_MS} of the input, and its silence is not a beat
   * output failure, {@link FIRMWARE_OUTAGE_BEATS}: then the record says `beatsFromEcg` instead and
   * a successor goes on with ECG-derived beats); for the changelog.
   */
  recentFirmwareBeatMs(): number | undefined {
    // (In firmware mode the output is the input.)
    const untilMs = this.#outUntilMs;
    if (!Number.isFinite(this.#lastFirmwareBeatMs) || untilMs === undefined || untilMs - this.#lastFirmwareBeatMs >= FIRMWARE_BEAT_MEMORY_MS) return undefined;
    // Its silence is a beat-output failure: the successor starts on ECG-derived beats (`beatsFromEcg`).
    if (this.#firmwareOutage) return undefined;
    return this.#lastFirmwareBeatMs;
  }

  /**
   * A predecessor's {@link recentFirmwareBeatMs} (restart, partition move): a device with firmware
   * beats that restarts inside a silence the firmware reports (an asystole) keeps its silence, as
   * it did for the predecessor, instead of the beats this source would detect in its ECG.
   */
  rememberFirmwareBeat(timeMs: number): void {
    this.#lastFirmwareBeatMs = Math.max(this.#lastFirmwareBeatMs, timeMs);
    this.#firmwareBeatsMs.push(timeMs);
  }

  /**
   * The labeller's beat shapes for the changelog, in ECG mode or in a lead-off that began in it
   * (undefined otherwise, or before any beat). Without them in a lead-off, a processor restarted
   * there learned afresh at its end — inside a VT, the VT's complex as the patient's beat.
   */
  beatShapes(): BeatShapesState | undefined {
    const inLeadOff = this.#leadOffSinceMs !== undefined && this.#leadOffInEcgMode;
    const learned = this.ecgMode || inLeadOff ? (this.#qrs?.morphologyTemplates() ?? this.#learned) : undefined;
    if (!learned) return undefined;
    return {
      v: 1,
      fsHz: learned.fsHz,
      templates: learned.templates.map(({ wave, ...t }) => ({ ...t, wave: int16ToBase64(wave) })),
      ...(learned.polarityUnchecked ? { polarityUnchecked: true as const } : {}),
      ...(inLeadOff ? { leadOffSinceMs: this.#leadOffSinceMs } : {}),
    };
  }

  /**
   * A predecessor's open asystole (restart, partition move): no QRS since `ms` (its onset, the last
   * one). The first QRS detector starts knowing it, so its labeller drops the P waves of a
   * ventricular standstill at once (qrs-morphology.ts); without it the successor's first beats
   * for 3 s would be those P waves.
   */
  rememberNoQrsSince(ms: number): void {
    this.#noQrsSinceMs = ms;
  }

  /** A predecessor's {@link beatShapes} (restart, partition move): the first QRS detector starts from them. */
  rememberBeatShapes(state: BeatShapesState): void {
    const templates = state.templates.map(({ wave, ...t }) => ({ ...t, wave: Array.from(base64ToInt16(wave)) }));
    this.#learned = { fsHz: state.fsHz, templates, ...(state.polarityUnchecked ? { polarityUnchecked: true as const } : {}) };
    if (state.leadOffSinceMs !== undefined) {
      this.#leadOffSinceMs = state.leadOffSinceMs;
      this.#leadOffInEcgMode = true;
    }
  }

  /**
   * The switch to ECG-derived beats over a firmware beat-output failure, while it holds, for the
   * changelog ({@link FirmwareOutageState}); undefined otherwise.
   */
  firmwareOutageState(): FirmwareOutageState | undefined {
    const like = this.#outageLike;
    if (!this.#firmwareOutage || !like || !Number.isFinite(this.#lastFirmwareBeatMs)) return undefined;
    // (The record's beat shapes are this detector's templates, in this order: beatShapes.)
    const dominant = this.#qrs?.templateIndex(like.token) ?? -1;
    return {
      v: 1,
      lastFirmwareBeatMs: this.#lastFirmwareBeatMs,
      likeLastMs: like.lastMs,
      ...(dominant >= 0 ? { dominant } : {}),
      foundMs: [...this.#outageFoundMs],
    };
  }

  /**
   * A predecessor's {@link firmwareOutageState} (restart, partition move): the stream goes on with
   * ECG-derived beats, and falls back to the firmware's silence as the predecessor would have.
   */
  rememberFirmwareOutage(state: FirmwareOutageState): void {
    this.#lastFirmwareBeatMs = Math.max(this.#lastFirmwareBeatMs, state.lastFirmwareBeatMs);
    this.#firmwareOutage = true;
    this.#outageLike = { token: undefined, lastMs: state.likeLastMs };
    this.#outageFoundMs = [...state.foundMs];
    this.#outageDominantIndex = state.dominant;
    this.#outageNotedUntilMs = Math.max(state.likeLastMs, ...state.foundMs);
  }

  /**
   * A predecessor's {@link ecgMode} (restart, partition move): the stream's beats came from its
   * ECG, so a first frame without ECG or beats is {@link noRhythm}, not a silence.
   */
  rememberEcgMode(): void {
    this.ecgMode = true;
  }

  /** Continues from a predecessor's {@link state} (restart, partition move), if the first frame continues its ECG. */
  resume(state: EcgBeatState): void {
    this.#resume = state;
  }

  /**
   * The first frame after {@link resume}, before it is fed: when the state is a hand-over's
   * ({@link EcgBeatState.exact}) and the frame comes after the ECG the predecessor's detector has
   * seen (it continues it, by the rule by which a running detector goes on, {@link
   * ECG_CONTINUITY_MS}, or it does not), this source takes the predecessor's place exactly. False
   * otherwise (then the kept ECG is run over).
   */
  #resumeExactly(s: EcgBeatState, frame: TelemetryFrame): boolean {
    const x = s.exact;
    // A frame from inside the predecessor's ECG (re-delivered) is for #prime. Any later frame takes
    // the exact state, also one that does not continue the ECG (a hole, lead-off, no ECG, another
    // rate): #feedEcg then ends the run as the stopped source would have, handing out its held beats.
    if (!x || frame.ts < x.nextEcgMs - ECG_CONTINUITY_MS) return false;
    const qrs = QrsDetector.restore(x.qrs, this.#params);
    if (!qrs) return false;
    this.#restart(qrs);
    this.#nameOutageDominant(true);
    this.#t0Ms = x.t0Ms;
    this.#nextEcgMs = x.nextEcgMs;
    this.#beats = x.beats.map((b) => ({ ...b }));
    this.#lastBeatMs = x.lastBeatMs;
    this.#outUntilMs = s.outUntilMs;
    this.#predecessorOutMs = s.outUntilMs;
    this.#runStartMs = s.runStartMs;
    this.#handedMs = [...s.beatsMs];
    this.#ecgTail = s.ecg.map((f) => ({ ts: f.ts, durMs: f.durMs, fs: f.fs, uV: Array.from(base64ToInt16(f.uV)), ...(f.pace ? { pace: f.pace } : {}) }));
    // (The shapes are the detector's own; rememberBeatShapes' int16 copy is not needed. So is the
    // time of the last QRS, in its labeller: the hint is not for a later detector, after a hole or
    // lead-off, which the stopped source would have started with its own clock.)
    this.#learned = undefined;
    this.#noQrsSinceMs = undefined;
    return true;
  }

  /**
   * The first frame after {@link resume}, before it is fed: when it continues the predecessor's
   * kept ECG (a new frame, or one re-delivered from inside it), the detector runs over that ECG
   * up to the frame first. Returns where the detector starts (the frame itself when the kept ECG
   * is all re-delivered), or undefined when the frame does not continue it.
   */
  #prime(s: EcgBeatState, frame: TelemetryFrame): number | undefined {
    if (!frame.ecg || frame.leadOff) return undefined;
    if (frame.ts <= s.ecg[0]!.ts + ECG_CONTINUITY_MS) return frame.ts;
    const prime = s.ecg.filter((f) => f.ts + f.durMs <= frame.ts + ECG_CONTINUITY_MS);
    const last = prime.at(-1)!;
    if (Math.abs(frame.ts - (last.ts + last.durMs)) > ECG_CONTINUITY_MS) return undefined;
    // (The predecessor handed out what this ECG holds: a run ending inside it hands out nothing.)
    for (const f of prime) this.#feedEcg({ seq: 0, ts: f.ts, durMs: f.durMs, hr: 0, battery: 255, leadOff: false, beats: [], ecg: { fs: f.fs, uV: Array.from(base64ToInt16(f.uV)), ...(f.pace ? { pace: f.pace } : {}) } }, false, false);
    return prime[0]!.ts;
  }

  /**
   * After the first frame is fed: if the detector has been running since `startMs` (no hole,
   * lead-off or other rate since), the beats the predecessor handed out are not handed out again
   * and the next one gets its RR from the last of them — only when this detector had settled
   * (RESUME_LEAD_MS) before that beat, or repeats the predecessor's exactly (same start). Beats of
   * re-delivered frames are handed out again when the beat before them is such a beat (the
   * fresh detectors re-analyse them; the limit alarms skip what they counted), else from where
   * the predecessor stopped.
   */
  #continueFrom(s: EcgBeatState, frameMs: number, startMs: number): void {
    if (!this.#qrs || this.#runStartMs !== startMs || s.runStartMs > startMs) return;
    const settledFromMs = startMs === s.runStartMs ? -Infinity : startMs + RESUME_LEAD_MS;
    const lastBefore = (ms: number) => s.beatsMs.filter((t) => t < ms).at(-1);
    const settled = (t: number | undefined) => t !== undefined && t >= settledFromMs;
    let outMs = Math.min(s.outUntilMs, frameMs);
    if (!settled(lastBefore(outMs))) outMs = s.outUntilMs;
    const last = lastBefore(outMs);
    this.#outUntilMs = Math.max(outMs, this.#outUntilMs ?? outMs);
    this.#predecessorOutMs = Math.max(s.outUntilMs, this.#outUntilMs);
    this.#handedMs = s.beatsMs.filter((t) => t >= startMs && t < outMs);
    this.#lastBeatMs = settled(last) ? last : undefined;
    // For this source's own successor: the beats are the predecessor's run's.
    this.#runStartMs = s.runStartMs;
  }
}

/**
 * One input frame through the beat source into the stream's detectors — the one path the
 * processor (stream-runtime.ts) and the evaluation (eval/challenge2015.ts) share. In ECG mode the
 * derived frames carry no samples, so the input frame's ECG goes to the waveform detectors first
 * (it is ~0.5–1.4 s ahead of the derived beats; the detectors merge both on device time).
 */
export function detectThroughBeatSource(source: EcgBeatSource, stream: PatientStream, frame: TelemetryFrame): { frames: TelemetryFrame[]; changes: EpisodeChange[] } {
  const frames = source.frames(frame);
  if (source.ecgMode && frame.ecg && !frame.leadOff) stream.feedEcg({ ...ecgChunkOf(frame.ts, frame.ecg), beatsDerived: true });
  if (frames.length === 1) return { frames, changes: stream.detect(frames[0]!) };
  const changes: EpisodeChange[] = [];
  for (const f of frames) changes.push(...stream.detect(f));
  return { frames, changes };
}
