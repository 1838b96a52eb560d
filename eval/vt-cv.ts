/**
 * Cross-validated choice of the VT alarm setting on the CinC 2015 alarms (eval/challenge2015.ts):
 * no setting is scored on the alarms it was chosen on.
 *
 * Folds: 5, by record (each record is one alarm), stratified — the true and the false alarms are
 * each dealt round-robin in name order, so every fold holds about a fifth of the true VT alarms.
 * Choice on the training folds (issue 12: "a VT alarm must never be missed to win
 * specificity"): the highest sensitivity first, then the highest Challenge score, then the
 * earlier setting in VT_SETTINGS (fewer leads, longer runs). The held-out verdicts of the five
 * folds are pooled into one TP/FN/TN/FP — the estimate for alarms the choice never saw.
 */
import { challengeScore, decide, VT_SETTINGS, type AlarmRecord, type AlarmResult, type ChallengeScore, type VtSetting } from './challenge2015.ts';

export const VT_CV_FOLDS = 5;

export interface VtFold {
  /** Held-out records. */
  test: string[];
  chosen: VtSetting;
  /** The chosen setting on the training folds. */
  train: ChallengeScore;
}

export interface VtCrossValidation {
  folds: VtFold[];
  /** Held-out verdicts of all folds pooled. */
  heldOut: ChallengeScore;
}

/** Stratified fold index of each record (round-robin over the true, then the false alarms, in name order). */
export function vtFolds(records: readonly AlarmRecord[], k = VT_CV_FOLDS): Map<string, number> {
  const out = new Map<string, number>();
  for (const truth of [true, false]) {
    records.filter((r) => r.truth === truth).map((r) => r.name).sort().forEach((name, i) => out.set(name, i % k));
  }
  return out;
}

/** The preferred setting on `records`: sensitivity first, then score, then VT_SETTINGS order. */
export function chooseVtSetting(records: readonly AlarmRecord[], settings: readonly VtSetting[] = VT_SETTINGS): { setting: VtSetting; score: ChallengeScore } {
  let best: { setting: VtSetting; score: ChallengeScore } | undefined;
  for (const setting of settings) {
    const score = challengeScore(records.map((r) => decide(r, setting)));
    if (!best || score.tpr > best.score.tpr || (score.tpr === best.score.tpr && score.score > best.score.score)) best = { setting, score };
  }
  if (!best) throw new Error('chooseVtSetting: no setting to choose from');
  return best;
}

/** Leave-one-record-out: every alarm decided by the setting chosen on the other alarms (a check on the 5-fold estimate). */
export function leaveOneOutVt(records: readonly AlarmRecord[], settings: readonly VtSetting[] = VT_SETTINGS): VtCrossValidation {
  return crossValidateVt(records, records.length, settings, new Map(records.map((r, i) => [r.name, i])));
}

export function crossValidateVt(records: readonly AlarmRecord[], k = VT_CV_FOLDS, settings: readonly VtSetting[] = VT_SETTINGS, fold = vtFolds(records, k)): VtCrossValidation {
  const folds: VtFold[] = [];
  const heldOut: AlarmResult[] = [];
  for (let f = 0; f < k; f++) {
    const test = records.filter((r) => fold.get(r.name) === f);
    if (test.length === 0) continue;
    const { setting, score } = chooseVtSetting(records.filter((r) => fold.get(r.name) !== f), settings);
    folds.push({ test: test.map((r) => r.name), chosen: setting, train: score });
    for (const r of test) heldOut.push(decide(r, setting));
  }
  return { folds, heldOut: challengeScore(heldOut) };
}
