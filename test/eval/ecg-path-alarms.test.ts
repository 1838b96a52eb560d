import { describe, expect, it } from 'vitest';
import { readWfdbRecord } from '../../device-sim/wfdb-record.ts';
import { evaluationDetectors } from '../../eval/detector-set.ts';
import { ecgPathAlarms, loadQrsRecord } from '../../eval/ecg-eval.ts';
import { scoreAlarms, type ScoredEpisode } from '../../eval/evaluate.ts';
import { replayEcgOnly } from '../../eval/qrs.ts';
import type { ReferenceRecord } from '../../eval/records.ts';

const ECG = '/work/shared/data/ecg';

/** 60 s of sinus rhythm at 75 bpm, then a run of 6 V beats at 150 bpm (VT by the criterion), then sinus. */
function record(database: ReferenceRecord['database'], rhythms: ReferenceRecord['rhythms'] = []): ReferenceRecord {
  const beats: ReferenceRecord['beats'] = [];
  for (let t = 0; t < 60_000; t += 800) beats.push({ timeMs: t, cls: 'N' });
  for (let k = 1; k <= 6; k++) beats.push({ timeMs: 59_200 + k * 400, cls: 'V' });
  for (let t = 62_400; t < 120_000; t += 800) beats.push({ timeMs: t, cls: 'N' });
  return { database, name: 'x', fsHz: 250, durationMs: 120_000, beats, rhythms, beatSource: 'atr' };
}

describe('scoring alarm episodes against the reference beats (eval/evaluate.ts scoreAlarms)', () => {
  it('counts an alarm as false when no ground-truth episode of its kind overlaps it, and lists it', () => {
    const vtOnTheRun: ScoredEpisode = { kind: 'vt', startMs: 59_600, endMs: 61_600 };
    const vtInSinus: ScoredEpisode = { kind: 'vt', startMs: 90_000, endMs: 92_000 };
    const brady: ScoredEpisode = { kind: 'brady', startMs: 10_000, endMs: 20_000 };
    const s = scoreAlarms(record('mitdb'), [vtInSinus, brady, vtOnTheRun]);
    expect(s.alarms.vt).toEqual({ alarms: 2, false: 1 });
    expect(s.alarms.brady).toEqual({ alarms: 1, false: 1 });
    expect(s.alarms.asystole).toEqual({ alarms: 0, false: 0 });
    expect(s.unsupported).toEqual([brady, vtInSinus]);
    expect(s.alarmScopeMs).toBe(120_000);
  });

  it('scores afib against reference AF or flutter, and on afdb leaves what overlaps reference AF out of scope', () => {
    const rhythms = [{ rhythm: '(N', startMs: 0, endMs: 30_000 }, { rhythm: '(AFL', startMs: 30_000, endMs: 50_000 }, { rhythm: '(N', startMs: 50_000, endMs: 120_000 }];
    const onFlutter: ScoredEpisode = { kind: 'afib', startMs: 35_000, endMs: 45_000 };
    const onSinus: ScoredEpisode = { kind: 'afib', startMs: 70_000, endMs: 100_000 };
    expect(scoreAlarms(record('mitdb', rhythms), [onFlutter, onSinus]).alarms.afib).toEqual({ alarms: 2, false: 1 });
    const afdb = scoreAlarms(record('afdb', rhythms), [onFlutter, onSinus]);
    expect(afdb.alarms.afib).toEqual({ alarms: 1, false: 1 });
    expect(afdb.alarmScopeMs).toBe(100_000);
  });
});

describe('alarms on the ECG-only path (eval/qrs.ts replayEcgOnly, eval/ecg-eval.ts ecgPathAlarms)', () => {
  it('a clean sinus record raises nothing when its ECG is all the device sends (mitdb 100, MLII)', async () => {
    const r = await readWfdbRecord(`${ECG}/mitdb/100`);
    expect(replayEcgOnly(r, evaluationDetectors())).toEqual([]);
  });

  it('lists exactly the alarms it counts as false, per kind, on the noisy records (mitdb 105, 108), on either lead', async () => {
    for (const r of await ecgPathAlarms(ECG, 'mitdb', ['105', '108'])) {
      expect(r.lead).toBe('MLII');
      for (const [kind, counts] of Object.entries(r.alarms)) expect(r.falseEpisodes.filter((e) => e.kind === kind)).toHaveLength(counts.false);
    }
    // The same on the records' other lead (V1 in both).
    for (const r of await ecgPathAlarms(ECG, 'mitdb', ['105', '108'], 'other')) {
      expect(r.lead).toBe('V1');
      for (const [kind, counts] of Object.entries(r.alarms)) expect(r.falseEpisodes.filter((e) => e.kind === kind)).toHaveLength(counts.false);
    }
  });
});

describe('the QRS evaluation\'s other lead (eval/ecg-eval.ts loadQrsRecord)', () => {
  it('reads the scored lead (MLII) or the record\'s other one, and has no other lead for a one-signal record', async () => {
    expect((await loadQrsRecord(`${ECG}/mitdb`, '100'))!.record.ecg!.description).toBe('MLII');
    expect((await loadQrsRecord(`${ECG}/mitdb`, '100', 'other'))!.record.ecg!.description).toBe('V5');
    expect((await loadQrsRecord(`${ECG}/mitdb`, '105', 'other'))!.record.ecg!.description).toBe('V1');
    // CinC 2017 strips carry one lead.
    expect(await loadQrsRecord(`${ECG}/cinc2017`, 'A00001', 'other')).toBeUndefined();
  });
});
