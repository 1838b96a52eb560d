/**
 * QRS detection under added noise (a sensitivity check in the manner of the MIT-BIH Noise Stress
 * Test, Moody, Muldrow & Mark, Computers in Cardiology 1984): each mitdb record's scored lead gets
 * noise at a given signal-to-noise ratio and goes through the production beat source as an
 * ECG-only device; scored with bxb as in `npm run eval` (eval/qrs.ts).
 *
 *   node eval/qrs-noise.ts [--data DIR] [--snr 24,12,6,0] [--records 100,105]
 *
 * SNR as WFDB `nst` defines it: signal power = (median peak-to-peak QRS amplitude)² / 8 (the
 * reference beats locate the QRS complexes, ± 50 ms), noise power = mean square of the noise.
 * The NSTDB noise recordings (electrode motion, muscle, baseline wander) are not in the
 * repository, so two synthetic kinds stand in, each from a fixed seed: `muscle` — white Gaussian
 * noise (broadband like EMG; real EMG is coloured and bursty) — and `wander` — three sinusoids
 * at 0.05–0.5 Hz with random phases (respiration and movement of the baseline). Electrode-motion
 * artefact, the hardest kind (it looks like QRS complexes), has no synthetic stand-in here.
 * Noise is added from the start of the record (nst adds it in alternate 2-minute segments after
 * the first 5 minutes): the detector learns on the noisy signal, as a device put on in noise does.
 */
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { createPrng, gaussian } from '../device-sim/prng.ts';
import type { WfdbRecord } from '../device-sim/wfdb-record.ts';
import { recordBeats } from '../device-sim/replay.ts';
import { pp, se, sumBxb } from './bxb.ts';
import { loadQrsRecord } from './ecg-eval.ts';
import { evaluateQrsRecord, type QrsRecordResult } from './qrs.ts';
import { listRecords } from './records.ts';

const repoRoot = resolve(import.meta.dirname, '..');
const { values } = parseArgs({
  options: {
    data: { type: 'string', default: resolve(repoRoot, '../shared/data/ecg') },
    snr: { type: 'string', default: '24,18,12,6,0' },
    records: { type: 'string' },
  },
});
const snrsDb = values.snr.split(',').map(Number);
if (snrsDb.some((x) => !Number.isFinite(x))) throw new Error(`--snr: numbers in dB, got ${values.snr}`);

/** Unit-power noise of one kind, `n` samples at `fsHz`. */
function unitNoise(kind: 'muscle' | 'wander', n: number, fsHz: number, seed: number): Float64Array {
  const u = createPrng(seed);
  const out = new Float64Array(n);
  if (kind === 'muscle') {
    for (let i = 0; i < n; i++) out[i] = gaussian(u);
  } else {
    const parts = [0, 1, 2].map(() => ({ hz: 0.05 + 0.45 * u(), phase: 2 * Math.PI * u() }));
    // Each sinusoid of amplitude √(2/3) has power 1/3: the sum has unit power.
    for (let i = 0; i < n; i++) out[i] = parts.reduce((s, p) => s + Math.sqrt(2 / 3) * Math.sin((2 * Math.PI * p.hz * i) / fsHz + p.phase), 0);
  }
  return out;
}

/** nst's signal power: the median peak-to-peak amplitude within ± 50 ms of the reference beats, squared, / 8. */
function qrsSignalPower(record: WfdbRecord): number {
  const ecg = record.ecg!;
  const half = Math.round(0.05 * ecg.fsHz);
  const amplitudes = recordBeats(record, 0).map((b) => {
    const c = Math.round((b.tMs * ecg.fsHz) / 1000);
    let lo = Infinity;
    let hi = -Infinity;
    for (let i = Math.max(0, c - half); i <= Math.min(ecg.uV.length - 1, c + half); i++) {
      lo = Math.min(lo, ecg.uV[i]!);
      hi = Math.max(hi, ecg.uV[i]!);
    }
    return hi - lo;
  }).sort((a, b) => a - b);
  const median = amplitudes[amplitudes.length >> 1] ?? 0;
  return (median * median) / 8;
}

/** The record with noise of `kind` added to its lead at `snrDb`. */
function withNoise(record: WfdbRecord, kind: 'muscle' | 'wander', snrDb: number, seed: number): WfdbRecord {
  const ecg = record.ecg!;
  const scale = Math.sqrt(qrsSignalPower(record) / 10 ** (snrDb / 10));
  const noise = unitNoise(kind, ecg.uV.length, ecg.fsHz, seed);
  const uV = new Int16Array(ecg.uV.length);
  for (let i = 0; i < uV.length; i++) uV[i] = Math.max(-32767, Math.min(32767, Math.round(ecg.uV[i]! + scale * noise[i]!)));
  return { ...record, ecg: { ...ecg, uV } };
}

const dir = join(values.data, 'mitdb');
const only = values.records?.split(',');
const results = new Map<string, QrsRecordResult[]>();
for (const name of await listRecords(dir)) {
  if (only && !only.includes(name)) continue;
  const loaded = await loadQrsRecord(dir, name);
  if (!loaded) continue;
  const { record, vf } = loaded;
  const add = (key: string, r: QrsRecordResult) => results.set(key, [...(results.get(key) ?? []), r]);
  add('clean', evaluateQrsRecord(name, record, vf));
  for (const [k, kind] of (['muscle', 'wander'] as const).entries()) {
    for (const snr of snrsDb) add(`${kind} ${snr} dB`, evaluateQrsRecord(name, withNoise(record, kind, snr, 1000 * (k + 1) + Number(name)), vf));
  }
}

const pct = (x: number | undefined) => (x === undefined ? '-' : x.toFixed(2));
const header = ['noise', 'SNR', ...[...results.values()][0]!.map((r) => `${r.name} Se/+P`), 'gross Se', 'gross +P'];
const rows = [...results.entries()].map(([key, list]) => {
  const [kind, snr] = key === 'clean' ? ['none', '-'] : [key.split(' ')[0]!, key.split(' ').slice(1).join(' ')];
  const g = sumBxb(list.map((r) => r.counts));
  return [kind, snr, ...list.map((r) => `${pct(se(r.counts))}/${pct(pp(r.counts))}`), pct(se(g)), pct(pp(g))];
});
const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
console.log('QRS detection with added noise (mitdb, scored lead as in npm run eval, bxb 150 ms, first 5 min excluded); synthetic noise, see the file comment');
for (const row of [header, ...rows]) console.log(row.map((c, i) => (i <= 1 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  '));
