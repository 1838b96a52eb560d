/**
 * A learned combination of the ECG AF measures against today's rule, on the CinC 2017 strips
 * (EVALUATION.md §2b, "A learned combination of the ECG measures"; tried, not adopted).
 *
 *   node eval/af-ecg-learned.ts [--data ../shared/data/ecg] [--seeds 30] [--features rule3|rule4] [--objective pp97|f1] [--veto]
 *
 * Both are scored by nested stratified 5-fold cross-validation over the same per-strip measures
 * (afib.ts `measureAfStrip`, once per strip):
 *  - the rule (`decideAfStrip` as `npm run eval` runs it): P-wave coherence limit × ECG entropy
 *    gate from af-generalisation.ts `ECG_CANDIDATES`, the one with the best F1 of AF on the 4
 *    training folds, scored on the 5th;
 *  - L2-regularised logistic regression over the rule's own measures, standardised — P-wave
 *    coherence (+ a flag when it is not measured: fewer than 12 usable beats; then the training
 *    median), the stretch score, COSEn and (`rule4`) the f-wave fraction. Inside each training
 *    part: the medians and the standardisation; the regularisation C ∈ {0.01 … 10} and the
 *    probability threshold by an inner stratified 4-fold CV of the training strips — `pp97`: the
 *    most AF found with the inner out-of-fold +P ≥ 97 % (none reaching it: nothing called AF),
 *    `f1`: the best F1 of AF. A strip without a full 8-beat window is not AF, and at a mean RR
 *    below 550 ms the RR-only rule's AF stands (the ECG never vetoes fast AF), as in the rule.
 *    `--veto`: a consistent P wave (coherence ≥ the fold's rule-chosen limit) still vetoes, so
 *    the model only replaces the rule's RR part.
 * Seed 0 deals each class round-robin in name order — the eval's folds, so its row compares with
 * §2b's 5-fold CV row; seeds ≥ 1 shuffle each class first (seeded), for the spread of the CV
 * estimate over different splits. Feature-based classifiers were among the Challenge's winners
 * (Zabihi et al., CinC 2017, doi:10.22489/CinC.2017.069-336: random forest over 150 of 491
 * features); this asks whether a small interpretable one over our few measures beats the rule.
 */
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { AFIB_DEFAULTS, decideAfStrip, type AfStripMeasures } from '../processor/detectors/afib.ts';
import { TQ_WINDOW_MIN_RR_MS } from '../processor/detectors/atrial-activity.ts';
import { createPrng } from '../device-sim/prng.ts';
import { ECG_CANDIDATES } from './af-generalisation.ts';
import { classifyMeasured, loadCinc2017, measureStrip, type Cinc2017Strip } from './cinc2017.ts';

const FEATURES = {
  rule3: ['pWaveCoherence', 'stretchScore', 'cosen'],
  rule4: ['pWaveCoherence', 'stretchScore', 'cosen', 'fWaveFraction'],
} as const satisfies Record<string, readonly (keyof AfStripMeasures)[]>;
const C_GRID = [0.01, 0.03, 0.1, 0.3, 1, 3, 10];
const K = 5;
const INNER_K = 4;

/** Stratified k folds; seed 0 = round-robin in name order per class (af-generalisation.ts), else shuffled per class. */
export function stratifiedFolds(labels: readonly string[], k: number, seed: number): number[] {
  const fold = new Array<number>(labels.length).fill(0);
  const random = createPrng(seed);
  for (const cls of [...new Set(labels)]) {
    const idx = labels.flatMap((l, i) => (l === cls ? [i] : []));
    if (seed !== 0) for (let i = idx.length - 1; i > 0; i--) { const j = Math.floor(random() * (i + 1)); [idx[i], idx[j]] = [idx[j]!, idx[i]!]; }
    idx.forEach((i, n) => { fold[i] = n % k; });
  }
  return fold;
}

/** TP and FP of AF calls. */
function count(pred: readonly boolean[], y: readonly boolean[], keep: (i: number) => boolean = () => true): { tp: number; fp: number; fn: number } {
  let tp = 0, fp = 0, fn = 0;
  pred.forEach((p, i) => { if (!keep(i)) return; if (p && y[i]) tp++; else if (p) fp++; else if (y[i]) fn++; });
  return { tp, fp, fn };
}
const f1 = ({ tp, fp, fn }: { tp: number; fp: number; fn: number }) => (tp > 0 ? (2 * tp) / (2 * tp + fp + fn) : 0);

/**
 * L2-regularised logistic regression (intercept not penalised): minimises ½‖w‖² + C·Σ log-loss
 * by Newton's method (convex; a handful of features, so the Hessian is tiny).
 */
export function fitLogistic(x: readonly number[][], y: readonly boolean[], c: number): number[] {
  const d = x[0]!.length + 1;
  const w = new Array<number>(d).fill(0);
  for (let iter = 0; iter < 50; iter++) {
    const g = w.map((wi, j) => (j < d - 1 ? wi : 0));
    const h = Array.from({ length: d }, (_, a) => Array.from({ length: d }, (_, b) => (a === b && a < d - 1 ? 1 : 0)));
    x.forEach((row, i) => {
      const z = [...row, 1];
      const p = 1 / (1 + Math.exp(-z.reduce((s, v, j) => s + v * w[j]!, 0)));
      const r = p - (y[i] ? 1 : 0);
      for (let a = 0; a < d; a++) { g[a]! += c * r * z[a]!; for (let b = 0; b < d; b++) h[a]![b]! += c * p * (1 - p) * z[a]! * z[b]!; }
    });
    const step = solve(h, g);
    step.forEach((s, j) => { w[j]! -= s; });
    if (Math.max(...step.map(Math.abs)) < 1e-10) break;
  }
  return w;
}

function solve(a: number[][], b: number[]): number[] {
  const n = b.length;
  const m = a.map((row, i) => [...row, b[i]!]);
  for (let col = 0; col < n; col++) {
    let piv = col;
    for (let r = col + 1; r < n; r++) if (Math.abs(m[r]![col]!) > Math.abs(m[piv]![col]!)) piv = r;
    [m[col], m[piv]] = [m[piv]!, m[col]!];
    for (let r = 0; r < n; r++) {
      if (r === col) continue;
      const f = m[r]![col]! / m[col]![col]!;
      for (let cc = col; cc <= n; cc++) m[r]![cc]! -= f * m[col]![cc]!;
    }
  }
  return m.map((row, i) => row[n]! / row[i]!);
}

interface Prepared { med: number[]; mu: number[]; sd: number[] }
/** Medians for missing values, then standardisation, both from the training rows only. */
function prepare(raw: readonly number[][], train: readonly number[]): Prepared {
  const d = raw[0]!.length;
  const med: number[] = [], mu: number[] = [], sd: number[] = [];
  for (let j = 0; j < d; j++) {
    const v = train.map((i) => raw[i]![j]!).filter(Number.isFinite).sort((a, b) => a - b);
    med.push(v.length ? (v.length % 2 ? v[(v.length - 1) / 2]! : (v[v.length / 2 - 1]! + v[v.length / 2]!) / 2) : 0);
    const filled = train.map((i) => (Number.isFinite(raw[i]![j]!) ? raw[i]![j]! : med[j]!));
    const m = filled.reduce((s, x) => s + x, 0) / filled.length;
    mu.push(m);
    sd.push(Math.sqrt(filled.reduce((s, x) => s + (x - m) ** 2, 0) / filled.length) + 1e-12);
  }
  return { med, mu, sd };
}
const design = (row: readonly number[], p: Prepared): number[] => [...row.map((v, j) => ((Number.isFinite(v) ? v : p.med[j]!) - p.mu[j]!) / p.sd[j]!), Number.isFinite(row[0]!) ? 0 : 1];
const predict = (w: readonly number[], z: readonly number[]) => 1 / (1 + Math.exp(-z.reduce((s, v, j) => s + v * w[j]!, w.at(-1)!)));

/** The threshold on out-of-fold probabilities: best objective, the lowest such threshold. */
function chooseThreshold(prob: readonly number[], y: readonly boolean[], objective: 'pp97' | 'f1'): { score: number; t: number } {
  let best = { score: -1, t: Infinity };
  for (const t of [...new Set(prob)].sort((a, b) => a - b)) {
    const n = count(prob.map((p) => p >= t), y);
    const score = objective === 'f1' ? f1(n) : n.tp > 0 && n.tp / (n.tp + n.fp) >= 0.97 ? n.tp : -1;
    if (score > best.score + 1e-12) best = { score, t };
  }
  return best;
}

export interface LearnedModel { w: number[]; prepared: Prepared; c: number; t: number }

/** C and threshold by inner CV on `train`, then the fit on all of `train`. */
export function trainModel(raw: readonly number[][], y: readonly boolean[], train: readonly number[], objective: 'pp97' | 'f1', seed: number): LearnedModel {
  const inner = stratifiedFolds(train.map((i) => String(y[i])), INNER_K, seed + 1);
  let best = { score: -1, c: C_GRID[0]!, t: Infinity };
  for (const c of C_GRID) {
    const oof = new Array<number>(train.length);
    for (let f = 0; f < INNER_K; f++) {
      const fit = train.filter((_, n) => inner[n] !== f);
      const p = prepare(raw, fit);
      const w = fitLogistic(fit.map((i) => design(raw[i]!, p)), fit.map((i) => y[i]!), c);
      train.forEach((i, n) => { if (inner[n] === f) oof[n] = predict(w, design(raw[i]!, p)); });
    }
    const { score, t } = chooseThreshold(oof, train.map((i) => y[i]!), objective);
    if (score > best.score + 1e-12) best = { score, c, t };
  }
  const prepared = prepare(raw, train);
  return { w: fitLogistic(train.map((i) => design(raw[i]!, prepared)), train.map((i) => y[i]!), best.c), prepared, c: best.c, t: best.t };
}

interface Data { strips: Cinc2017Strip[]; y: boolean[]; raw: number[][]; usable: boolean[]; fastRrAf: boolean[]; rule: boolean[][] }

/** The rule's nested CV; `limits` gets each fold's chosen P-wave coherence limit. */
function ruleCv(d: Data, folds: readonly number[], limits: number[] = []): boolean[] {
  const pred = new Array<boolean>(d.y.length).fill(false);
  for (let f = 0; f < K; f++) {
    let best = 0, bestF1 = -1;
    d.rule.forEach((res, ci) => { const s = f1(count(res, d.y, (i) => folds[i] !== f)); if (s > bestF1 + 1e-9) { best = ci; bestF1 = s; } });
    limits[f] = ECG_CANDIDATES[best]!.pWaveCoherenceMax!;
    d.y.forEach((_, i) => { if (folds[i] === f) pred[i] = d.rule[best]![i]!; });
  }
  return pred;
}

/**
 * The model's nested CV. With `vetoLimits` (the rule's fold choices) a consistent P wave (measured
 * coherence ≥ the fold's limit) still vetoes, as in the rule: the model only replaces the rule's
 * RR part, and is trained on the strips the veto leaves.
 */
function modelCv(d: Data, folds: readonly number[], objective: 'pp97' | 'f1', seed: number, vetoLimits?: readonly number[]): boolean[] {
  const pred = new Array<boolean>(d.y.length).fill(false);
  for (let f = 0; f < K; f++) {
    const open = (i: number) => d.usable[i]! && !(vetoLimits && d.raw[i]![0]! >= vetoLimits[f]!);
    const train = d.y.flatMap((_, i) => (folds[i] !== f && open(i) ? [i] : []));
    const m = trainModel(d.raw, d.y, train, objective, 100 * seed + f);
    d.y.forEach((_, i) => { if (folds[i] === f) pred[i] = (open(i) && predict(m.w, design(d.raw[i]!, m.prepared)) >= m.t) || d.fastRrAf[i]!; });
  }
  return pred;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { data: { type: 'string', default: resolve(import.meta.dirname, '../../shared/data/ecg') }, seeds: { type: 'string', default: '30' }, features: { type: 'string', default: 'rule3' }, objective: { type: 'string', default: 'pp97' }, veto: { type: 'boolean', default: false } } });
  const keys = FEATURES[values.features as keyof typeof FEATURES];
  const objective = values.objective as 'pp97' | 'f1';
  if (!keys || !['pp97', 'f1'].includes(objective)) throw new Error('--features rule3|rule4, --objective pp97|f1');
  const strips = await loadCinc2017(resolve(values.data, 'cinc2017'));
  const measured = strips.map((s) => measureStrip(s, true));
  const d: Data = {
    strips,
    y: strips.map((s) => s.label === 'A'),
    raw: measured.map((m) => keys.map((k) => m[k] as number)),
    usable: measured.map((m) => m.windows > 0),
    fastRrAf: measured.map((m) => 60000 / m.hrBpm < TQ_WINDOW_MIN_RR_MS && decideAfStrip({ ...m, pWaveCoherence: Number.NaN, fWaveFraction: Number.NaN }).af),
    rule: ECG_CANDIDATES.map((c) => strips.map((s, i) => classifyMeasured(s, measured[i]!, c).predicted === 'A')),
  };
  const afCount = d.y.filter(Boolean).length;
  const fmt = ({ tp, fp, fn }: { tp: number; fp: number; fn: number }) => `Se ${((100 * tp) / afCount).toFixed(1)} % (${tp}) +P ${((100 * tp) / (tp + fp)).toFixed(1)} % (${fp} false) F1a ${f1({ tp, fp, fn }).toFixed(3)}`;
  console.log(`CinC 2017, ${strips.length} strips (${afCount} AF); logistic regression over ${keys.join(', ')} (+ coherence-missing flag), threshold objective ${objective}${values.veto ? '; the P-wave veto kept (the rule\'s fold-chosen coherence limit)' : ''}`);
  const rows: { rule: ReturnType<typeof count>; model: ReturnType<typeof count> }[] = [];
  /** Per strip: seeds where only the model, resp. only the rule, calls it AF. */
  const onlyModel = new Array<number>(strips.length).fill(0), onlyRule = new Array<number>(strips.length).fill(0);
  for (let seed = 0; seed < Number(values.seeds); seed++) {
    const folds = stratifiedFolds(strips.map((s) => s.label), K, seed);
    const limits: number[] = [];
    const rp = ruleCv(d, folds, limits), mp = modelCv(d, folds, objective, seed, values.veto ? limits : undefined);
    rp.forEach((a, i) => { if (mp[i] && !a) onlyModel[i]!++; if (a && !mp[i]) onlyRule[i]!++; });
    const r = count(rp, d.y);
    const m = count(mp, d.y);
    rows.push({ rule: r, model: m });
    console.log(`  folds seed ${String(seed).padStart(2)}${seed === 0 ? ' (the eval\'s)' : '             '}  rule ${fmt(r)}   model ${fmt(m)}`);
  }
  const summary = (pick: (r: (typeof rows)[number]) => ReturnType<typeof count>) => {
    const tp = rows.map((r) => pick(r).tp), fp = rows.map((r) => pick(r).fp);
    const mean = (v: number[]) => v.reduce((s, x) => s + x, 0) / v.length;
    return `AF found ${mean(tp).toFixed(1)} [${Math.min(...tp)}–${Math.max(...tp)}] (Se ${((100 * mean(tp)) / afCount).toFixed(1)} %), false ${mean(fp).toFixed(1)} [${Math.min(...fp)}–${Math.max(...fp)}]`;
  };
  console.log(`  over ${rows.length} fold seeds: rule ${summary((r) => r.rule)}; model ${summary((r) => r.model)}`);
  const dTp = rows.map((r) => r.model.tp - r.rule.tp);
  console.log(`  model − rule, AF found per seed: ${dTp.map((x) => (x > 0 ? `+${x}` : String(x))).join(' ')}; false: ${rows.map((r) => r.model.fp - r.rule.fp).map((x) => (x > 0 ? `+${x}` : String(x))).join(' ')}`);
  const differ = (n: number[]) => strips.flatMap((s, i) => (n[i]! > 0 ? [`${s.name} (${s.label}) ${n[i]}×`] : [])).join(', ') || 'none';
  console.log(`  AF only by the model: ${differ(onlyModel)}`);
  console.log(`  AF only by the rule: ${differ(onlyRule)}`);
  // In sample: trained on all strips (C and threshold by inner CV on all of them), scored on them.
  // With --veto, the production limit (the setting the rule's CV chooses on all strips).
  const open = (i: number) => d.usable[i]! && !(values.veto && d.raw[i]![0]! >= AFIB_DEFAULTS.pWaveCoherenceMax);
  const all = d.y.flatMap((_, i) => (open(i) ? [i] : []));
  const m = trainModel(d.raw, d.y, all, objective, 0);
  const pred = d.y.map((_, i) => (open(i) && predict(m.w, design(d.raw[i]!, m.prepared)) >= m.t) || d.fastRrAf[i]!);
  console.log(`  in sample (trained on all ${strips.length}): C ${m.c}, threshold ${m.t.toFixed(3)}, weights (standardised ${keys.join(', ')}, missing flag, intercept) ${m.w.map((v) => v.toFixed(2)).join(' ')}: ${fmt(count(pred, d.y))}`);
}

if (import.meta.main) await main();
