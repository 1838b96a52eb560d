/**
 * How long after its R peak an ECG-only device's beat reaches the detectors: each shared record
 * (mitdb both leads; CinC 2015 VT-alarm records, first ECG lead) is replayed as an ECG-only
 * device in 0.1 s frames (the contract's shortest, so the framing adds at most 0.1 s) through the
 * processor's beat source (processor/ecg-beats.ts). A beat's lag is the end of the input frame
 * after which the beat source handed it out, minus the beat's time. A bradycardia's or a VT run's
 * deciding beat cannot raise its alarm before that; with 1 s frames the alarm waits for the frame
 * that ends after it. Prints the lag's distribution per database and R-R band.
 *
 *   node eval/beat-lag.ts [--data ../shared/data/ecg] [--baseline DIR]
 *
 * --baseline DIR: also the beat source of another checkout (e.g. a `git worktree` of an earlier
 * commit), on the same frames in the same run.
 */
import { readdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import type { TelemetryFrame } from '../contracts/telemetry.ts';
import { readWfdbRecord } from '../device-sim/wfdb-record.ts';
import { ecgOnlyFrames } from './qrs.ts';

const { values } = parseArgs({ options: { data: { type: 'string', default: resolve(import.meta.dirname, '../../shared/data/ecg') }, baseline: { type: 'string' } } });
const FRAME_MS = 100;

interface BeatSource { frames(frame: TelemetryFrame): TelemetryFrame[] }
interface Tree { name: string; make: () => BeatSource }
const load = async (root: string): Promise<() => BeatSource> => {
  const { EcgBeatSource } = (await import(pathToFileURL(join(root, 'processor/ecg-beats.ts')).href)) as { EcgBeatSource: new () => BeatSource };
  return () => new EcgBeatSource();
};
const trees: Tree[] = [{ name: 'this checkout', make: await load(resolve(import.meta.dirname, '..')) }];
if (values.baseline) trees.push({ name: `baseline ${values.baseline}`, make: await load(resolve(values.baseline)) });

/** Lag of each handed-out beat, ms, with the R-R interval before it (0 for the first). */
function lags(frames: TelemetryFrame[], source: BeatSource): { lagMs: number; rrMs: number }[] {
  const out: { lagMs: number; rrMs: number }[] = [];
  for (const f of frames) for (const o of source.frames(f)) for (const b of o.beats) out.push({ lagMs: f.ts + f.durMs - (o.ts + b.off), rrMs: b.rr });
  return out;
}

const records: { db: string; frames: TelemetryFrame[] }[] = [];
for (const name of ['100', '103', '105', '106', '108']) {
  for (const ecgSignalIndex of [0, 1]) {
    try {
      records.push({ db: 'mitdb', frames: [...ecgOnlyFrames(await readWfdbRecord(join(values.data, 'mitdb', name), { ecgSignalIndex }), FRAME_MS)] });
    } catch { /* a folder without this record or lead */ }
  }
}
const c2015 = join(values.data, 'challenge2015');
for (const file of (await readdir(c2015).catch(() => [])).filter((f) => f.endsWith('.hea')).sort()) {
  records.push({ db: 'challenge2015', frames: [...ecgOnlyFrames(await readWfdbRecord(join(c2015, file.slice(0, -4))), FRAME_MS)] });
}
if (records.length === 0) throw new Error(`eval/beat-lag.ts: no mitdb or challenge2015 record in ${values.data}`);

const bands: { label: string; test: (rr: number) => boolean }[] = [
  { label: 'all beats', test: () => true },
  { label: 'R-R < 600 ms', test: (rr) => rr > 0 && rr < 600 },
  { label: 'R-R 600–1000 ms', test: (rr) => rr >= 600 && rr < 1000 },
  { label: 'R-R ≥ 1000 ms', test: (rr) => rr >= 1000 },
];
const pct = (sorted: number[], q: number) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]! : NaN);
console.log(`Beat decision lag of the ECG-only beat source: input frame end when the beat is handed out − beat time (${FRAME_MS} ms frames), ms`);
console.log('tree                      database       beats      band               p10   p50   p90   p99   max');
for (const tree of trees) {
  for (const db of ['mitdb', 'challenge2015']) {
    const all = records.filter((r) => r.db === db).flatMap((r) => lags(r.frames, tree.make()));
    for (const band of bands) {
      const sorted = all.filter((l) => band.test(l.rrMs)).map((l) => l.lagMs).sort((a, b) => a - b);
      if (sorted.length === 0) continue;
      console.log(`${tree.name.slice(0, 24).padEnd(24)}  ${db.padEnd(13)}  ${String(sorted.length).padStart(6)}      ${band.label.padEnd(16)} ${[0.1, 0.5, 0.9, 0.99].map((q) => String(pct(sorted, q)).padStart(5)).join(' ')} ${String(sorted.at(-1)).padStart(5)}`);
    }
  }
}
