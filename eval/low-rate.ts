/**
 * The ECG-only path at a lower sampling rate than the records': device-protocol.md allows
 * 125–1000 Hz, and Holter-class front ends sample at 125–128 Hz. Each record's ECG is resampled
 * the way such a front end would have sampled it (a zero-phase low-pass at 0.4 × the new rate,
 * eval/resample.ts, then linear interpolation), then replayed through the production beat
 * source and detectors, as `npm run eval` replays it at the native rate:
 *  - mitdb (both leads): QRS detection and ventricular-beat labels, bxb (eval/bxb.ts);
 *  - CinC 2015 VT alarms: the production verdict on the first ECG lead (eval/challenge2015.ts);
 *  - CinC 2017 strips: AF with ECG at the production setting (eval/cinc2017.ts, in sample).
 * Not part of `npm run eval` (nothing is chosen on it); EVALUATION.md §5 has the results.
 *
 *   node eval/low-rate.ts [--data DIR] [--fs 250,128] [--no-anti-alias]
 */
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { readWfdbHeader } from '../device-sim/wfdb-header.ts';
import { readWfdbRecord, type WfdbRecord } from '../device-sim/wfdb-record.ts';
import { recordBeats, recordDurationMs } from '../device-sim/replay.ts';
import { bxb, type BxbBeat, type BxbCounts } from './bxb.ts';
import { classifyStrip, detectBeats, loadCinc2017, scoreCinc2017 } from './cinc2017.ts';
import { alarmType, challengeScore, decideProduction, ecgSignalIndexes, evaluateLead, productionDetectors, readAlarmLabels, type AlarmResult } from './challenge2015.ts';
import { loadQrsRecord, type QrsLead } from './ecg-eval.ts';
import { EC57_LEARNING_MS } from './evaluate.ts';
import { derivedFrames, ecgSignalFrames } from './qrs.ts';
import { fileExists, listRecords } from './records.ts';
import { resampleEcgInt16 } from './resample.ts';
import { EVAL_EPOCH_MS } from './replay.ts';

/** The record with its ECG lead at `toHz` (sample positions of invalid runs scaled); as it is when that is not lower. */
function atRate(record: WfdbRecord, toHz: number, antiAlias: boolean): WfdbRecord {
  const ecg = record.ecg!;
  if (toHz >= ecg.fsHz) return record;
  const scale = toHz / ecg.fsHz;
  return {
    ...record,
    lengthSamples: Math.floor(record.lengthSamples * scale),
    header: { ...record.header, fsHz: toHz },
    ecg: { ...ecg, fsHz: toHz, uV: resampleEcgInt16(ecg.uV, ecg.fsHz, toHz, antiAlias), missing: ecg.missing.map((m) => ({ ...m, startSample: Math.floor(m.startSample * scale), endSample: Math.ceil(m.endSample * scale) })) },
  };
}

const pct = (n: number, d: number) => (d > 0 ? ((100 * n) / d).toFixed(2) : '-');

async function mitdbAtRate(dir: string, lead: QrsLead, fsHz: number, antiAlias: boolean): Promise<string> {
  const sum: BxbCounts = { tp: 0, fn: 0, fp: 0, vTp: 0, vFn: 0, vFp: 0 };
  const perRecord: string[] = [];
  for (const name of await listRecords(dir)) {
    const loaded = await loadQrsRecord(dir, name, lead);
    if (!loaded) continue;
    const record = atRate(loaded.record, fsHz, antiAlias);
    const detected: BxbBeat[] = [];
    for (const f of derivedFrames(ecgSignalFrames(record.ecg!.uV, fsHz, recordDurationMs(record)))) {
      for (const b of f.beats) detected.push({ timeMs: f.ts + b.off - EVAL_EPOCH_MS, cls: b.cls });
    }
    const reference = recordBeats(loaded.record, 0).map((b) => ({ timeMs: b.tMs, cls: b.cls }));
    const c = bxb(reference, detected, EC57_LEARNING_MS, undefined, loaded.vf);
    for (const k of Object.keys(sum) as (keyof BxbCounts)[]) sum[k] += c[k];
    perRecord.push(`${name} ${c.vFp}`);
  }
  return `QRS Se ${pct(sum.tp, sum.tp + sum.fn)} +P ${pct(sum.tp, sum.tp + sum.fp)}; VEB Se ${pct(sum.vTp, sum.vTp + sum.vFn)} +P ${pct(sum.vTp, sum.vTp + sum.vFp)}; beats labelled V that are not (per record: ${perRecord.join(', ')}) ${sum.vFp}`;
}

async function challengeAtRate(dir: string, fsHz: number, antiAlias: boolean): Promise<string> {
  const results: AlarmResult[] = [];
  for (const [name, truth] of await readAlarmLabels(dir)) {
    const header = await readWfdbHeader(join(dir, `${name}.hea`)).catch(() => undefined);
    if (!header) continue;
    const type = alarmType(header);
    const first = ecgSignalIndexes(header)[0];
    if ((type !== undefined && type !== 'Ventricular_Tachycardia') || first === undefined) continue;
    const record = atRate(await readWfdbRecord(join(dir, name), { ecgSignalIndex: first }), fsHz, antiAlias);
    results.push(decideProduction({ name, truth, leads: [evaluateLead(name, record, () => productionDetectors(), [5])] }));
  }
  const s = challengeScore(results);
  const missed = results.filter((r) => r.truth && !r.alarm).map((r) => r.name);
  const falseVt = results.filter((r) => !r.truth && r.alarm).map((r) => r.name);
  return `TP ${s.tp} FN ${s.fn} TN ${s.tn} FP ${s.fp}, TPR ${s.tpr.toFixed(1)} %, TNR ${s.tnr.toFixed(1)} %, score ${s.score.toFixed(2)}; missed ${missed.join(' ') || '-'}; false VT on ${falseVt.join(' ') || '-'}`;
}

async function cinc2017AtRate(dir: string, fsHz: number, antiAlias: boolean): Promise<string> {
  const results = [];
  for (const strip of await loadCinc2017(dir)) {
    if (fsHz >= strip.fsHz) { results.push(classifyStrip(strip, true)); continue; }
    const uV = resampleEcgInt16(strip.uV, strip.fsHz, fsHz, antiAlias);
    results.push(classifyStrip({ ...strip, fsHz, uV, beats: detectBeats(uV, fsHz) }, true));
  }
  const s = scoreCinc2017(results);
  return `AF Se ${s.afSe.toFixed(1)} % +P ${s.afPp.toFixed(1)} %, F1 N/A/O ${s.f1.N.toFixed(2)} / ${s.f1.A.toFixed(2)} / ${s.f1.O.toFixed(2)}`;
}

const { values } = parseArgs({ options: { data: { type: 'string', default: '../shared/data/ecg' }, fs: { type: 'string', default: '360,250,128' }, 'no-anti-alias': { type: 'boolean', default: false } } });
/** `--no-anti-alias`: interpolation only, to tell aliasing from the rate itself. */
const antiAlias = !values['no-anti-alias'];
const data = resolve(values.data);
const rates = values.fs.split(',').map(Number);
if (rates.some((r) => !(r >= 125 && r <= 1000))) throw new Error('--fs: rates within the contract, 125–1000 Hz');
// A database whose folder (or labels file) is not in --data is left out, with a line saying so.
const has = async (db: string, file?: string) => fileExists(join(data, db, file ?? ''));
const [mitdb, cinc2015, cinc2017] = [await has('mitdb'), await has('challenge2015', 'alarms.csv'), await has('cinc2017', 'REFERENCE.csv')];
const absent = (db: string) => `(no ${db} in ${data})`;
for (const fsHz of rates) {
  console.log(`${fsHz} Hz (resampled from each record's rate; a rate at or above it is replayed as is):`);
  console.log(`  mitdb scored lead: ${mitdb ? await mitdbAtRate(join(data, 'mitdb'), 'scored', fsHz, antiAlias) : absent('mitdb')}`);
  console.log(`  mitdb other lead:  ${mitdb ? await mitdbAtRate(join(data, 'mitdb'), 'other', fsHz, antiAlias) : absent('mitdb')}`);
  console.log(`  CinC 2015 VT alarms, production (first lead): ${cinc2015 ? await challengeAtRate(join(data, 'challenge2015'), fsHz, antiAlias) : absent('challenge2015/alarms.csv')}`);
  console.log(`  CinC 2017 strips, AF with ECG at the production setting: ${cinc2017 ? await cinc2017AtRate(join(data, 'cinc2017'), fsHz, antiAlias) : absent('cinc2017/REFERENCE.csv')}`);
}
