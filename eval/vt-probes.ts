/**
 * Probes behind EVALUATION.md §6 "tried and not adopted": two beat-based ways to tell true from
 * false CinC 2015 VT alarms, each measured on all 100 alarms against the beat-only setting with
 * the most true alarms (any ECG lead, ≥ 3 V beats). Not part of `npm run eval`:
 *
 *   node eval/vt-probes.ts [--data DIR]
 *
 * - wide QRS: a beat is also `V` when its measured QRS is ≥ W ms (W = 100, 120, 140);
 * - run consistency: a lead's vt episode counts only when its consecutive V complexes correlate
 *   (median Pearson, −100…+120 ms of the 0.5–40 Hz signal) ≥ 0.9, as monomorphic VT does;
 * Beats come straight from the production QRS detector (processor/detectors/qrs-detector.ts, the
 * same beats processor/ecg-beats.ts hands out, with their QRS width) and runs from the production
 * VtDetector; only the data up to the alarm at 300 s are used.
 */
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { readWfdbHeader } from '../device-sim/wfdb-header.ts';
import { adcToMicrovolts, readWfdbSignals } from '../device-sim/wfdb-signal.ts';
import { Biquad } from '../processor/detectors/biquad.ts';
import { QrsDetector, type QrsBeat } from '../processor/detectors/qrs-detector.ts';
import { createVtDetector } from '../processor/detectors/vt.ts';
import { ALARM_AT_MS, ALARM_WINDOW_MS, challengeScore, ecgSignalIndexes, readAlarmLabels, type AlarmResult } from './challenge2015.ts';

const MIN_BEATS = 3;

interface Lead { fsHz: number; uV: Int16Array; wide: Float64Array; beats: QrsBeat[] }

/** vt episodes of a lead (beats relabelled by `isV`) overlapping the alarm window, each with its V beats. */
function vtEpisodes(lead: Lead, isV: (b: QrsBeat) => boolean): QrsBeat[][] {
  const vt = createVtDetector({ minBeats: MIN_BEATS });
  const ms = (b: QrsBeat) => (b.sample * 1000) / lead.fsHz;
  const out: { onsetMs: number; endMs: number | null }[] = [];
  let prev: QrsBeat | undefined;
  for (const b of lead.beats) {
    for (const c of vt.onBeat({ timeMs: ms(b), rrMs: prev ? ms(b) - ms(prev) : 0, cls: isV(b) ? 'V' : 'N' })) {
      if (c.type === 'onset') out.push({ onsetMs: c.onsetMs, endMs: null });
      else out.at(-1)!.endMs = c.endMs;
    }
    prev = b;
  }
  return out
    .filter((e) => e.onsetMs <= ALARM_AT_MS && (e.endMs === null || e.endMs >= ALARM_AT_MS - ALARM_WINDOW_MS))
    .map((e) => lead.beats.filter((b) => ms(b) >= e.onsetMs && (e.endMs === null || ms(b) < e.endMs) && isV(b)));
}

function pearson(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const n = a.length;
  let ma = 0, mb = 0;
  for (let i = 0; i < n; i++) { ma += a[i]!; mb += b[i]!; }
  ma /= n; mb /= n;
  let ab = 0, aa = 0, bb = 0;
  for (let i = 0; i < n; i++) { const x = a[i]! - ma, y = b[i]! - mb; ab += x * y; aa += x * x; bb += y * y; }
  return aa > 0 && bb > 0 ? ab / Math.sqrt(aa * bb) : 0;
}

/** Median correlation of consecutive complexes of a run (−100…+120 ms). */
function runConsistency(lead: Lead, run: QrsBeat[]): number {
  const pre = Math.round(0.1 * lead.fsHz), post = Math.round(0.12 * lead.fsHz);
  const seg = (b: QrsBeat) => (b.sample - pre >= 0 && b.sample + post < lead.wide.length ? lead.wide.subarray(b.sample - pre, b.sample + post + 1) : undefined);
  const cs: number[] = [];
  for (let i = 1; i < run.length; i++) {
    const a = seg(run[i - 1]!), b = seg(run[i]!);
    if (a && b) cs.push(pearson(a, b));
  }
  cs.sort((x, y) => x - y);
  return cs.length ? cs[Math.floor(cs.length / 2)]! : -1;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { data: { type: 'string', default: resolve(import.meta.dirname, '../../shared/data/ecg') } } });
  const dir = join(values.data, 'challenge2015');
  const labels = await readAlarmLabels(dir);
  const records: { name: string; truth: boolean; leads: Lead[] }[] = [];
  for (const [name, truth] of labels) {
    const header = await readWfdbHeader(join(dir, `${name}.hea`));
    const idx = ecgSignalIndexes(header);
    const leads = (await readWfdbSignals(header, dir, { signalIndexes: idx })).map((s) => {
      const fsHz = header.fsHz;
      const uV = adcToMicrovolts(s).subarray(0, (ALARM_AT_MS * fsHz) / 1000);
      const q = new QrsDetector(fsHz);
      const beats: QrsBeat[] = [];
      for (let i = 0; i < uV.length; i += fsHz) q.push(uV.subarray(i, i + fsHz), beats);
      const hp = Biquad.highPass(0.5, fsHz), lp = Biquad.lowPass(40, fsHz);
      const wide = Float64Array.from(uV, (v) => lp.step(hp.step(v - uV[0]!)));
      return { fsHz, uV, wide, beats };
    });
    records.push({ name, truth, leads });
  }
  const line = (label: string, results: AlarmResult[]) => {
    const c = challengeScore(results);
    console.log(`${label.padEnd(58)} TP ${c.tp} FN ${c.fn} TN ${c.tn} FP ${c.fp}  TPR ${c.tpr.toFixed(1)} %  TNR ${c.tnr.toFixed(1)} %  score ${c.score.toFixed(2)}`);
  };
  const isV = (b: QrsBeat) => b.cls === 'V';
  const verdict = (f: (lead: Lead) => boolean) => records.map((r) => ({ name: r.name, truth: r.truth, alarm: r.leads.some(f) }));
  console.log(`CinC 2015 VT alarm probes (any ECG lead, ≥ ${MIN_BEATS} V beats; ${records.length} alarms)`);
  line('beats only (the npm run eval row any ECG lead, ≥ 3)', verdict((l) => vtEpisodes(l, isV).length > 0));
  for (const w of [100, 120, 140]) line(`+ wide QRS: also V when QRS ≥ ${w} ms`, verdict((l) => vtEpisodes(l, (b) => isV(b) || b.qrsMs >= w).length > 0));
  const consistent = verdict((l) => vtEpisodes(l, isV).some((run) => runConsistency(l, run) >= 0.9));
  line('+ run consistency: consecutive V complexes correlate ≥ 0.9', consistent);
  console.log(`  true alarms lost by run consistency: ${consistent.filter((r) => r.truth && !r.alarm).map((r) => r.name).join(' ')}`);
}

if (import.meta.main) await main();
