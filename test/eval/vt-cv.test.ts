import { describe, expect, it } from 'vitest';
import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { alarmType, decide, decideProduction, ecgSignalIndexes, evaluateChallenge2015, VT_SETTINGS, type AlarmRecord, type LeadResult } from '../../eval/challenge2015.ts';
import { vtDetectors } from '../../eval/ecg-eval.ts';
import { chooseVtSetting, crossValidateVt, leaveOneOutVt, vtFolds } from '../../eval/vt-cv.ts';
import { readWfdbHeader } from '../../device-sim/wfdb-header.ts';

const ECG = '/work/shared/data/ecg';

/** A lead whose vt episodes exist for the given run lengths. */
const lead = (...minBeats: number[]): LeadResult => ({ lead: 'II', beats: 0, vBeats: 0, vfLeakage: 1, productionVt: [], vtEpisodes: Object.fromEntries([5, 4, 3].map((m) => [m, minBeats.includes(m) ? [[295, null]] : []])) });
const beatsOnly = VT_SETTINGS.filter((s) => s.leakageBelow === null);
const rec = (name: string, truth: boolean, ...leads: LeadResult[]): AlarmRecord => ({ name, truth, leads });

describe('CinC 2015 VT verdicts and their cross-validated choice', () => {
  it('first lead only vs any ECG lead, per run length', () => {
    const r = rec('a', true, lead(), lead(5, 4, 3));
    expect(decide(r, { leads: 'first', minBeats: 5, leakageBelow: null }).alarm).toBe(false);
    expect(decide(r, { leads: 'all', minBeats: 5, leakageBelow: null }).alarm).toBe(true);
    const s = rec('b', true, lead(3));
    expect(decide(s, { leads: 'first', minBeats: 4, leakageBelow: null }).alarm).toBe(false);
    expect(decide(s, { leads: 'first', minBeats: 3, leakageBelow: null }).alarm).toBe(true);
  });

  it('waveform evidence: a lead whose VF-filter leakage falls below the threshold raises the alarm without V beats', () => {
    const r = rec('w', true, { ...lead(), vfLeakage: 0.5 });
    expect(decide(r, { leads: 'first', minBeats: 3, leakageBelow: null }).alarm).toBe(false);
    expect(decide(r, { leads: 'first', minBeats: 3, leakageBelow: 0.55 }).alarm).toBe(true);
    expect(decide(r, { leads: 'first', minBeats: 3, leakageBelow: 0.5 }).alarm).toBe(false);
  });

  it('folds are stratified by label and deterministic', () => {
    const records = [...Array.from({ length: 10 }, (_, i) => rec(`t${i}`, true)), ...Array.from({ length: 15 }, (_, i) => rec(`f${i}`, false))];
    const folds = vtFolds(records, 5);
    for (let f = 0; f < 5; f++) {
      expect(records.filter((r) => r.truth && folds.get(r.name) === f)).toHaveLength(2);
      expect(records.filter((r) => !r.truth && folds.get(r.name) === f)).toHaveLength(3);
    }
    expect(vtFolds([...records].reverse(), 5)).toEqual(folds);
  });

  it('chooses sensitivity first, then the score; ties go to the fewer leads and longer runs', () => {
    // The second lead catches the true alarm but also raises a false one: sensitivity wins.
    const a = [rec('t', true, lead(), lead(5, 4, 3)), rec('f', false, lead(), lead(5, 4, 3)), rec('g', false, lead(), lead())];
    expect(chooseVtSetting(a, beatsOnly).setting).toEqual({ leads: 'all', minBeats: 5, leakageBelow: null });
    // Equal sensitivity: the higher score (≥ 5 raises no false alarm, ≥ 3 does).
    const b = [rec('t', true, lead(5, 4, 3)), rec('f', false, lead(3))];
    expect(chooseVtSetting(b, beatsOnly).setting).toEqual({ leads: 'first', minBeats: 5, leakageBelow: null });
  });

  it('scores every alarm only with a setting chosen without it', () => {
    // Two folds. t1 has only a 3-beat run, t0 a long one; f0 a 3-beat run of noise.
    const records = [rec('t0', true, lead(5, 4, 3)), rec('t1', true, lead(3)), rec('f0', false, lead(3)), rec('f1', false, lead())];
    const cv = crossValidateVt(records, 2, beatsOnly);
    expect(cv.folds.map((f) => f.test)).toEqual([['t0', 'f0'], ['t1', 'f1']]);
    // Fold 0 trains on t1 and f1: only ≥ 3 catches t1.
    expect(cv.folds[0]!.chosen).toEqual({ leads: 'first', minBeats: 3, leakageBelow: null });
    // Fold 1 trains on t0 and f0: ≥ 5 catches t0 without f0's false alarm.
    expect(cv.folds[1]!.chosen).toEqual({ leads: 'first', minBeats: 5, leakageBelow: null });
    // Held out: t0 caught, f0 a false alarm (fold 0, ≥ 3); t1 missed, f1 quiet (fold 1, ≥ 5).
    expect(cv.heldOut).toMatchObject({ tp: 1, fn: 1, tn: 1, fp: 1 });
  });

  it('leave-one-record-out: the only alarm that needs ≥ 3 beats is missed when it is the one held out', () => {
    const records = [rec('t0', true, lead(5, 4, 3)), rec('t1', true, lead(3)), rec('t2', true, lead(4, 3)), rec('f0', false, lead(3)), rec('f1', false, lead())];
    const loro = leaveOneOutVt(records, beatsOnly);
    expect(loro.folds).toHaveLength(5);
    expect(loro.folds.find((f) => f.test[0] === 't1')!.chosen.minBeats).toBe(4);
    expect(loro.folds.find((f) => f.test[0] === 't0')!.chosen.minBeats).toBe(3);
    expect(loro.heldOut).toMatchObject({ tp: 2, fn: 1, fp: 1, tn: 1 });
  });

  it('scores VT alarms only: a folder holding the Challenge\'s other alarm types skips them by the header\'s alarm type, and listed records that are absent', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'cinc2015-'));
    try {
      const vt = await readFile(`${ECG}/challenge2015/v131l.hea`, 'utf8');
      await writeFile(join(dir, 'v131l.hea'), vt);
      await copyFile(`${ECG}/challenge2015/v131l.mat`, join(dir, 'v131l.mat'));
      // The same signals relabelled as an asystole alarm (the training set's a*.hea say "#Asystole").
      await writeFile(join(dir, 'a131l.hea'), vt.replace(/^v131l/, 'a131l').replaceAll('v131l.mat', 'a131l.mat').replace('#Ventricular_Tachycardia', '#Asystole'));
      await copyFile(`${ECG}/challenge2015/v131l.mat`, join(dir, 'a131l.mat'));
      // v999s is listed but not in the folder (a subset of the records with the full alarms.csv): skipped.
      await writeFile(join(dir, 'alarms.csv'), 'record,true_alarm\nv131l,1\na131l,1\nv999s,0\n');
      expect(alarmType(await readWfdbHeader(join(dir, 'a131l.hea')))).toBe('Asystole');
      expect(alarmType(await readWfdbHeader(join(dir, 'v131l.hea')))).toBe('Ventricular_Tachycardia');
      const records = await evaluateChallenge2015(dir, vtDetectors);
      expect(records.map((r) => r.name)).toEqual(['v131l']);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('reads only the ECG leads of a record (mV), not ABP, PPG or RESP', async () => {
    const h = await readWfdbHeader(`${ECG}/challenge2015/v131l.hea`);
    expect(ecgSignalIndexes(h).map((i) => h.signals[i]!.description)).toEqual(['II', 'V']);
  });

  it('real CinC 2015 alarm v525l (true VT): lead II labels the VT complexes like sinus beats, lead V shows VT', async () => {
    const [r] = await evaluateChallenge2015(`${ECG}/challenge2015`, vtDetectors, ['v525l']);
    expect(r!.truth).toBe(true);
    expect(r!.leads.map((l) => l.lead)).toEqual(['II', 'V']);
    expect(r!.leads[0]!.vtEpisodes[5]).toEqual([]);
    expect(r!.leads[1]!.vtEpisodes[5]!.length).toBeGreaterThan(0);
    expect(decide(r!, { leads: 'first', minBeats: 5, leakageBelow: null }).alarm).toBe(false);
    expect(decide(r!, { leads: 'all', minBeats: 5, leakageBelow: null }).alarm).toBe(true);
  });

  it('the production row replays the processor path with the default criteria: true VT v797l (missed by ≥ 5 beats in lead II) alarms through the waveform rule', async () => {
    const [r] = await evaluateChallenge2015(`${ECG}/challenge2015`, vtDetectors, ['v797l']);
    expect(r!.truth).toBe(true);
    expect(decide(r!, { leads: 'first', minBeats: 5, leakageBelow: null }).alarm).toBe(false);
    expect(r!.leads[0]!.productionVt.length).toBeGreaterThan(0);
    expect(decideProduction(r!).alarm).toBe(true);
  });
});
