/**
 * The vt detector's complex-similarity check (processor/detectors/complex-similarity.ts,
 * `vt.similarityMin`) at several thresholds, on everything that can judge it (EVALUATION.md §6):
 *
 *   node eval/vt-similarity.ts [--data DIR] [--thresholds 0,0.3,0.4,0.5,0.6,0.7] [--seeds 40]
 *
 * - CinC 2015 VT alarms, the production path as it runs (first ECG lead up to the alarm, default
 *   criteria but the threshold): TP / FN / TN / FP, the Challenge score and the true alarms missed;
 * - false `vt` on mitdb's ECG-only path (eval/ecg-eval.ts `ecgPathAlarms`), per 24 h, on the scored
 *   lead (MLII) and on the chest lead — no VT in these records' reference beats, so every vt is false;
 * - synthetic VT in white noise (eval/vt-in-noise.ts, the guard test's generator): runs found of
 *   `--seeds` noise seeds per case, next to the same without the check (threshold 0).
 * Nothing here is part of `npm run eval` (≈ 1–2 min); the production threshold's rows are.
 */
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { DEFAULT_ALARM_CRITERIA, type AlarmCriteria } from '../contracts/criteria.ts';
import { readWfdbHeader } from '../device-sim/wfdb-header.ts';
import { readWfdbRecord, type WfdbRecord } from '../device-sim/wfdb-record.ts';
import { detectorsForCriteria } from '../processor/detector-set.ts';
import { detectThroughBeatSource, EcgBeatSource } from '../processor/ecg-beats.ts';
import { PatientStream } from '../processor/patient-stream.ts';
import { ALARM_AT_MS, ALARM_WINDOW_MS, challengeScore, ecgSignalIndexes, readAlarmLabels, type AlarmResult } from './challenge2015.ts';
import { loadQrsRecord, type QrsLead } from './ecg-eval.ts';
import { scoreAlarms } from './evaluate.ts';
import { ecgOnlyFrames, replayEcgOnly } from './qrs.ts';
import { listRecords, loadRecord, type ReferenceRecord } from './records.ts';
import { EVAL_EPOCH_MS } from './replay.ts';
import { alarmed, vtInNoise, type NoiseSpan } from './vt-in-noise.ts';

const repoRoot = resolve(import.meta.dirname, '..');
const { values } = parseArgs({
  options: {
    data: { type: 'string', default: resolve(repoRoot, '../shared/data/ecg') },
    thresholds: { type: 'string', default: '0,0.3,0.4,0.5,0.6,0.7' },
    seeds: { type: 'string', default: '40' },
  },
});
const thresholds = values.thresholds.split(',').map(Number);
const seeds = Number(values.seeds);
const criteriaWith = (similarityMin: number): AlarmCriteria => ({ ...DEFAULT_ALARM_CRITERIA, vt: { ...DEFAULT_ALARM_CRITERIA.vt, similarityMin } });

/** CinC 2015: each alarm's first ECG lead up to the alarm through the production path, one stream per threshold (one beat source). */
async function cinc2015(dir: string): Promise<Map<number, AlarmResult[]>> {
  const out = new Map<number, AlarmResult[]>(thresholds.map((t) => [t, []]));
  for (const [name, truth] of await readAlarmLabels(dir)) {
    const header = await readWfdbHeader(join(dir, `${name}.hea`));
    const index = ecgSignalIndexes(header)[0];
    if (index === undefined) continue;
    const record = await readWfdbRecord(join(dir, name), { ecgSignalIndex: index });
    const streams = thresholds.map((t) => ({ t, stream: new PatientStream(name, name, detectorsForCriteria(criteriaWith(t))), onsets: [] as { onsetMs: number; endMs: number | null }[] }));
    // The beat source is deterministic: one per stream keeps each stream's path exactly the processor's.
    const sources = streams.map(() => new EcgBeatSource());
    for (const f of ecgOnlyFrames(record)) {
      if (f.ts + f.durMs > EVAL_EPOCH_MS + ALARM_AT_MS) break;
      streams.forEach((s, i) => {
        for (const c of detectThroughBeatSource(sources[i]!, s.stream, f).changes) {
          if (c.kind !== 'vt') continue;
          if (c.type === 'onset') s.onsets.push({ onsetMs: c.onsetMs - EVAL_EPOCH_MS, endMs: null });
          else { const o = s.onsets.find((x) => x.onsetMs === c.onsetMs - EVAL_EPOCH_MS); if (o) o.endMs = c.endMs - EVAL_EPOCH_MS; }
        }
      });
    }
    for (const s of streams) {
      const alarm = s.onsets.some((o) => o.onsetMs <= ALARM_AT_MS && (o.endMs === null || o.endMs >= ALARM_AT_MS - ALARM_WINDOW_MS));
      out.get(s.t)!.push({ name, truth, alarm });
    }
  }
  return out;
}

/** A mitdb record with one lead's ECG and its reference beats. */
interface MitdbLead { name: string; record: WfdbRecord; reference: ReferenceRecord }

/** mitdb's records with one lead's ECG, read once for every threshold. */
async function loadMitdb(dir: string, lead: QrsLead): Promise<MitdbLead[]> {
  const out: MitdbLead[] = [];
  for (const name of await listRecords(dir)) {
    const loaded = await loadQrsRecord(dir, name, lead);
    if (loaded) out.push({ name, record: loaded.record, reference: await loadRecord('mitdb', dir, name) });
  }
  return out;
}

/** False vt per 24 h on mitdb's ECG-only path (every vt is false there: no reference VT) and where they lie. */
function mitdbFalseVt(records: readonly MitdbLead[], t: number): { per24h: number; count: number; at: string[] } {
  let count = 0;
  let scopeMs = 0;
  const at: string[] = [];
  for (const { name, record, reference } of records) {
    const scored = scoreAlarms(reference, replayEcgOnly(record, detectorsForCriteria(criteriaWith(t))));
    scopeMs += scored.alarmScopeMs;
    const vt = scored.unsupported.filter((e) => e.kind === 'vt');
    count += vt.length;
    at.push(...vt.map((e) => `${name} ${(e.startMs / 1000).toFixed(0)} s`));
  }
  return { per24h: scopeMs > 0 ? (count * 86_400_000) / scopeMs : 0, count, at };
}

const NOISE_CASES: { name: string; beats: number; noiseUv: number; span?: NoiseSpan }[] = [
  { name: '8 @ 300 µV', beats: 8, noiseUv: 300 },
  { name: '8 @ 400 µV', beats: 8, noiseUv: 400 },
  { name: '8 @ 500 µV', beats: 8, noiseUv: 500 },
  { name: '8 @ 600 µV', beats: 8, noiseUv: 600 },
  { name: '8 @ 400 µV after 60 s of it', beats: 8, noiseUv: 400, span: { runAtMs: 90_000, beforeMs: 60_000, totalMs: 110_000 } },
  { name: '6 @ 400 µV', beats: 6, noiseUv: 400 },
];

const c2015 = await cinc2015(join(values.data, 'challenge2015'));
console.log(`vt complex-similarity check (vt.similarityMin; 0 = off; production default ${DEFAULT_ALARM_CRITERIA.vt.similarityMin})`);
console.log('\nCinC 2015 VT alarms, production path, first ECG lead:');
console.log('threshold   TP  FN  TN  FP  score  missed');
for (const t of thresholds) {
  const r = c2015.get(t)!;
  const s = challengeScore(r);
  console.log(`${String(t).padEnd(9)}  ${String(s.tp).padStart(3)} ${String(s.fn).padStart(3)} ${String(s.tn).padStart(3)} ${String(s.fp).padStart(3)}  ${s.score.toFixed(2)}  ${r.filter((x) => x.truth && !x.alarm).map((x) => x.name).join(' ') || '-'}`);
}
console.log('\nmitdb ECG-only path, false vt (per 24 h) on the scored lead / the chest lead:');
const mitdbScored = await loadMitdb(join(values.data, 'mitdb'), 'scored');
const mitdbChest = await loadMitdb(join(values.data, 'mitdb'), 'other');
for (const t of thresholds) {
  const scored = mitdbFalseVt(mitdbScored, t);
  const chest = mitdbFalseVt(mitdbChest, t);
  console.log(`${String(t).padEnd(9)}  ${scored.count} (${scored.per24h.toFixed(1)}) / ${chest.count} (${chest.per24h.toFixed(1)})   scored lead: ${scored.at.join(', ') || '-'}`);
}
console.log(`\nsynthetic VT in white noise (8 or 6 wide complexes at 150/min, eval/vt-in-noise.ts), runs alarmed of ${seeds} seeds:`);
console.log(`threshold  ${NOISE_CASES.map((c) => c.name).join(' | ')} | total`);
for (const t of thresholds) {
  const hits = NOISE_CASES.map((c) => {
    let n = 0;
    for (let seed = 1; seed <= seeds; seed++) if (alarmed(vtInNoise(c.beats, 400, c.noiseUv, seed, c.span), criteriaWith(t))) n++;
    return n;
  });
  console.log(`${String(t).padEnd(9)}  ${hits.join(' | ')} | ${hits.reduce((a, b) => a + b, 0)} of ${seeds * NOISE_CASES.length}`);
}
