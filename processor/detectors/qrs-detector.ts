/**
 * Streaming QRS detector for one single-lead ECG (device-protocol.md `ecg`: 125–1000 Hz, µV):
 * beats for devices that stream ECG without firmware beats.
 *
 * Method: Pan & Tompkins (IEEE TBME 32(3):230–236, 1985) with the detection rules of Hamilton &
 * Tompkins (IEEE TBME 33(12):1157–1165, 1986), the "quantitative investigation" of that family
 * on the MIT-BIH database:
 *   1. band-pass 5–15 Hz (2nd-order Butterworth high- and low-pass, designed for the actual fs
 *      by the bilinear transform, so every rate from 125 to 1000 Hz gets the same response),
 *   2. derivative, squaring, 150 ms moving-window integration (MWI),
 *   3. MWI peaks: a local maximum, taken once the MWI falls to half of it,
 *   4. adaptive threshold from the means of the last 8 QRS and 8 noise peak levels
 *      (Hamilton & Tompkins: TH = noise + 0.3125 · (QRS − noise)), 200 ms refractory period,
 *      T-wave rejection within 360 ms of the previous QRS by maximum slope (Pan & Tompkins:
 *      < ½ of the previous QRS's slope), and search-back for a missed beat after 1.5 mean RR
 *      with half the threshold.
 * The R-peak is placed at the largest deviation of the wide-band signal (0.5–40 Hz) from its
 * local level near the MWI rise, not at the MWI peak (which lags the QRS by the window); the beat
 * labeller may report a beat on the other phase of a biphasic complex (qrs-morphology.ts).
 *
 * Each detected beat gets a morphology label from {@link BeatMorphology} (qrs-morphology.ts): `N`,
 * or `V` for a wide complex unlike the patient's dominant beat; VT needs ventricular beats and
 * the CinC 2015 records carry no firmware classes.
 *
 * Pacemaker pulses: a device whose ECG front end detects pacer pulses flags their sample indices
 * (`ecg.pace`, a JSON v1 extension; see {@link QrsDetector.push}). The detector then does what a
 * monitor's pace-pulse rejection does (IEC 60601-2-27 requires ECG monitors to reject pacer pulses
 * so that a pulse without capture is not counted as a heartbeat): it blanks the input from each
 * pulse for `paceBlankMs` (sample-and-hold of the last sample before it, as hardware blanking
 * does), so a pulse alone yields no beat and a loss of capture is the silence it is; and a beat
 * whose R peak follows a pulse within `pacedBeatMs` is labelled `Q` (AAMI: paced beats are class Q),
 * so a paced rhythm — wide complexes unlike any intrinsic beat — is neither counted as ventricular
 * beats (VT) nor read for atrial irregularity (AF); against a paced dominant beat the other beats
 * are labelled by width (qrs-morphology.ts). Without flags nothing changes: a pulse seen
 * only in the samples at 250 Hz cannot be told from a QRS reliably (one or two smeared samples).
 *
 * Streaming contract: feed samples in order with {@link QrsDetector.push}; beats come out in
 * time order, each at most a bounded delay after its R-peak ({@link QrsDetector.finalBefore}
 * tells up to which sample no further beat can appear, so a caller can advance time safely).
 * Memory is fixed at construction (ring buffers of a few seconds); push allocates nothing but
 * the beats it returns. Pure: no I/O, no clock; one instance per device stream.
 */
import type { BeatClass } from '../../contracts/telemetry.ts';
import { z } from 'zod';
import { BeatMorphology, morphologySnapshotSchema, type MorphologyParams, type MorphologyTemplates } from './qrs-morphology.ts';
import { Biquad, biquadMemorySchema } from './biquad.ts';
import { base64ToFloat32, float32ToBase64 } from '../int16-base64.ts';

export interface QrsBeat {
  /**
   * The beat's sample index since the detector's start (or last reset): its R peak, or the other
   * phase of a biphasic complex when that is where it matches the dominant beat (qrs-morphology.ts).
   */
  sample: number;
  /**
   * Where the peak at {@link sample} really lies, in samples from it (−0.5…0.5): the vertex of a
   * parabola through the wide-band signal at it and its two neighbours. Beat times then have
   * sub-sample resolution, as a firmware's at its own higher internal rate: an RR interval
   * rounded to whole samples (4 ms at 250 Hz) reads a rhythm just above a rate limit as at the limit
   * (issue 12 session 21: 122–125/min read 500 ms = 120/min, which breaks the tachy run).
   */
  offset: number;
  cls: BeatClass;
  /** Estimated QRS duration, ms. */
  qrsMs: number;
  /** Correlation with the dominant beat's template (1 = identical; NaN before one exists). */
  templateCorr: number;
}

export interface QrsParams {
  /** Band-pass corners of the detection path, Hz (Pan & Tompkins ≈ 5–15 Hz). */
  bandLowHz: number;
  bandHighHz: number;
  /** Moving-window integration width, ms (Pan & Tompkins: 150 ms). */
  integrationMs: number;
  /** No second QRS within this time, ms (physiological refractory period). */
  refractoryMs: number;
  /** Within this time of the previous QRS a candidate may be a T wave, ms. */
  tWaveWindowMs: number;
  /** Threshold coefficient (Hamilton & Tompkins 1986: 0.3125). */
  thresholdCoeff: number;
  /** Search back after this many mean RR intervals without a beat (Hamilton & Tompkins: 1.5). */
  searchBackRr: number;
  /** A candidate within the T-wave window replaces the previous beat when this much larger (MWI level). */
  replaceRatio: number;
  /**
   * Smallest QRS amplitude that counts, µV (the input must be µV, as device frames are): a lead
   * that reads only noise — electrodes off, a flat line — yields no beats however the adaptive
   * thresholds settle. Normal QRS complexes are 0.5–2 mV; 100 µV is far below any usable lead.
   */
  minQrsUv: number;
  /** Learning period after start/reset, ms: peaks are collected to set the first levels. */
  learningMs: number;
  /**
   * Input blanked after a flagged pacer pulse, ms: the pulse (0.1–2 ms, IEC 60601-2-27) smeared by
   * the device's anti-alias filter over a few samples at 250 Hz, and the fast part of its recharge.
   */
  paceBlankMs: number;
  /**
   * A beat whose R peak lies within this time after a flagged pulse is a paced beat (`Q`), ms: the
   * evoked QRS starts within a few ms of a ventricular pulse and is 120–200 ms wide, so its largest
   * deflection lies well inside; an atrial pulse precedes a conducted QRS by the AV delay (paced
   * AV delays ≥ 120 ms, plus the QRS onset-to-peak time), so that beat is left to the morphology labels.
   */
  pacedBeatMs: number;
  morphology?: Partial<MorphologyParams>;
}

export const QRS_DEFAULTS: QrsParams = {
  bandLowHz: 5,
  bandHighHz: 15,
  integrationMs: 150,
  refractoryMs: 200,
  tWaveWindowMs: 360,
  thresholdCoeff: 0.3125,
  searchBackRr: 1.5,
  replaceRatio: 1.5,
  learningMs: 2000,
  minQrsUv: 100,
  paceBlankMs: 20,
  pacedBeatMs: 140,
};

const LEVELS = 8;
/**
 * MWI level per µV² of R amplitude: measured on the synthetic beat of device-sim/ecg-synth.ts
 * (R 1100 µV → 3.2·10⁸ at 125, 250 and 1000 Hz; the derivative is per second, so the level
 * does not depend on fs). Only used for the {@link QrsParams.minQrsUv} floor.
 */
const MWI_LEVEL_PER_UV2 = 265;
/** The searched-back interval and the ring buffers are bounded by this, ms. */
const HISTORY_MS = 4000;
/** Longest RR that enters the mean RR (beyond it the mean would stop the search-back), ms. */
const MAX_RR_FOR_MEAN_MS = 2000;
/** An MWI maximum not followed by a higher one within this time is decided, ms. */
const MAX_PEAK_WAIT_MS = 300;
/** Share of (QRS level − noise level) kept after a search-back that found nothing. */
const EMPTY_SEARCH_DECAY = 0.5;

const peakSchema = z.object({ at: z.number(), level: z.number(), r: z.number(), slope: z.number() });

/** {@link QrsDetector.snapshot} (format 1): signal histories as float32 base64 (little-endian), the rest as kept. */
export const qrsSnapshotSchema = z.object({
  v: z.literal(1),
  fsHz: z.number().min(100).max(2000),
  n: z.number().int().nonnegative(),
  dc: z.number(),
  mwiSum: z.number(),
  rising: z.boolean(),
  prevMwi: z.number(),
  candAt: z.number().int(),
  candLevel: z.number(),
  filters: z.tuple([biquadMemorySchema, biquadMemorySchema, biquadMemorySchema, biquadMemorySchema]),
  /** The wide-band history from this sample on (what can still be read), the rings as kept. */
  wideFrom: z.number().int().nonnegative(),
  wide: z.base64(),
  bp: z.base64(),
  sq: z.base64(),
  qrsLevels: z.array(z.number()).max(LEVELS),
  noiseLevels: z.array(z.number()).max(LEVELS),
  rr: z.array(z.number()).max(LEVELS),
  lastQrs: peakSchema.optional(),
  since: z.array(peakSchema),
  learning: z.array(peakSchema).optional(),
  tentative: z.object({ peak: peakSchema, isLast: z.boolean(), before: peakSchema.optional(), qrsLevels: z.array(z.number()), rr: z.array(z.number()) }).optional(),
  emptySearchAt: z.number().int(),
  levelBeforeSilence: z.number(),
  unclassified: z.array(z.object({ r: z.number().int(), rr: z.number() })),
  pulses: z.array(z.number().int()),
  blankUntil: z.number().int(),
  held: z.number(),
  morphology: morphologySnapshotSchema,
});

export type QrsSnapshot = z.infer<typeof qrsSnapshotSchema>;

/** The latest accepted beat while a larger candidate may still replace it, and the state before it. */
interface Tentative {
  peak: Peak;
  before: Peak | undefined;
  qrsLevels: number[];
  rr: number[];
}

interface Peak {
  /** MWI peak sample. */
  at: number;
  level: number;
  /** R-peak sample on the wide-band signal. */
  r: number;
  /** Largest |slope| of the band-passed signal before the MWI peak. */
  slope: number;
}

/** Ring buffer addressed by absolute sample index. */
class Ring {
  readonly buf: Float32Array;
  constructor(size: number) { this.buf = new Float32Array(size); }
  set(i: number, v: number): void { this.buf[i % this.buf.length] = v; }
  get(i: number): number { return this.buf[i % this.buf.length]!; }
}

export class QrsDetector {
  readonly fsHz: number;
  readonly #p: QrsParams;
  readonly #ms: (ms: number) => number;
  // Signal path.
  readonly #hp: Biquad;
  readonly #lp: Biquad;
  readonly #wideHp: Biquad;
  readonly #wideLp: Biquad;
  readonly #bp: Ring;
  readonly #wide: Ring;
  readonly #sq: Ring;
  #mwiSum = 0;
  /** MWI level of the smallest QRS that counts. */
  readonly #floor: number;
  #dc = 0;
  readonly #win: number;
  #n = 0;
  // MWI peak finding.
  #rising = false;
  #prevMwi = 0;
  #candAt = -1;
  #candLevel = 0;
  // Decision state.
  readonly #qrsLevels: number[] = [];
  readonly #noiseLevels: number[] = [];
  readonly #rr: number[] = [];
  #lastQrs: Peak | undefined;
  /** Sub-threshold peaks since the last QRS: search-back candidates. */
  #since: Peak[] = [];
  #learning: Peak[] | undefined = [];
  readonly #morph: BeatMorphology;
  readonly #lookahead: number;
  #pending: QrsBeat[] = [];
  #tentative: Tentative | undefined;
  /** Sample of the last search-back that found nothing. */
  #emptySearchAt = -1;
  /** Mean QRS level when the current silence began (bounds the decay). */
  #levelBeforeSilence = 0;
  /** Accepted beats waiting for the samples after their R-peak (morphology). */
  #unclassified: { r: number; rr: number }[] = [];
  /** Flagged pacer pulses (sample indices) not older than the longest a beat waits for its label. */
  #pulses: number[] = [];
  /** Input is held at {@link #held} up to this sample (pacer-pulse blanking). */
  #blankUntil = -1;
  #held = 0;

  constructor(fsHz: number, params: Partial<QrsParams> = {}) {
    if (!(fsHz >= 100 && fsHz <= 2000)) throw new RangeError(`QRS detector: fs ${fsHz} Hz outside 100–2000 Hz`);
    this.fsHz = fsHz;
    this.#p = { ...QRS_DEFAULTS, ...params };
    this.#ms = (ms) => Math.max(1, Math.round((ms * fsHz) / 1000));
    this.#hp = Biquad.highPass(this.#p.bandLowHz, fsHz);
    this.#lp = Biquad.lowPass(this.#p.bandHighHz, fsHz);
    this.#wideHp = Biquad.highPass(0.5, fsHz);
    this.#wideLp = Biquad.lowPass(Math.min(40, fsHz * 0.4), fsHz);
    // Each ring holds only what is read back: the wide-band signal for beats found late
    // (search-back, tentative hold) and their morphology; the band-passed signal for locating an
    // MWI peak's QRS (≤ MAX_PEAK_WAIT + window + 50 ms back); the squared slope for the window.
    this.#wide = new Ring(this.#ms(HISTORY_MS) + 8);
    this.#bp = new Ring(this.#ms(MAX_PEAK_WAIT_MS + this.#p.integrationMs + 100) + 8);
    this.#sq = new Ring(this.#ms(this.#p.integrationMs) + 8);
    this.#win = this.#ms(this.#p.integrationMs);
    this.#floor = MWI_LEVEL_PER_UV2 * this.#p.minQrsUv ** 2;
    this.#morph = new BeatMorphology(fsHz, (i) => this.#wide.get(i), params.morphology);
    this.#lookahead = this.#morph.lookaheadSamples;
  }

  /** Bytes of signal history kept (ring buffers), for capacity planning. */
  get historyBytes(): number {
    return this.#wide.buf.byteLength + this.#bp.buf.byteLength + this.#sq.buf.byteLength;
  }

  /** Samples consumed since start or reset. */
  get samples(): number {
    return this.#n;
  }

  /**
   * No beat before this sample index will be reported any more: beats lag their R-peak by the
   * MWI and half-fall (≈ 0.3 s) and, while a search-back is possible, by up to
   * `searchBackRr` mean RR intervals.
   */
  get finalBefore(): number {
    // Until session 28 this assumed every candidate could be MAX_PEAK_WAIT old, which held the
    // output ≈ 0.3 s longer than needed whenever no candidate was rising, as through an
    // asystole's flat line.
    const settle = this.#undecidedRFrom;
    if (this.#learning) return 0;
    let final = settle;
    // A search-back can still recover only a peak of #since (those before the last empty
    // search-back are gone) that reaches the floor. Holding back to the last QRS instead, as long
    // as any sub-threshold peak was waiting, stalled the output through an asystole: a flat lead's
    // noise makes such peaks all the time, so an ECG-only asystole alarm came up to 17 s late
    // (node eval/silence-lag.ts).
    for (const c of this.#since) if (c.level >= this.#floor) final = Math.min(final, c.r);
    if (this.#tentative) final = Math.min(final, this.#tentative.peak.r);
    if (this.#unclassified.length > 0) final = Math.min(final, this.#unclassified[0]!.r);
    // A beat may be reported on the other phase of its complex (qrs-morphology.ts), up to
    // OTHER_PHASE_MS before its R peak: a held (tentative) beat can be the binding term above.
    // And its time lies up to half a sample before its sample (QrsBeat.offset): one more sample,
    // or a beat reported exactly there reads as before this bound and is dropped as late.
    return Math.max(0, final - this.#morph.maxShiftSamples - 1);
  }

  /**
   * The earliest sample the R peak of a candidate not decided yet can lie at: such a candidate is
   * the rising MWI's, or one whose rise is still to come, so its MWI maximum lies at the rising
   * candidate (or after the input) or later, and its R at most one window + 50 ms before that
   * maximum (#peakAt; 10 ms to spare).
   */
  get #undecidedRFrom(): number {
    return (this.#rising ? this.#candAt : this.#n) - this.#ms(this.#p.integrationMs + 60);
  }

  /**
   * The input ends here (a lead-off, a hole, a change of sampling rate; the caller then starts
   * another detector): no later sample can replace or add a beat, so the beats still held are
   * final. Appends the tentative beat and those waiting for their label to `out`, labelled as in
   * {@link push} when the samples after R are there, else `Q`: the end cuts the complex, as a
   * start does (qrs-morphology.ts). No search-back is run (it needs 1.5 mean RR without a QRS).
   */
  flushAtEnd(out: QrsBeat[] = []): QrsBeat[] {
    this.#flushTentative();
    const last = this.#n - 1;
    for (const { r, rr } of this.#unclassified) {
      if (r + this.#lookahead < last) {
        const beat = this.#label(r, rr);
        if (beat) out.push(beat);
      } else {
        out.push({ sample: r, offset: r < last ? this.#vertexOffset(r) : 0, cls: 'Q', qrsMs: NaN, templateCorr: NaN });
      }
    }
    this.#unclassified = [];
    return out;
  }

  /** Still in the learning period after its start or a reset (no beat is decided yet). */
  get learning(): boolean {
    return this.#learning !== undefined;
  }

  /**
   * The earliest R peak found but not reported yet (tentative, waiting for its label, or ready to
   * be returned), as a sample index; undefined when none is. For the changelog: a silence after
   * the last reported beat ends there (ecg-beats.ts `quietUntilMs`).
   */
  get firstUndecided(): number | undefined {
    let first = this.#tentative?.peak.r ?? Infinity;
    if (this.#unclassified.length > 0) first = Math.min(first, this.#unclassified[0]!.r);
    if (this.#pending.length > 0) first = Math.min(first, this.#pending[0]!.sample);
    return Number.isFinite(first) ? first : undefined;
  }

  /** Its labeller has learned the patient's dominant beat (qrs-morphology.ts `dominantLearned`). */
  get dominantLearned(): boolean {
    return this.#morph.dominantLearned;
  }

  /** Which template is the dominant beat now (qrs-morphology.ts `dominantToken`). */
  get dominantToken(): object | undefined {
    return this.#morph.dominantToken;
  }

  /** Where a {@link dominantToken} is among {@link morphologyTemplates} (qrs-morphology.ts `templateIndex`; −1: not there). */
  templateIndex(token: object | undefined): number {
    return this.#morph.templateIndex(token);
  }

  /** The token of template `index` of its labeller (qrs-morphology.ts `templateToken`). */
  templateToken(index: number): object | undefined {
    return this.#morph.templateToken(index);
  }

  /** The beat shapes its labeller learned (qrs-morphology.ts), for a detector that continues this stream. */
  morphologyTemplates(): MorphologyTemplates | undefined {
    return this.#morph.templates();
  }

  /**
   * Starts labelling from a previous detector's {@link morphologyTemplates} of this stream
   * (resampled if learned at another rate; checked for a patch put back turned when
   * `afterLeadOff`: qrs-morphology.ts); false when they do not fit.
   */
  adoptMorphology(learned: MorphologyTemplates, afterLeadOff = false): boolean {
    return this.#morph.adopt(learned, afterLeadOff);
  }

  /** The stream's latest QRS lay at sample `at` (negative: before this detector's first sample; qrs-morphology.ts `noteQrsAt`). */
  noteQrsAt(at: number): void {
    this.#morph.noteQrsAt(at);
  }

  /**
   * Forgets the learned beat shapes (a clinician's relearn, ecg-beats.ts `relearn`): the beats
   * from here on are labelled against shapes learned from them, as at a stream's start.
   */
  relearnMorphology(): void {
    this.#morph.reset();
  }

  /**
   * The detector's whole state between two {@link push} calls, for a graceful hand-over of the
   * stream to another processor (ecg-beats.ts): a detector {@link restore}d from it returns, for
   * the same next samples, exactly the beats this one would have. ≈ 5 kB at 250 Hz, mostly the
   * wide-band history that can still be read (float32, as kept) and the beat shapes. Not for the regular changelog records, written with
   * every batch: those keep the input ECG, which a fresh detector runs over (close, not exact).
   */
  snapshot(): QrsSnapshot {
    const t = this.#tentative;
    const wideFrom = this.#oldestWideRead();
    return {
      v: 1,
      fsHz: this.fsHz,
      n: this.#n,
      dc: this.#dc,
      mwiSum: this.#mwiSum,
      rising: this.#rising,
      prevMwi: this.#prevMwi,
      candAt: this.#candAt,
      candLevel: this.#candLevel,
      filters: [this.#hp.memory(), this.#lp.memory(), this.#wideHp.memory(), this.#wideLp.memory()],
      wideFrom,
      wide: float32ToBase64(Array.from({ length: this.#n - wideFrom }, (_, k) => this.#wide.get(wideFrom + k))),
      bp: float32ToBase64(this.#bp.buf),
      sq: float32ToBase64(this.#sq.buf),
      qrsLevels: [...this.#qrsLevels],
      noiseLevels: [...this.#noiseLevels],
      rr: [...this.#rr],
      ...(this.#lastQrs ? { lastQrs: { ...this.#lastQrs } } : {}),
      since: this.#since.map((p) => ({ ...p })),
      ...(this.#learning ? { learning: this.#learning.map((p) => ({ ...p })) } : {}),
      // (The tentative beat is normally the last QRS itself: #decide asks for that identity.)
      ...(t ? { tentative: { peak: { ...t.peak }, isLast: t.peak === this.#lastQrs, ...(t.before ? { before: { ...t.before } } : {}), qrsLevels: [...t.qrsLevels], rr: [...t.rr] } } : {}),
      emptySearchAt: this.#emptySearchAt,
      levelBeforeSilence: this.#levelBeforeSilence,
      unclassified: this.#unclassified.map((u) => ({ ...u })),
      pulses: [...this.#pulses],
      blankUntil: this.#blankUntil,
      held: this.#held,
      morphology: this.#morph.snapshot(),
    };
  }

  /**
   * The oldest sample of the wide-band history that can still be read: by the labels of beats not
   * yet labelled — held, tentative, search-back candidates, the learning period's peaks, and peaks
   * still to be found (R no further back than the band-passed history) — whose noise check reaches
   * 280 ms before R (+ 20 ms of its second difference) and whose other phase lies within ±50 ms of
   * it (qrs-morphology.ts); the R-peak search reads less far. A snapshot keeps only this part
   * (≈ 1–2 s instead of 4 s).
   */
  #oldestWideRead(): number {
    // A peak still to be found has its R no further back than the band-passed history reaches.
    let oldestR = this.#n - this.#bp.buf.length;
    for (const u of this.#unclassified) oldestR = Math.min(oldestR, u.r);
    for (const p of this.#since) oldestR = Math.min(oldestR, p.r);
    for (const p of this.#learning ?? []) oldestR = Math.min(oldestR, p.r);
    if (this.#tentative) oldestR = Math.min(oldestR, this.#tentative.peak.r);
    const labelReach = this.#ms(300) + this.#morph.maxShiftSamples + 4;
    return Math.max(0, this.#n - this.#wide.buf.length + 1, oldestR - labelReach);
  }

  /**
   * A detector that goes on from a {@link snapshot} taken with the same parameters; undefined when
   * the snapshot does not fit them (another rate, other buffer sizes): the caller then starts afresh.
   */
  static restore(snapshot: QrsSnapshot, params: Partial<QrsParams> = {}): QrsDetector | undefined {
    const d = new QrsDetector(snapshot.fsHz, params);
    const rings = [[d.#bp, snapshot.bp], [d.#sq, snapshot.sq]] as const;
    const values = rings.map(([ring, b64]) => (Buffer.byteLength(b64, 'base64') === 4 * ring.buf.length ? base64ToFloat32(b64) : undefined));
    const wideCount = snapshot.n - snapshot.wideFrom;
    const wideFits = wideCount >= 0 && wideCount < d.#wide.buf.length && Buffer.byteLength(snapshot.wide, 'base64') === 4 * wideCount;
    if (values.some((v) => v === undefined) || !wideFits || !d.#morph.restore(snapshot.morphology)) return undefined;
    rings.forEach(([ring], i) => ring.buf.set(values[i]!));
    const wide = base64ToFloat32(snapshot.wide);
    for (let k = 0; k < wide.length; k++) d.#wide.set(snapshot.wideFrom + k, wide[k]!);
    [d.#hp, d.#lp, d.#wideHp, d.#wideLp].forEach((f, i) => f.restoreMemory(snapshot.filters[i]!));
    d.#n = snapshot.n;
    d.#dc = snapshot.dc;
    d.#mwiSum = snapshot.mwiSum;
    d.#rising = snapshot.rising;
    d.#prevMwi = snapshot.prevMwi;
    d.#candAt = snapshot.candAt;
    d.#candLevel = snapshot.candLevel;
    d.#qrsLevels.push(...snapshot.qrsLevels);
    d.#noiseLevels.push(...snapshot.noiseLevels);
    d.#rr.push(...snapshot.rr);
    d.#lastQrs = snapshot.lastQrs && { ...snapshot.lastQrs };
    d.#since = snapshot.since.map((p) => ({ ...p }));
    d.#learning = snapshot.learning?.map((p) => ({ ...p }));
    const t = snapshot.tentative;
    if (t) {
      const peak = t.isLast && d.#lastQrs ? d.#lastQrs : { ...t.peak };
      d.#tentative = { peak, before: t.before && { ...t.before }, qrsLevels: [...t.qrsLevels], rr: [...t.rr] };
    }
    d.#emptySearchAt = snapshot.emptySearchAt;
    d.#levelBeforeSilence = snapshot.levelBeforeSilence;
    d.#unclassified = snapshot.unclassified.map((u) => ({ ...u }));
    d.#pulses = [...snapshot.pulses];
    d.#blankUntil = snapshot.blankUntil;
    d.#held = snapshot.held;
    return d;
  }

  /** Forgets everything (lead-off, gap, fs change): the next sample is index 0. */
  reset(): void {
    this.#hp.reset(); this.#lp.reset(); this.#wideHp.reset(); this.#wideLp.reset();
    this.#bp.buf.fill(0); this.#wide.buf.fill(0); this.#sq.buf.fill(0);
    this.#mwiSum = 0; this.#n = 0; this.#rising = false; this.#prevMwi = 0; this.#candAt = -1; this.#candLevel = 0;
    this.#qrsLevels.length = 0; this.#noiseLevels.length = 0; this.#rr.length = 0;
    this.#lastQrs = undefined; this.#since = []; this.#learning = []; this.#pending = []; this.#unclassified = []; this.#tentative = undefined; this.#emptySearchAt = -1;
    this.#pulses = []; this.#blankUntil = -1;
    this.#morph.reset();
  }

  /**
   * Consumes samples (µV or any linear unit) and returns the beats that became final.
   * @param out beats are appended here (and returned)
   * @param pace indices into `samples` (ascending) where the device flagged a pacemaker pulse
   */
  push(samples: ArrayLike<number>, out: QrsBeat[] = [], pace?: readonly number[]): QrsBeat[] {
    let nextPulse = 0;
    for (let k = 0; k < samples.length; k++) {
      let x = samples[k]!;
      if (pace && nextPulse < pace.length && pace[nextPulse] === k) {
        while (nextPulse < pace.length && pace[nextPulse] === k) nextPulse++;
        // A beat is labelled at most HISTORY_MS after its R peak: older pulses can label none.
        while (this.#pulses.length > 0 && this.#pulses[0]! < this.#n - this.#ms(HISTORY_MS + this.#p.pacedBeatMs)) this.#pulses.shift();
        this.#pulses.push(this.#n);
        this.#blankUntil = this.#n + this.#ms(this.#p.paceBlankMs);
        // No sample before a pulse on the very first one: hold the first sample after the blanking
        // (when this chunk has it), not the pulse.
        if (this.#n === 0) this.#held = samples[Math.min(samples.length - 1, k + this.#ms(this.#p.paceBlankMs) + 1)]!;
      }
      if (this.#n <= this.#blankUntil) x = this.#held;
      else this.#held = x;
      this.#step(x);
    }
    if (this.#pending.length > 0) {
      for (const b of this.#pending) out.push(b);
      this.#pending = [];
    }
    return out;
  }

  #step(raw: number): void {
    const n = this.#n++;
    // Start the filters at the signal's level: an electrode offset is not a step to detect.
    if (n === 0) this.#dc = raw;
    const x = raw - this.#dc;
    const bp = this.#lp.step(this.#hp.step(x));
    this.#bp.set(n, bp);
    this.#wide.set(n, this.#wideLp.step(this.#wideHp.step(x)));
    const d = (bp - (n > 0 ? this.#bp.get(n - 1) : 0)) * this.fsHz;
    const sq = d * d;
    this.#sq.set(n, sq);
    this.#mwiSum += sq - (n >= this.#win ? this.#sq.get(n - this.#win) : 0);
    const mwi = this.#mwiSum / this.#win;

    // Local maximum of the MWI, confirmed when the MWI has fallen to half of it.
    if (mwi > this.#prevMwi) {
      if (!this.#rising || mwi > this.#candLevel) { this.#candAt = n; this.#candLevel = mwi; }
      this.#rising = true;
    } else if (this.#rising && (mwi < 0.5 * this.#candLevel || n - this.#candAt > this.#ms(MAX_PEAK_WAIT_MS))) {
      // (A peak that never halves — a noise plateau — is still decided, so beats stay timely.)
      this.#rising = false;
      this.#onPeak(this.#peakAt(this.#candAt, this.#candLevel));
    }
    this.#prevMwi = mwi;
    // The tentative beat is final once no candidate can replace it: a replacement's R lies within
    // tWaveWindowMs after it (#decide), and no undecided candidate's R can lie before
    // #undecidedRFrom. The fixed bound after it (the latest such candidate, decided at the
    // latest) is what waited when a candidate was rising; before session 29 it was the only rule,
    // and an ECG-only beat with no beat after it (bradycardia, the last beat before a pause)
    // waited ≈ 0.87 s instead of ≈ 0.57 s.
    if (this.#tentative) {
      const replaceableUntil = this.#tentative.peak.r + this.#ms(this.#p.tWaveWindowMs);
      if (this.#undecidedRFrom >= replaceableUntil
        || n - this.#tentative.peak.r > this.#ms(this.#p.tWaveWindowMs + MAX_PEAK_WAIT_MS + this.#p.integrationMs + 60)) this.#flushTentative();
    }
    while (this.#unclassified.length > 0 && this.#unclassified[0]!.r + this.#lookahead < n) {
      const { r, rr } = this.#unclassified.shift()!;
      const beat = this.#label(r, rr);
      if (beat) this.#pending.push(beat);
    }

    if (this.#learning && n >= this.#ms(this.#p.learningMs)) this.#endLearning();
    else if (!this.#learning && this.#lastQrs && n >= this.#searchBackDue()) this.#searchBack();
  }

  /**
   * The beat whose R peak is at `r` (`rr` samples after the previous one), labelled: it needs the
   * samples up to r + lookahead. Undefined when the labeller finds it is no QRS (the P wave of a
   * ventricular standstill, qrs-morphology.ts): it is not reported. The detection itself stands in
   * the thresholds and intervals, so the next P waves are found, and dropped, the same way, and a
   * returning QRS, far larger, is found at once.
   */
  #label(r: number, rr: number): QrsBeat | undefined {
    const m = this.#morph.classify(r, rr, this.#paced(r));
    if (m.notQrs) return undefined;
    return { sample: r + m.shift, offset: this.#vertexOffset(r + m.shift), cls: m.cls, qrsMs: m.qrsMs, templateCorr: m.corr };
  }

  /** A flagged pacer pulse precedes the R peak at `r` by at most `pacedBeatMs` (older pulses are dropped). */
  #paced(r: number): boolean {
    while (this.#pulses.length > 0 && this.#pulses[0]! < r - this.#ms(this.#p.pacedBeatMs)) this.#pulses.shift();
    return this.#pulses.length > 0 && this.#pulses[0]! <= r;
  }

  /** The vertex of the parabola through the wide-band signal at `k − 1`, `k`, `k + 1`, in samples from `k` (0 when `k` is no extremum there). */
  #vertexOffset(k: number): number {
    const a = this.#wide.get(k - 1), b = this.#wide.get(k), c = this.#wide.get(k + 1);
    const curvature = a - 2 * b + c;
    if (curvature === 0) return 0;
    const offset = (0.5 * (a - c)) / curvature;
    return offset >= -0.5 && offset <= 0.5 ? offset : 0;
  }

  /** Describes an MWI peak: its R-peak and the QRS's slope. */
  #peakAt(at: number, level: number): Peak {
    // The QRS lies under the rising MWI: from one window before the MWI peak to the peak.
    const from = Math.max(0, at - this.#win - this.#ms(50), this.#n - this.#bp.buf.length + 1);
    // The slope is the candidate's own (Pan & Tompkins compare the candidate's maximal slope with
    // the previous QRS's): it is measured after the previous QRS's MWI peak only. A candidate
    // ≤ ~200 ms after that QRS — the tail of a wide PVC, whose MWI falls and rises again — would
    // otherwise inherit the QRS's slope through the look-back window (ratio exactly 1) and the
    // T-wave rule could never reject it (mitdb 106/108: a second beat ~210 ms after PVCs).
    const slopeFrom = Math.max(from + 1, 1, this.#lastQrs ? this.#lastQrs.at + 1 : 0);
    let slope = 0;
    for (let i = slopeFrom; i <= at; i++) slope = Math.max(slope, Math.abs(this.#bp.get(i) - this.#bp.get(i - 1)));
    // R = largest deviation of the wide-band signal from the level at the window's start.
    const base = this.#wide.get(from);
    let r = at;
    let best = -1;
    for (let i = from; i <= at; i++) {
      const dev = Math.abs(this.#wide.get(i) - base);
      if (dev > best) { best = dev; r = i; }
    }
    return { at, level, r, slope };
  }

  #threshold(): number {
    const mean = (a: number[]) => a.reduce((s, v) => s + v, 0) / Math.max(1, a.length);
    const qrs = mean(this.#qrsLevels);
    const noise = mean(this.#noiseLevels);
    return noise + this.#p.thresholdCoeff * (qrs - noise);
  }

  #meanRr(): number {
    if (this.#rr.length === 0) return this.#ms(1000);
    return this.#rr.reduce((s, v) => s + v, 0) / this.#rr.length;
  }

  #searchBackDue(): number {
    const from = Math.max(this.#lastQrs!.at, this.#emptySearchAt);
    return from + Math.round(this.#p.searchBackRr * this.#meanRr());
  }

  #keep(list: number[], v: number): void {
    list.push(v);
    if (list.length > LEVELS) list.shift();
  }

  #endLearning(): void {
    const peaks = this.#learning!;
    this.#learning = undefined;
    if (peaks.length === 0) return;
    // Pan & Tompkins start with a third of the largest peak as the QRS level and half the mean as noise.
    const max = Math.max(...peaks.map((p) => p.level));
    const mean = peaks.reduce((s, p) => s + p.level, 0) / peaks.length;
    this.#qrsLevels.push(max / 3 * 1.5);
    this.#noiseLevels.push(mean / 2);
    for (const p of peaks) this.#decide(p);
  }

  #onPeak(p: Peak): void {
    if (this.#learning) { this.#learning.push(p); return; }
    this.#decide(p);
  }

  #decide(p: Peak): void {
    const last = this.#lastQrs;
    const t = this.#tentative;
    if (t && t.peak === last && p.r - t.peak.r < this.#ms(this.#p.tWaveWindowMs)) {
      // Two candidates close together: one QRS with two MWI humps (within the refractory
      // period: the larger wins), or a tall P wave taken just before its QRS (the QRS is clearly
      // larger). The earlier one is still tentative, so it is replaced, never reported.
      const within = p.r - t.peak.r < this.#ms(this.#p.refractoryMs);
      if (p.level > t.peak.level * (within ? 1 : this.#p.replaceRatio) && p.level > this.#threshold() && p.level >= this.#floor) {
        this.#undo(t);
        this.#accept(p, false);
        return;
      }
    }
    if (last && p.r - last.r < this.#ms(this.#p.refractoryMs)) return;
    const th = this.#threshold();
    if (p.level > th && p.level >= this.#floor) {
      const tWave = last !== undefined && p.r - last.r < this.#ms(this.#p.tWaveWindowMs) && p.slope < 0.5 * last.slope;
      if (!tWave) { this.#accept(p, false); return; }
    }
    this.#keep(this.#noiseLevels, p.level);
    this.#since.push(p);
    // Bounded: only the recent past can be searched back.
    if (this.#since.length > 64) this.#since.shift();
  }

  /**
   * Search-back (Pan & Tompkins): no QRS for `searchBackRr` mean RR, so the peaks since the last
   * one are looked at again with half the threshold. Every such peak that is not in the
   * refractory period or a T wave is taken, in time order — not only the largest: after a sudden
   * drop in QRS amplitude (VT in a lead where it is small) a single recovered beat per search
   * would lose most of a fast run.
   */
  #searchBack(): void {
    const half = 0.5 * this.#threshold();
    const candidates = this.#since;
    this.#since = [];
    let found = false;
    for (const c of candidates) {
      const last = this.#lastQrs!;
      const ok = c.r - last.r >= this.#ms(this.#p.refractoryMs) && c.level > half && c.level >= this.#floor
        && !(c.r - last.r < this.#ms(this.#p.tWaveWindowMs) && c.slope < 0.5 * last.slope);
      if (ok) {
        // The noise level had taken this peak in; it was a QRS after all.
        const idx = this.#noiseLevels.lastIndexOf(c.level);
        if (idx >= 0) this.#noiseLevels.splice(idx, 1);
        this.#accept(c, true);
        found = true;
      } else if (found) {
        this.#since.push(c);
      }
    }
    if (!found) {
      // Nothing even at half the threshold: the QRS may have become much smaller (VT in a lead
      // where it is small, electrode moved). The QRS level estimate decays towards the noise
      // level with each empty search-back, so the detector re-acquires a smaller rhythm within
      // a few seconds; the absolute floor (minQrsUv) keeps a flat or noisy lead silent.
      // Never below 1/8 of the level before the silence (the half-threshold search then still
      // finds complexes down to ≈ 1/50 of the old level — a QRS ~3× smaller — but not the P waves
      // of a ventricular standstill, ≈ 1/90 of their QRS's level: the asystole stays an asystole).
      const noise = this.#noiseLevels.reduce((a, b) => a + b, 0) / Math.max(1, this.#noiseLevels.length);
      const mean = this.#qrsLevels.reduce((a, b) => a + b, 0) / Math.max(1, this.#qrsLevels.length);
      if (this.#emptySearchAt < this.#lastQrs!.at) this.#levelBeforeSilence = mean;
      const lowest = this.#levelBeforeSilence / 8;
      for (let i = 0; i < this.#qrsLevels.length; i++) this.#qrsLevels[i] = Math.max(lowest, noise + (this.#qrsLevels[i]! - noise) * EMPTY_SEARCH_DECAY);
      // Search again one mean RR later (not at once: the next due time is counted from now).
      this.#emptySearchAt = this.#n;
    }
  }

  #accept(p: Peak, searchedBack: boolean): void {
    this.#flushTentative();
    const last = this.#lastQrs;
    const t: Tentative = { peak: p, before: last, qrsLevels: [...this.#qrsLevels], rr: [...this.#rr] };
    // A searched-back beat enters the QRS level halfway between its level and the last one: the
    // estimate follows a sub-threshold beat more slowly than a normal one. (This is ours, not Pan &
    // Tompkins's: their SPKI moves 0.25 instead of 0.125 towards a searched-back peak, i.e. faster.
    // Their weighting — the peak kept twice in the 8-level mean — was measured: mitdb FP 39 → 44,
    // and a true CinC 2015 VT alarm (v773l) lost in production, so it is not used; EVALUATION.md §5.)
    this.#keep(this.#qrsLevels, searchedBack ? 0.5 * (p.level + (this.#qrsLevels.at(-1) ?? p.level)) : p.level);
    if (last) {
      const rr = p.r - last.r;
      if (rr <= this.#ms(MAX_RR_FOR_MEAN_MS)) this.#keep(this.#rr, rr);
    }
    this.#lastQrs = p;
    this.#since = [];
    this.#tentative = t;
  }

  /** Takes back the tentative beat (it was part of the next QRS, or a P wave). */
  #undo(t: Tentative): void {
    this.#qrsLevels.splice(0, this.#qrsLevels.length, ...t.qrsLevels);
    this.#rr.splice(0, this.#rr.length, ...t.rr);
    this.#lastQrs = t.before;
    this.#tentative = undefined;
  }

  /** The tentative beat is final: on to classification. */
  #flushTentative(): void {
    const t = this.#tentative;
    if (!t) return;
    this.#tentative = undefined;
    this.#unclassified.push({ r: t.peak.r, rr: t.before ? t.peak.r - t.before.r : 0 });
  }
}
