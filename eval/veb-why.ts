/**
 * Why does the ECG beat labeller (processor/detectors/qrs-morphology.ts) call beats `V` that are not
 * ventricular? A diagnostic, not a score (issue 12, EVALUATION.md §5 "Why beats read V").
 *
 *   node eval/veb-why.ts [--data DIR]
 *
 * Each lead is run through the processor's QRS detector (the whole signal at once, as
 * eval/cinc2017.ts `detectBeats`; the labeller is the production one). mitdb 100, 103, 105, 106, 108
 * (both leads): a `V` beat is wrong when the reference beat within 150 ms is not `V`; CinC 2017: every
 * `V` beat is counted (the strips carry no beat labels; on `N` strips there should be next to none).
 * Each wrong `V` is put in one group, the first that applies:
 *   learning — one of the stream's first 15 beats (the labeller's dominant beat is still being learned);
 *   wider    — it matches the dominant beat's shape (template correlation ≥ matchCorr) and is `V` only
 *              because its measured QRS width is ≥ widerByMs above the dominant beat's;
 *   anti     — template correlation < 0: the complex is anchored on another deflection than the
 *              template, or has the opposite polarity;
 *   noisy    — its high-frequency noise (the labeller's own `hfNoise`) is above `noiseMax`: it is `V`
 *              only through the premature-beat exception of the noise gate;
 *   shape    — any other: a correlation of 0–0.9 with the dominant beat.
 * Also printed: how many are premature (RR < 7/8 of the mean of the last 4 N–N intervals, the
 * labeller's rule), how many sit in a run of ≥ 5 `V` at > 100/min (what raises a false VT), the
 * spread of the width readings of the beats read `N` (p10–p90, ms: how steady the width is on that
 * lead) and, for the `wider` group, how much wider than the median `N` reading they read; for mitdb
 * the same for the true `V` beats that match the dominant shape, which a width rule must keep.
 */
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { Biquad } from '../processor/detectors/biquad.ts';
import { QrsDetector } from '../processor/detectors/qrs-detector.ts';
import { BeatMorphology, MORPHOLOGY_DEFAULTS } from '../processor/detectors/qrs-morphology.ts';
import { recordBeats } from '../device-sim/replay.ts';
import { loadQrsRecord } from './ecg-eval.ts';
import { loadCinc2017 } from './cinc2017.ts';

const { values } = parseArgs({ options: { data: { type: 'string', default: resolve(import.meta.dirname, '../../shared/data/ecg') } } });
const dataDir = values.data!;
const LEARNING_BEATS = 15;
const GROUPS = ['learning', 'wider', 'anti', 'noisy', 'shape'] as const;
type Group = (typeof GROUPS)[number];

interface Tally {
  name: string;
  beats: number;
  wrongV: number;
  groups: Record<Group, number>;
  premature: number;
  inRun: number;
  widerBy: number[];
  nWidths: number[];
  trueV: number;
  trueVAlike: number[];
}

const tally = (name: string): Tally => ({ name, beats: 0, wrongV: 0, groups: { learning: 0, wider: 0, anti: 0, noisy: 0, shape: 0 }, premature: 0, inRun: 0, widerBy: [], nWidths: [], trueV: 0, trueVAlike: [] });

/** The detector's wide-band signal (qrs-detector.ts: first sample subtracted, 0.5 Hz high-pass, 40 Hz low-pass). */
function wideBand(uV: ArrayLike<number>, fs: number): Float64Array {
  const hp = Biquad.highPass(0.5, fs);
  const lp = Biquad.lowPass(Math.min(40, fs * 0.4), fs);
  const out = new Float64Array(uV.length);
  const dc = uV.length > 0 ? uV[0]! : 0;
  for (let i = 0; i < uV.length; i++) out[i] = lp.step(hp.step(uV[i]! - dc));
  return out;
}

/**
 * Adds one lead's beats to `t`.
 * @param isTrueV for a beat sample: whether the reference beat there is `V` (undefined: no reference)
 */
function analyse(t: Tally, uV: ArrayLike<number>, fs: number, isTrueV?: (sample: number) => boolean): void {
  const det = new QrsDetector(fs);
  const beats = det.push(uV);
  det.push(new Float64Array(Math.round(fs)), beats);
  const kept = beats.filter((b) => b.sample < uV.length);
  const wide = wideBand(uV, fs);
  const morph = new BeatMorphology(fs, (i) => wide[Math.min(Math.max(i, 0), wide.length - 1)]!);
  const nWidths = kept.filter((b) => b.cls === 'N').map((b) => b.qrsMs);
  const medianN = quantile(nWidths, 0.5);
  t.nWidths.push(...nWidths);
  // Runs of ≥ 5 `V` at > 100/min.
  const inRun = new Set<number>();
  for (let i = 0; i < kept.length;) {
    let j = i;
    while (j < kept.length && kept[j]!.cls === 'V') j++;
    if (j - i >= 5 && (60 * fs * (j - i - 1)) / (kept[j - 1]!.sample - kept[i]!.sample) > 100) for (let k = i; k < j; k++) inRun.add(k);
    i = j === i ? i + 1 : j;
  }
  const nn: number[] = [];
  for (const [i, b] of kept.entries()) {
    t.beats++;
    const rr = i > 0 ? b.sample - kept[i - 1]!.sample : 0;
    const premature = rr > 0 && nn.length >= 4 && rr < (0.875 * nn.reduce((a, x) => a + x, 0)) / nn.length;
    if (b.cls === 'N' && i > 0 && kept[i - 1]!.cls === 'N') { nn.push(rr); if (nn.length > 4) nn.shift(); }
    if (b.cls !== 'V') continue;
    if (isTrueV?.(b.sample)) {
      t.trueV++;
      if (b.templateCorr >= MORPHOLOGY_DEFAULTS.matchCorr) t.trueVAlike.push(b.qrsMs - medianN);
      continue;
    }
    t.wrongV++;
    const group: Group = i < LEARNING_BEATS ? 'learning'
      : b.templateCorr >= MORPHOLOGY_DEFAULTS.matchCorr ? 'wider'
      : b.templateCorr < 0 ? 'anti'
      : morph.hfNoise(b.sample, rr) > MORPHOLOGY_DEFAULTS.noiseMax ? 'noisy' : 'shape';
    t.groups[group]++;
    if (group === 'wider') t.widerBy.push(b.qrsMs - medianN);
    if (premature) t.premature++;
    if (inRun.has(i)) t.inRun++;
  }
}

function quantile(xs: readonly number[], q: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
}

const rows: Tally[] = [];
for (const name of ['100', '103', '105', '106', '108']) {
  for (const lead of ['scored', 'other'] as const) {
    const loaded = await loadQrsRecord(join(dataDir, 'mitdb'), name, lead).catch(() => undefined);
    const ecg = loaded?.record.ecg;
    if (!loaded || !ecg) continue;
    const { record } = loaded;
    const fs = record.header.fsHz;
    const ref = recordBeats(record, 0).map((b) => ({ s: Math.round((b.tMs * fs) / 1000), v: b.cls === 'V' }));
    const window = Math.round(0.15 * fs);
    let at = 0;
    const isTrueV = (s: number): boolean => {
      while (at < ref.length - 1 && ref[at + 1]!.s <= s) at++;
      let best: { s: number; v: boolean } | undefined;
      for (const r of [ref[at - 1], ref[at], ref[at + 1]]) if (r && Math.abs(r.s - s) <= window && (!best || Math.abs(r.s - s) < Math.abs(best.s - s))) best = r;
      return best?.v ?? false;
    };
    const t = tally(`mitdb ${name} ${ecg.description}`);
    analyse(t, ecg.uV, fs, isTrueV);
    rows.push(t);
  }
}
const strips = await loadCinc2017(join(dataDir, 'cinc2017')).catch(() => []);
for (const label of ['N', 'A', 'O', '~'] as const) {
  const t = tally(`cinc2017 ${label}`);
  for (const s of strips.filter((x) => x.label === label)) analyse(t, s.uV, s.fsHz);
  if (t.beats > 0) rows.push(t);
}

const pc = (a: number, b: number) => (b > 0 ? `${Math.round((100 * a) / b)}` : '-');
const q3 = (xs: number[]) => (xs.length === 0 ? '-' : `${quantile(xs, 0.1).toFixed(0)}/${quantile(xs, 0.5).toFixed(0)}/${quantile(xs, 0.9).toFixed(0)}`);
console.log(`Wrong V beats by cause (% of the wrong V; groups as in the file comment). matchCorr ${MORPHOLOGY_DEFAULTS.matchCorr}, widerByMs ${MORPHOLOGY_DEFAULTS.widerByMs}, noiseMax ${MORPHOLOGY_DEFAULTS.noiseMax}`);
console.log('lead / strips        beats  wrong V (% beats) | learning wider anti noisy shape | premature in-run | N width p10/50/90 ms | wider: Δ vs N p10/50/90 | true V: n, alike-shape Δ p10/50/90');
for (const t of rows) {
  console.log(`${t.name.padEnd(20)} ${String(t.beats).padStart(5)}  ${String(t.wrongV).padStart(5)} (${pc(t.wrongV, t.beats).padStart(2)} %)  | ${GROUPS.map((g) => pc(t.groups[g], t.wrongV).padStart(g.length)).join(' ')} | ${pc(t.premature, t.wrongV).padStart(9)} ${pc(t.inRun, t.wrongV).padStart(6)} | ${q3(t.nWidths).padStart(20)} | ${q3(t.widerBy).padStart(23)} | ${t.trueV > 0 ? `${t.trueV}, ${t.trueVAlike.length}: ${q3(t.trueVAlike)}` : '-'}`);
}
