/**
 * Ventricular-beat evidence from the ECG, for records without firmware beat classes: each beat is
 * compared with the patient's dominant beat and its QRS duration is measured.
 *
 * Method (template matching + QRS width, the two features of the classic real-time beat
 * classifiers, e.g. Hamilton's open-source EP Limited classifier and de Chazal et al., IEEE TBME
 * 51(7):1196–1206, 2004, morphology + interval features):
 *  - up to 4 templates (running averages, weight 1/8, over −100…+120 ms around the R-peak of
 *    the wide-band 0.5–40 Hz signal); a beat belongs to a template when their Pearson
 *    correlation is ≥ `matchCorr` and it is not ≥ `widerByMs` wider; otherwise it starts a new
 *    template (replacing the weakest). Each template's weight counts its beats with a decay of
 *    `templateDecay` per beat (≈ 200-beat memory); the heaviest is the dominant beat. A VT run of
 *    tens of beats cannot outweigh hundreds of sinus beats, and a fast run unlike an established
 *    dominant beat does not vote at all ({@link FAST_RR_MS}: a sustained VT never becomes the
 *    patient's beat); a lasting change of the dominant morphology at a slower rate (new electrode
 *    position, bundle branch block) takes over after a few hundred beats;
 *  - QRS duration: from the first to the last point around the R-peak where the wide-band slope
 *    exceeds `slopeFraction` of its maximum (the steep part of the complex; it under-reads the
 *    clinical QRS duration, so only differences from the dominant beat are used);
 *  - noise gate (the high-frequency noise check of Hamilton's OSEA classifier, EP Limited,
 *    classify.c `HFNoiseCheck`): the mean |second difference| (10 ms apart) over 50 ms, at its
 *    largest outside the QRS (−280…−50 ms, but not before the previous R + 110 ms, and
 *    +110…+150 ms around R), relative to the QRS amplitude (−70…+80 ms). A beat unlike the dominant one whose noise is above `noiseMax` is
 *    `Q` (unknown) unless it is premature — RR < 7/8 of the mean of the last 4 NN intervals
 *    (OSEA rythmchk `RRShort2`); OSEA's rule 2, premature and different → PVC, precedes its noise
 *    rules, and keeps noisy VT runs `V` — and it starts no template (OSEA: no new beat type above
 *    its noise limits), so noise can neither seed nor crowd out the dominant beat. `noiseMax`
 *    0.225 is OSEA's limit for calling a wide beat a PVC (TempClass rule 11, `R11_HF_THRESHOLD`
 *    45 in its units = 200 · mean|Δ²| / amplitude at 100 Hz), set a priori, not tuned;
 *  - the other phase (issue 12, session 13): the R peak is the complex's largest deviation, so on
 *    a biphasic complex whose R and S waves are about equal noise decides, beat by beat, which
 *    phase the templates are anchored at, and the patient's own beat anchored on the other phase
 *    is unlike the dominant template — a run of them at a fast rate read as VT. A beat unlike the
 *    dominant beat is compared once more anchored on its other phase ({@link OTHER_PHASE_MS});
 *    when it matches the dominant beat there it is that beat, reported at that point
 *    ({@link BeatShape.shift}) so that its interval runs between like points of like beats;
 *  - a complex cut by the start of the input (what it is measured on — its window, also anchored
 *    on the other phase, and the width search: 150 ms before R — begins before the detector's
 *    first sample: the stream's first frame, or the first after lost frames or a lead-off) is `Q`
 *    and touches no template (issue 12, session 28). Until then it was compared like any beat: it
 *    read `N` and was averaged into the dominant template, and the first whole complex after it
 *    read `V`, after about one restart in seven (test/processor/ecg-beats.test.ts);
 *  - `V` when the beat does not match the dominant template (shape, or ≥ `widerByMs` wider) and
 *    is not noisy; everything else is `N`. Supraventricular beats with another shape are also
 *    `V` here, which costs VEB +P (eval: mitdb) but only matters to VT when ≥ 5 of them come in
 *    a fast run. (Requiring width or prematurity as well — de Chazal et al. 2004; OSEA rule 2 —
 *    was measured and not adopted: the first beat of a true VT run in CinC 2015 v793l is neither,
 *    and the alarm is lost; EVALUATION.md §5.)
 * `matchCorr` and `widerByMs` were set on the MIT-BIH Arrhythmia records' reference V labels
 * (eval: VEB Se/+P), not on the CinC 2015 alarms they are then scored on.
 *
 * Paced beats (the caller knows them from the device's pace flags, qrs-detector.ts) are `Q` and
 * take part in the templates like any beat, so in a mostly paced patient the dominant template is
 * a paced one. Against a paced dominant beat the shape rule cannot be used: a beat without a pulse
 * that looks like the paced beats is ventricular (a paced ventricle is depolarised from the lead's
 * tip, like an ectopic focus nearby — VT from the right ventricle resembles right-ventricular
 * pacing), while a conducted (supraventricular) beat is narrow, using the His–Purkinje system. So
 * a beat of the patient's own that is ≥ 2 × `widerByMs` *narrower* than the paced dominant beat is
 * `N`, any other is `V` (or `Q` when noisy and not premature, as below). Without this, AF or the
 * own rhythm returning in a paced patient would be a run of `V` beats (a false VT alarm), and VT
 * shaped like the paced beats a run of `N` beats (a missed one). Twice the margin, because
 * ventricular beats' measured width varies beat to beat. Conducted beats that are wide themselves
 * (bundle-branch block) read as `V` in a patient whose dominant beat is paced.
 * The widths compared are steadied, because the slope-threshold width of a broad, slow complex is
 * not: on identical paced beats it reads ≈ 136 ms or, when three samples around the S wave's
 * trough fall below the threshold in 10 µV of noise, ≈ 80 ms (the simulator's paced complexes,
 * one beat in five or so). So a paced beat joins a paced template by shape alone (otherwise the long
 * readings, ≥ `widerByMs` wider than a template seeded or pulled down by short ones, split the
 * paced beats into a narrow and a wide paced template, and the narrow one can be the dominant), a
 * paced template's width is the median of its last {@link WIDTH_HISTORY} beats' (a mean follows
 * the short readings), and a beat that belongs to a template is as wide as that template. Without
 * this the paced dominant beat came within 2 × `widerByMs` of the patient's own conducted beats
 * (68–92 ms at 107–165/min) and a run of them read `V` — a false VT alarm on simulated paced
 * ECG-only devices (test/eval/sim-device-replay.test.ts; EVALUATION §5).
 */
import { z } from 'zod';
import { BEAT_CLASSES, type BeatClass } from '../../contracts/telemetry.ts';
import { base64ToFloat64, float64ToBase64 } from '../int16-base64.ts';

export interface MorphologyParams {
  matchCorr: number;
  widerByMs: number;
  slopeFraction: number;
  /** Per-beat decay of a template's weight (0.995: a time constant of ~200 beats). */
  templateDecay: number;
  /** High-frequency noise (share of the QRS amplitude) above which an unmatched beat is `Q`. */
  noiseMax: number;
  /**
   * A slow complex unlike the learned dominant beat whose peak-to-peak size is below this share of
   * the dominant beat's is P-wave-like: after {@link STANDSTILL_AFTER_MS} without a QRS it is no
   * beat ({@link BeatShape.notQrs}, the P waves of a ventricular standstill); 0 turns the rule off.
   */
  standstillAmplitudeRatio: number;
}

export const MORPHOLOGY_DEFAULTS: MorphologyParams = {
  matchCorr: 0.9,
  widerByMs: 20,
  slopeFraction: 0.1,
  templateDecay: 0.995,
  noiseMax: 0.225,
  standstillAmplitudeRatio: 1 / 3,
};

const PRE_MS = 100;
const POST_MS = 120;
/** Width is searched within ± this around the R-peak, ms. */
const WIDTH_SPAN_MS = 150;
/** A quiet stretch this long ends the complex, ms. */
const QUIET_MS = 12;
/** Morphologies remembered at once (dominant, PVC shapes, noise); the weakest is replaced. */
const MAX_TEMPLATES = 4;
/** Paced beats whose widths give a paced template's QRS duration (their median; see the file comment). */
const WIDTH_HISTORY = 9;
/**
 * The other phase of a biphasic complex is looked for within ± this of its R peak, ms: half a
 * normal QRS duration (≈ 100 ms), which holds a QRS's R and S waves.
 */
const OTHER_PHASE_MS = 50;
/**
 * An interval shorter than this is at a ventricular-tachycardia rate (> 100/min, the VT criterion
 * of fhir-and-alarms.md §5), ms. A beat unlike the dominant one that comes this fast takes no part
 * in choosing the dominant beat (its template's weight and the others' decay stand still), so a
 * morphology seen only in a fast run never becomes the patient's own beat: the bedside rule that a
 * wide-complex tachycardia is VT until shown otherwise. The price: a bundle-branch block that
 * appears only at rates above 100/min (rate-related aberrancy) keeps reading `V`, and alarming as
 * VT, for as long as the rate stays there, where before it became the dominant beat after ≈ 140
 * beats. A morphology change at a slower rate (new electrode position, a lasting block) still
 * takes over after a few hundred beats.
 */
const FAST_RR_MS = 600;
/**
 * {@link FAST_RR_MS} holds only for a dominant beat of at least this weight: half the weight a
 * template reaches when every beat matches it (1 / (1 − `templateDecay`) = 200), ≈ 140 beats of
 * the patient's rhythm — or, sooner, for one learned at a normal rate ({@link
 * LEARNED_AT_NORMAL_RATE_BEATS}). Before that every beat votes, as before:
 * otherwise a first template that was not the patient's beat (an ectopic or noisy first complex)
 * stayed dominant through a fast rhythm's first beats, which then all read `V` — on the 30 s CinC
 * 2017 strips a freeze from the first beat cost the AF detector 6 points of sensitivity. Set a
 * priori from the decay, not on the evaluation records.
 */
const ESTABLISHED_WEIGHT = 100;
/**
 * {@link FAST_RR_MS} also holds, sooner, for a dominant beat learned at a normal rate: once this
 * many of its beats came at RR ≥ {@link FAST_RR_MS} (its decayed count of them,
 * `Template.normalRateWeight`). Bedside monitors learn the patient's dominant beat from the first
 * 15 valid beats (Philips HeartStart MRx, "Arrhythmia Learning/Relearning") to 30 identical ones
 * (Data Critical PatientNet); 15 here. Without it a VT in the first ≈ 2 minutes of a stream (a
 * patient who puts the patch on and then has a VT) became the dominant beat after ≈ 140 beats,
 * and its alarm broke into several, as {@link ESTABLISHED_WEIGHT} describes (issue 12 session 20:
 * a 3 min VT at 120/min after 60 s of sinus rhythm raised five VT alarms). A dominant beat learned
 * only at fast rates (a patient who is tachycardic from the start: the CinC 2015 ICU records) still
 * waits for {@link ESTABLISHED_WEIGHT}: with 30 beats at any rate instead, CinC 2015 production
 * lost 2 true negatives (EVALUATION.md §5).
 */
const LEARNED_AT_NORMAL_RATE_BEATS = 15;
/**
 * After a short lead-off ({@link BeatMorphology.adopt} with `afterLeadOff`), this many beats that
 * match the dominant beat upside down — before any beat matches it as it is — say the
 * patch went back on turned through 180°: the templates are inverted (see {@link PolarityCheck}).
 * Three, so that one ectopic or noisy complex cannot turn them; the beats before the third are `Q`.
 */
const POLARITY_CONFIRM_BEATS = 3;
/** The check ends, nothing changed, after this many beats without a verdict (≈ 10–20 s). */
const POLARITY_CHECK_BEATS = 20;
/** NN intervals averaged for the dominant rhythm (OSEA rythmchk `RRShort2`: the last 4). */
const NN_HISTORY = 4;
/**
 * The ventricular-standstill rule of {@link BeatMorphology.classify} drops a P-wave-like complex
 * only once no QRS has come for this long, ms: the default pause criterion (RR ≥ 3 s,
 * fhir-and-alarms.md), so the rule never makes a pause out of a beating rhythm, it only keeps a
 * silence that already is one from being ended by P waves. The detector's decayed thresholds first
 * reach P waves of a quarter to a third of the QRS's size 3–4 s after the last QRS (synthetic, 50–90
 * P waves/min). Half the asystole criterion (2 s) was tried first: it dropped a true beat of mitdb
 * 108 (2.0 s after the one before it, a third of the dominant beat's size) and added a false pause.
 */
const STANDSTILL_AFTER_MS = 3000;

export interface BeatShape {
  cls: BeatClass;
  qrsMs: number;
  corr: number;
  /**
   * Samples from the detected R peak to the beat's point: 0, or the other phase of a biphasic
   * complex when the beat matches a template only when anchored there (see {@link BeatMorphology.classify}).
   */
  shift: number;
  /**
   * Not a QRS complex (see {@link BeatMorphology.classify}, the ventricular-standstill rule): the
   * detector drops it (the labeller learned from it as from any slow beat).
   */
  notQrs?: true;
}

/**
 * The first beats after a short lead-off, before the learned shapes are trusted again. A
 * two-electrode patch stuck back on turned through 180° records the same lead with the opposite
 * sign: every complex is the patient's own beat inverted (Pearson −1 with its template, the same
 * width and R-peak position, since the detector places R at the largest |deviation|). Kept
 * templates then read every beat `V`, and during a sinus tachycardia those fast, unlike beats do not
 * vote ({@link FAST_RR_MS}): a false VT alarm that stayed open as long as the rate stayed above
 * 100/min (issue 12 session 20, EVALUATION.md §5). A VT that starts or goes on during the lead-off
 * is not mistaken for it: its complexes are wide and unlike the dominant beat either way up, so they
 * read as they would without the check (a VT going on still matches its own `V` template). Only a
 * beat that matches the dominant beat as it is ends the check early: any other template (a `V` or
 * noise shape) can be matched by an inverted beat (mitdb 106 and 108, eval/patch-reversed.ts).
 */
interface PolarityCheck {
  /** Beats left before the check ends without a verdict. */
  beatsLeft: number;
  /** Beats so far that matched the dominant beat inverted. */
  inverted: number;
}

interface Template {
  wave: Float64Array;
  /** The template's QRS duration, ms: a running mean of its beats', or for a paced template the median of {@link widths}. */
  qrsMs: number;
  /** A paced template's last {@link WIDTH_HISTORY} QRS durations, oldest first, ms (empty otherwise). */
  widths: number[];
  /** Seeded by a paced beat. */
  paced: boolean;
  /** Decayed count of beats that matched it: the dominant template has the largest. */
  weight: number;
  /** The same count for its beats at a normal rate (RR ≥ {@link FAST_RR_MS}; see {@link LEARNED_AT_NORMAL_RATE_BEATS}). */
  normalRateWeight: number;
}

/**
 * The patient's beat shapes as {@link BeatMorphology} learned them, for another labeller of the
 * same stream to start from (a QRS detector restarted after lost frames, or a processor taking the
 * stream over): without them a fresh labeller takes whatever it sees first for the patient's beat —
 * inside a sustained VT, the VT's complex, which then reads `N` (ecg-beats.ts). Waves are the
 * mean-free −100…+120 ms windows at `fsHz`.
 */
export interface MorphologyTemplates {
  fsHz: number;
  /** `normalRateWeight` is absent in records of processors before issue 12 session 20 (then 0). */
  templates: { wave: number[]; qrsMs: number; widths: number[]; paced: boolean; weight: number; normalRateWeight?: number }[];
  /**
   * The templates were adopted after a lead-off and the first beats have not yet shown which way
   * round the patch went back ({@link PolarityCheck}): the next labeller checks again. Without it
   * a processor restart (or a lost frame) within those few beats handed the successor the
   * templates as trusted, and a turned patch read `V` from then on.
   */
  polarityUnchecked?: true;
}

/** {@link BeatMorphology.snapshot}: waves as float64 base64 (little-endian). */
export interface MorphologySnapshot {
  templates: { wave: string; qrsMs: number; widths: number[]; paced: boolean; weight: number; normalRateWeight: number }[];
  nn: number[];
  /** {@link BeatMorphology} `#qrsAt` (absent in snapshots before issue 12 session 38: 0). */
  qrsAt?: number;
  prevCls?: BeatClass;
  polarityCheck?: { beatsLeft: number; inverted: number };
}

export const morphologySnapshotSchema = z.object({
  templates: z.array(z.object({ wave: z.base64(), qrsMs: z.number(), widths: z.array(z.number()), paced: z.boolean(), weight: z.number(), normalRateWeight: z.number() })),
  nn: z.array(z.number()),
  qrsAt: z.number().int().optional(),
  prevCls: z.enum(BEAT_CLASSES).optional(),
  polarityCheck: z.object({ beatsLeft: z.number().int(), inverted: z.number().int() }).optional(),
});

/** Samples of a template window (−{@link PRE_MS}…+{@link POST_MS} ms around the R peak) at `fsHz`: before the peak, and in all. */
function windowSamples(fsHz: number): { pre: number; length: number } {
  const pre = Math.round((PRE_MS * fsHz) / 1000);
  return { pre, length: pre + Math.round((POST_MS * fsHz) / 1000) + 1 };
}

/**
 * A template wave learned at `fromHz`, at `toHz`: linear interpolation on the time axis around the
 * R peak, made mean-free again (as the windows it is compared with). The waves are QRS complexes
 * of the wide-band signal, smooth at the 8 ms spacing of 125 Hz, so interpolation keeps their
 * shape; the match is a correlation and a width in ms, neither of which depends on the rate.
 * Undefined when `wave` is not a window at `fromHz`.
 */
export function resampleWave(wave: readonly number[], fromHz: number, toHz: number): Float64Array | undefined {
  const from = windowSamples(fromHz);
  if (wave.length !== from.length || !(toHz > 0)) return undefined;
  if (fromHz === toHz) return Float64Array.from(wave);
  const to = windowSamples(toHz);
  const out = new Float64Array(to.length);
  for (let k = 0; k < to.length; k++) {
    const x = Math.min(from.length - 1, Math.max(0, from.pre + ((k - to.pre) * fromHz) / toHz));
    const i = Math.min(from.length - 2, Math.floor(x));
    out[k] = wave[i]! + (x - i) * (wave[i + 1]! - wave[i]!);
  }
  let mean = 0;
  for (const v of out) mean += v;
  mean /= out.length;
  for (let k = 0; k < out.length; k++) out[k]! -= mean;
  return out;
}

export class BeatMorphology {
  readonly #fs: number;
  readonly #p: MorphologyParams;
  readonly #signal: (i: number) => number;
  readonly #pre: number;
  readonly #post: number;
  readonly #beat: Float64Array;
  /** The other phase of a biphasic complex is looked for within ± this many samples of the R peak. */
  readonly #otherPhaseSpan: number;
  readonly #templates: Template[] = [];
  /** The decayed count {@link LEARNED_AT_NORMAL_RATE_BEATS} matching beats in a row reach. */
  readonly #learnedWeight: number;
  /** Running sum buffer of the noise check (50 ms). */
  readonly #noiseAvg: Float64Array;
  /** Recent NN intervals (samples, both beats `N`): the dominant rhythm, for prematurity. */
  readonly #nn: number[] = [];
  #prevCls: BeatClass | undefined;
  /** Set by {@link adopt} after a lead-off, until the first beats decide ({@link PolarityCheck}). */
  #polarityCheck: PolarityCheck | undefined;
  /**
   * R peak (sample) of the latest complex taken for a QRS (every one but the P-wave-like ones of
   * the ventricular-standstill rule in {@link classify}), or where labelling began; negative when
   * the stream's last QRS lay before it ({@link noteQrsAt}).
   */
  #qrsAt = 0;
  /** {@link STANDSTILL_AFTER_MS} in samples. */
  readonly #standstillAfter: number;

  /** @param signal wide-band sample at an absolute index (valid for the last few seconds) */
  constructor(fsHz: number, signal: (i: number) => number, params: Partial<MorphologyParams> = {}) {
    this.#fs = fsHz;
    this.#p = { ...MORPHOLOGY_DEFAULTS, ...params };
    const d = this.#p.templateDecay;
    // (Less a rounding margin: the running sum of that many beats must reach it.)
    this.#learnedWeight = (d < 1 ? (1 - d ** LEARNED_AT_NORMAL_RATE_BEATS) / (1 - d) : LEARNED_AT_NORMAL_RATE_BEATS) - 1e-9;
    this.#signal = signal;
    const window = windowSamples(fsHz);
    this.#pre = window.pre;
    this.#post = window.length - window.pre - 1;
    this.#beat = new Float64Array(window.length);
    this.#otherPhaseSpan = Math.round((OTHER_PHASE_MS * fsHz) / 1000);
    this.#noiseAvg = new Float64Array(Math.max(1, Math.round((50 * fsHz) / 1000)));
    this.#standstillAfter = (STANDSTILL_AFTER_MS * fsHz) / 1000;
  }

  /** Largest |{@link BeatShape.shift}|, samples. */
  get maxShiftSamples(): number {
    return this.#otherPhaseSpan;
  }

  /**
   * Samples the classification reads before the R-peak: the window, also anchored on the other
   * phase, and the width search. A beat with fewer since the detector's first sample is `Q`.
   */
  get lookbehindSamples(): number {
    return Math.max(Math.round((WIDTH_SPAN_MS * this.#fs) / 1000), this.#pre + this.#otherPhaseSpan);
  }

  /** Samples needed after the R-peak before a beat can be classified. */
  get lookaheadSamples(): number {
    return Math.max(Math.round((WIDTH_SPAN_MS * this.#fs) / 1000), this.#post + this.#otherPhaseSpan) + 1;
  }

  reset(): void {
    this.#templates.length = 0;
    this.#nn.length = 0;
    this.#prevCls = undefined;
    this.#polarityCheck = undefined;
    this.#qrsAt = 0;
  }

  /** A copy of the learned templates (see {@link MorphologyTemplates}); undefined before the first beat. */
  templates(): MorphologyTemplates | undefined {
    if (this.#templates.length === 0) return undefined;
    const templates = this.#templates.map((t) => ({ wave: Array.from(t.wave), qrsMs: t.qrsMs, widths: [...t.widths], paced: t.paced, weight: t.weight, normalRateWeight: t.normalRateWeight }));
    return { fsHz: this.#fs, templates, ...(this.#polarityCheck ? { polarityUnchecked: true as const } : {}) };
  }

  /**
   * Starts from another labeller's templates of the same stream, replacing what this one learned.
   * Templates learned at another sampling rate are resampled to this one ({@link resampleWave}):
   * the device's rate can change by a `config` command in the middle of a rhythm (an operator asks
   * for 500 Hz strips during a VT), and a labeller that learned afresh there took the VT's complex
   * for the patient's beat (issue 12 session 20). Ignored (false) when the waves do not have the
   * −100…+120 ms window at their rate.
   * @param afterLeadOff the electrodes were off in between: the patch may have gone back on turned,
   *   so the first beats are checked against the templates inverted ({@link PolarityCheck}); also
   *   when the templates come from a labeller whose check was still running (`polarityUnchecked`)
   */
  adopt(learned: MorphologyTemplates, afterLeadOff = false): boolean {
    if (learned.templates.length === 0 || learned.templates.length > MAX_TEMPLATES) return false;
    const waves = learned.templates.map((t) => resampleWave(t.wave, learned.fsHz, this.#fs));
    if (waves.some((w) => w === undefined)) return false;
    this.#templates.length = 0;
    learned.templates.forEach((t, i) => this.#templates.push({ wave: waves[i]!, qrsMs: t.qrsMs, widths: t.widths.slice(-WIDTH_HISTORY), paced: t.paced, weight: t.weight, normalRateWeight: t.normalRateWeight ?? 0 }));
    this.#polarityCheck = afterLeadOff || learned.polarityUnchecked ? { beatsLeft: POLARITY_CHECK_BEATS, inverted: 0 } : undefined;
    return true;
  }

  /**
   * Everything this labeller has learned, exactly (waves in float64), for a hand-over
   * (qrs-detector.ts `snapshot`). Unlike {@link templates} (int16 waves in the regular changelog
   * record, a few hundred bytes), a successor that restores it labels every later beat as this
   * labeller would have.
   */
  snapshot(): MorphologySnapshot {
    return {
      templates: this.#templates.map((t) => ({ wave: float64ToBase64(t.wave), qrsMs: t.qrsMs, widths: [...t.widths], paced: t.paced, weight: t.weight, normalRateWeight: t.normalRateWeight })),
      nn: [...this.#nn],
      ...(this.#qrsAt !== 0 ? { qrsAt: this.#qrsAt } : {}),
      ...(this.#prevCls !== undefined ? { prevCls: this.#prevCls } : {}),
      ...(this.#polarityCheck ? { polarityCheck: { ...this.#polarityCheck } } : {}),
    };
  }

  /** Continues from a {@link snapshot} of a labeller at this rate; false (nothing changed) when its waves are not windows at this rate. */
  restore(snapshot: MorphologySnapshot): boolean {
    const length = this.#pre + this.#post + 1;
    const waves = snapshot.templates.map((t) => base64ToFloat64(t.wave));
    if (waves.some((w) => w.length !== length) || waves.length > MAX_TEMPLATES) return false;
    this.reset();
    snapshot.templates.forEach((t, i) => this.#templates.push({ wave: waves[i]!, qrsMs: t.qrsMs, widths: [...t.widths], paced: t.paced, weight: t.weight, normalRateWeight: t.normalRateWeight }));
    this.#nn.push(...snapshot.nn);
    this.#prevCls = snapshot.prevCls;
    this.#polarityCheck = snapshot.polarityCheck ? { ...snapshot.polarityCheck } : undefined;
    this.#qrsAt = snapshot.qrsAt ?? 0;
    return true;
  }

  /**
   * The stream's latest QRS lay at sample `at` of this labeller's input (negative: before its
   * start), as a predecessor knew it (ecg-beats.ts: a processor restarted inside a silence).
   * Without it a fresh labeller counts the silence from its own start, and the first P waves of a
   * standstill it sees would be beats.
   */
  noteQrsAt(at: number): void {
    this.#qrsAt = Math.min(this.#qrsAt, at);
  }

  /**
   * A complex of peak-to-peak size `size` is small enough for the ventricular-standstill rule of
   * {@link classify}: the dominant beat is learned at a normal rate (as many of its recent beats
   * at RR ≥ {@link FAST_RR_MS} as {@link LEARNED_AT_NORMAL_RATE_BEATS}; a dominant beat learned in
   * a VT the stream began in is not trusted to say what the patient's QRS is: review of d26c55c,
   * the sinus beats after such a VT, a third of its size, were dropped), not paced, and `size` is
   * under `standstillAmplitudeRatio` of its size.
   */
  #pWaveSized(size: number, dominant: Template | undefined): boolean {
    return dominant !== undefined && !dominant.paced && this.dominantLearned && dominant.normalRateWeight >= this.#learnedWeight
      && size < this.#p.standstillAmplitudeRatio * peakToPeak(dominant.wave);
  }

  /** Peak-to-peak size of the wide-band signal in the beat window around `r`, from the input's first sample on. */
  #visiblePeakToPeak(r: number): number {
    let lo = Infinity, hi = -Infinity;
    for (let i = Math.max(0, r - this.#pre); i <= r + this.#post; i++) {
      const v = this.#signal(i);
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    return hi - lo;
  }

  /** QRS duration around R-peak `r`, ms. */
  qrsMs(r: number): number {
    const span = Math.round((WIDTH_SPAN_MS * this.#fs) / 1000);
    const quiet = Math.max(2, Math.round((QUIET_MS * this.#fs) / 1000));
    const slope = (i: number) => Math.abs(this.#signal(i) - this.#signal(i - 1));
    let max = 0;
    for (let i = r - span + 1; i <= r + span; i++) max = Math.max(max, slope(i));
    if (max === 0) return 0;
    const th = this.#p.slopeFraction * max;
    const edge = (dir: -1 | 1) => {
      let run = 0;
      let i = r;
      for (let k = 0; k < span; k++, i += dir) {
        if (slope(dir < 0 ? i : i + 1) < th) { if (++run >= quiet) return i - dir * (quiet - 1); } else run = 0;
      }
      return i;
    };
    return ((edge(1) - edge(-1)) * 1000) / this.#fs;
  }

  /**
   * Classifies the beat with R-peak at sample `r` (the signal must be valid up to
   * r + {@link lookaheadSamples}).
   * @param rrSamples interval from the previous beat in samples (0 = unknown)
   * @param paced the device flagged a pacer pulse just before it: the beat is `Q`
   */
  classify(r: number, rrSamples: number, paced = false): BeatShape {
    // (Every complex is a QRS here but the P-wave-like ones, ventricular-standstill rule below.)
    const qrsBefore = this.#qrsAt;
    this.#qrsAt = r;
    if (r < this.lookbehindSamples) {
      // The complex is cut by the start of the input: the detector started or restarted just
      // before or inside it (the stream's first frame, or the frame after lost frames or a
      // lead-off), and what it would be measured on reaches back before the start. It cannot be
      // compared: it is neither the patient's beat nor a ventricular one, and it teaches the
      // templates nothing. Only its size can be read, and when no QRS has come for
      // STANDSTILL_AFTER_MS and it is under the ventricular-standstill rule's share of the dominant
      // beat's (below), it is no beat and does not count for the clock. That can only be so in a
      // detector told of a silence before its start (noteQrsAt: a processor restarted inside an
      // open asystole): there such a complex, a P wave at the first sample of the successor's ECG,
      // was a `Q` beat that ended the asystole, and restarted the clock for 3 s of P waves.
      if (!paced && r - qrsBefore >= this.#standstillAfter && this.#pWaveSized(this.#visiblePeakToPeak(r), this.#dominant())) {
        this.#qrsAt = qrsBefore;
        this.#prevCls = undefined;
        return { cls: 'Q', qrsMs: this.qrsMs(r), corr: NaN, shift: 0, notQrs: true };
      }
      return { cls: 'Q', qrsMs: this.qrsMs(r), corr: NaN, shift: 0 };
    }
    const b = this.#beat;
    const mean = this.#window(r);
    const qrsMs = this.qrsMs(r);
    const dominant = this.#dominant();
    let best = this.#belongsTo(qrsMs, paced);
    if (this.#polarityCheck && dominant && !paced) {
      const polarity = this.#checkPolarity(this.#polarityCheck, best === dominant, dominant, qrsMs);
      // Not yet sure the patch went back turned: neither the patient's beat nor a ventricular one.
      if (polarity === 'inverted?') return { cls: 'Q', qrsMs, corr: pearson(b, dominant.wave), shift: 0 };
      if (polarity === 'inverted') best = this.#belongsTo(qrsMs, paced);
    }
    let shift = 0;
    if (dominant && best !== dominant && !paced && !dominant.paced) {
      // The R peak is the complex's largest deviation; when its two phases are about equal in
      // size, noise decides which one it is, and the patient's own beat anchored on its other
      // phase is unlike the dominant template (and may even seed a template of its own).
      // Anchored on its other phase, is it the dominant beat?
      const other = this.#otherPhase(r, mean);
      if (other !== undefined) {
        this.#window(other);
        if (this.#match(dominant, qrsMs, paced) > -Infinity) { best = dominant; shift = other - r; }
        else this.#window(r);
      }
    }
    const corr = dominant ? pearson(b, dominant.wave) : NaN;
    // V: unlike the patient's dominant beat — another shape, or the same shape clearly wider.
    // Against a paced dominant beat the width decides; a beat that belongs to a template is as
    // wide as its template (an average over its beats), steadier than its own reading.
    const unlike = !dominant || paced ? false : dominant.paced
      ? (best?.qrsMs ?? qrsMs) > dominant.qrsMs - 2 * this.#p.widerByMs
      : !(corr >= this.#p.matchCorr && qrsMs < dominant.qrsMs + this.#p.widerByMs);
    // A beat unlike an established dominant one at a ventricular-tachycardia rate does not vote on
    // which beat is the patient's own ({@link FAST_RR_MS}): without this a sustained VT became the
    // dominant beat after ≈ 140 beats, its complexes then read `N` and its alarm ended while it
    // went on, and the sinus beats after it read `V` for minutes.
    const fast = rrSamples > 0 && rrSamples < (FAST_RR_MS * this.#fs) / 1000;
    const normalRate = rrSamples > 0 && !fast;
    const established = dominant !== undefined && (dominant.weight >= ESTABLISHED_WEIGHT || dominant.normalRateWeight >= this.#learnedWeight);
    // (An interval from a complex cut by the input's start that was dropped as P-wave-like, above,
    // says nothing of the rate: its R peak is only the largest deviation of what was seen of it, up
    // to a lookbehind after the true one. Dropped, it left the clock before it.)
    const prev = r - rrSamples;
    const fromDroppedCut = rrSamples > 0 && prev < this.lookbehindSamples && prev - qrsBefore >= this.#standstillAfter;
    let dropped = false;
    if (unlike && (!fast || fromDroppedCut) && this.#pWaveSized(peakToPeak(b), dominant)) {
      // Ventricular standstill (complete heart block without escape): the QRS complexes stop, the
      // P waves go on. After the last QRS the detector's thresholds decay (Pan & Tompkins's
      // search-back, there to re-acquire a QRS that became smaller) until it takes P waves of
      // ≥ 0.25 mV (against a 1.1 mV QRS) for beats, so the asystole was never raised, or ended
      // while the standstill went on (EVALUATION.md §5). Such a complex — unlike the learned
      // dominant beat, under a third of its size (normal P waves ≤ 0.25 mV, a usable lead's QRS
      // ≥ 0.75 mV), not at a ventricular-tachycardia rate — does not count as a QRS for the clock,
      // and once no QRS has come for STANDSTILL_AFTER_MS it is no beat. A QRS that merely became
      // smaller keeps the dominant beat's shape; a VT in a lead where it is small comes fast.
      // It still teaches the templates below as any slow beat does: a complex that is the patient's
      // QRS after all (an electrode moved: another shape and size) becomes the dominant beat within
      // a minute or two and counts again; without the vote the rule never let go, a false asystole
      // until a relearn (review of d26c55c). The costs: a standstill's P waves become the dominant
      // beat too, after ≈ 140 of them, and the asystole (latched: high priority) ends then; a slow
      // escape rhythm of complexes under a third of the dominant beat's size reads as the asystole
      // (the same high priority as the extreme bradycardia it is).
      this.#qrsAt = qrsBefore;
      dropped = r - qrsBefore >= this.#standstillAfter;
    }
    const votes = !(unlike && established && fast);
    if (votes) for (const t of this.#templates) { t.weight *= this.#p.templateDecay; t.normalRateWeight *= this.#p.templateDecay; }
    // Noise only matters for a beat unlike the dominant one (it is measured only then).
    let noisy: boolean | undefined;
    const isNoisy = () => (noisy ??= this.hfNoise(r, rrSamples) > this.#p.noiseMax);
    if (best) {
      const w = best.wave;
      for (let k = 0; k < w.length; k++) w[k]! += (b[k]! - w[k]!) / 8;
      if (best.paced) {
        best.widths.push(qrsMs);
        if (best.widths.length > WIDTH_HISTORY) best.widths.shift();
        best.qrsMs = median(best.widths);
      } else {
        best.qrsMs += (qrsMs - best.qrsMs) / 8;
      }
      if (votes) best.weight += 1;
      if (votes && normalRate) best.normalRateWeight += 1;
    } else if (!isNoisy()) {
      if (this.#templates.length >= MAX_TEMPLATES) {
        let weakest = 0;
        for (let i = 1; i < this.#templates.length; i++) if (this.#templates[i]!.weight < this.#templates[weakest]!.weight) weakest = i;
        this.#templates.splice(weakest, 1);
      }
      this.#templates.push({ wave: Float64Array.from(b), qrsMs, widths: paced ? [qrsMs] : [], weight: votes ? 1 : 0, normalRateWeight: votes && normalRate ? 1 : 0, paced });
    }
    if (dropped) {
      this.#prevCls = undefined;
      return { cls: 'Q', qrsMs, corr, shift: 0, notQrs: true };
    }
    if (paced) {
      this.#prevCls = 'Q';
      return { cls: 'Q', qrsMs, corr: dominant ? pearson(b, dominant.wave) : NaN, shift };
    }
    if (!dominant) return { cls: isNoisy() ? 'Q' : 'N', qrsMs, corr: NaN, shift };
    // Unlike the dominant beat: V, unless it is noisy and not premature (then unknown: Q). A
    // premature beat unlike the dominant one stays V however noisy: OSEA's rule 2 (premature and
    // different → PVC) comes before its noise rules, and the first beats of a VT run are premature.
    const cls: BeatClass = !unlike ? 'N' : isNoisy() && !this.#premature(rrSamples) ? 'Q' : 'V';
    if (cls === 'N' && this.#prevCls === 'N' && rrSamples > 0) {
      this.#nn.push(rrSamples);
      if (this.#nn.length > NN_HISTORY) this.#nn.shift();
    }
    this.#prevCls = cls;
    return { cls, qrsMs, corr, shift };
  }

  /**
   * One beat of the {@link PolarityCheck} (the beat window is filled): `inverted` when it confirms
   * that the patch went back turned — the templates are inverted then, and the window matches
   * them as it is; `inverted?` for a beat that matches the dominant beat upside down before that.
   * @param matches the beat matches the dominant beat as it is: the polarity is unchanged
   */
  #checkPolarity(check: PolarityCheck, matches: boolean, dominant: Template, qrsMs: number): 'same' | 'inverted?' | 'inverted' | 'undecided' {
    if (matches) { this.#polarityCheck = undefined; return 'same'; }
    const b = this.#beat;
    for (let k = 0; k < b.length; k++) b[k] = -b[k]!;
    const inverted = this.#match(dominant, qrsMs, false) > -Infinity;
    for (let k = 0; k < b.length; k++) b[k] = -b[k]!;
    if (inverted && ++check.inverted >= POLARITY_CONFIRM_BEATS) {
      for (const t of this.#templates) for (let k = 0; k < t.wave.length; k++) t.wave[k] = -t.wave[k]!;
      this.#polarityCheck = undefined;
      return 'inverted';
    }
    if (--check.beatsLeft <= 0) this.#polarityCheck = undefined;
    return inverted ? 'inverted?' : 'undecided';
  }

  /** Fills the beat window around sample `at`, without its mean; returns the mean. */
  #window(at: number): number {
    const b = this.#beat;
    let mean = 0;
    for (let k = 0; k < b.length; k++) { b[k] = this.#signal(at - this.#pre + k); mean += b[k]!; }
    mean /= b.length;
    for (let k = 0; k < b.length; k++) b[k]! -= mean;
    return mean;
  }

  /** The template the beat window belongs to: the best correlated of those it matches. */
  #belongsTo(qrsMs: number, paced: boolean): Template | undefined {
    let best: Template | undefined;
    let bestCorr = -Infinity;
    for (const t of this.#templates) {
      const c = this.#match(t, qrsMs, paced);
      if (c > bestCorr) { best = t; bestCorr = c; }
    }
    return best;
  }

  /**
   * The beat window's correlation with template `t` when it matches it (same shape, not clearly
   * wider), else −∞. A paced beat joins a paced template by shape alone: its width reading is not
   * steady (file comment).
   */
  #match(t: Template, qrsMs: number, paced: boolean): number {
    const c = pearson(this.#beat, t.wave);
    return c >= this.#p.matchCorr && ((paced && t.paced) || qrsMs < t.qrsMs + this.#p.widerByMs) ? c : -Infinity;
  }

  /**
   * The other phase of the complex at R peak `r`: its largest deflection of the opposite sign
   * (about the window's mean) within ± {@link OTHER_PHASE_MS}; undefined when there is none.
   */
  #otherPhase(r: number, mean: number): number | undefined {
    const sign = Math.sign(this.#signal(r) - mean);
    let at: number | undefined;
    let size = 0;
    for (let i = r - this.#otherPhaseSpan; i <= r + this.#otherPhaseSpan; i++) {
      const v = -sign * (this.#signal(i) - mean);
      if (v > size) { size = v; at = i; }
    }
    return at;
  }

  /**
   * High-frequency (muscle) noise around the beat at R-peak `r`, as a share of its QRS
   * amplitude (OSEA `HFNoiseCheck`, see the file comment). The window starts after the previous
   * beat's QRS (its R + 110 ms): at fast rates (VT at 150/min: RR 400 ms) −280 ms would reach
   * into the previous QRS, whose steep slopes are not noise.
   * @param rrSamples interval from the previous beat (0 = unknown)
   */
  hfNoise(r: number, rrSamples = 0): number {
    const s = this.#signal;
    const ms = (x: number) => Math.round((x * this.#fs) / 1000);
    let lo = Infinity, hi = -Infinity;
    for (let i = Math.max(0, r - ms(70)); i <= r + ms(80); i++) { const v = s(i); if (v < lo) lo = v; if (v > hi) hi = v; }
    if (!(hi > lo)) return 0;
    const d = Math.max(1, ms(10));
    const ring = this.#noiseAvg;
    ring.fill(0);
    // (Samples before the stream's start do not exist: the window starts at the first one.)
    const from = Math.max(2 * d, r - ms(280), rrSamples > 0 ? r - rrSamples + ms(110) : 0);
    const qrsFrom = r - ms(50);
    const qrsTo = r + ms(110);
    let sum = 0, max = 0;
    for (let i = from, k = 0; i <= r + ms(WIDTH_SPAN_MS); i++, k = (k + 1) % ring.length) {
      const v = Math.abs(s(i) - 2 * s(i - d) + s(i - 2 * d));
      sum += v - ring[k]!;
      ring[k] = v;
      if ((i < qrsFrom || i > qrsTo) && i >= from + ring.length - 1 && sum > max) max = sum;
    }
    return max / ring.length / (hi - lo);
  }

  /** RR shorter than 7/8 of the mean of the last NN intervals (OSEA rythmchk `RRShort2`). */
  #premature(rr: number): boolean {
    if (rr <= 0 || this.#nn.length < NN_HISTORY) return false;
    let sum = 0;
    for (const x of this.#nn) sum += x;
    return rr < (0.875 * sum) / this.#nn.length;
  }

  /**
   * The patient's dominant beat is learned: as many of its beats as {@link
   * LEARNED_AT_NORMAL_RATE_BEATS} (its decayed count, at any rate), and no turned patch is being
   * checked for. ecg-beats.ts takes complexes like it in a silence of the firmware's beats for the
   * patient's own (a bedside monitor's "learned" beat: its first 15 valid beats).
   */
  get dominantLearned(): boolean {
    const dominant = this.#dominant();
    return this.#polarityCheck === undefined && dominant !== undefined && dominant.weight >= this.#learnedWeight;
  }

  /**
   * Which template is the dominant beat now, as an opaque token (the same while the same template
   * stays dominant; another when another overtakes it or the templates are replaced): ecg-beats.ts
   * counts complexes like the beat the firmware reported, not like a shape that became dominant since.
   */
  get dominantToken(): object | undefined {
    return this.#dominant();
  }

  /**
   * Where a {@link dominantToken} is among {@link templates} (−1: undefined, or not one of them any
   * more), so a labeller that {@link adopt}s or {@link restore}s them can name the same template
   * ({@link templateToken}): ecg-beats.ts carries it across a processor restart.
   */
  templateIndex(token: object | undefined): number {
    return token === undefined ? -1 : this.#templates.indexOf(token as Template);
  }

  /** The token of template `index` ({@link templateIndex}; undefined when there is none). */
  templateToken(index: number): object | undefined {
    return this.#templates[index];
  }

  #dominant(): Template | undefined {
    let d: Template | undefined;
    for (const t of this.#templates) if (!d || t.weight > d.weight) d = t;
    return d;
  }
}

/** Sorting space of {@link median} (classification runs beat by beat: no array per beat, only a view on this one). */
const widthScratch = new Float64Array(WIDTH_HISTORY);

/** Median of at most {@link WIDTH_HISTORY} widths (sorted in the scratch array). */
function median(xs: readonly number[]): number {
  const s = widthScratch.subarray(0, xs.length);
  s.set(xs);
  s.sort();
  const m = xs.length >> 1;
  return xs.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

function peakToPeak(a: Float64Array): number {
  let lo = Infinity, hi = -Infinity;
  for (const v of a) { if (v < lo) lo = v; if (v > hi) hi = v; }
  return hi - lo;
}

function pearson(a: Float64Array, b: Float64Array): number {
  let ab = 0, aa = 0, bb = 0;
  for (let k = 0; k < a.length; k++) { ab += a[k]! * b[k]!; aa += a[k]! * a[k]!; bb += b[k]! * b[k]!; }
  return aa > 0 && bb > 0 ? ab / Math.sqrt(aa * bb) : 0;
}
