/**
 * Short AF episodes, the failure mode the issue saw on afdb records outside the repository: each
 * afdb record's own beats are spliced into a synthetic record of AF episodes of one length X
 * (30 s … 2 min) separated by 4 min of the same record's non-AF rhythm, and the production
 * detectors are scored on it with epicmp `-i 30` as in `npm run eval` (eval/evaluate.ts).
 *
 *   node eval/af-splice.ts [--data DIR] [--lengths 30,35,40,50,60,90,120] [--records 04015,08219] [--afib '{…}']
 *
 * Splicing: the AF segments are consecutive intervals taken in order from the record's `(AFIB`
 * stretches, the non-AF segments from its `(N` stretches (a cursor walks each pool and wraps
 * around), so every interval is a real one of that record and only the junctions are new. The
 * synthetic record starts with 6 min of non-AF rhythm (the 5 min EC57 learning period and the
 * detector's warm-up) and holds up to 30 AF episodes. Records whose pools hold less than 2 min of
 * either rhythm are skipped. What this measures: whether an episode of X seconds is found (the
 * ESe of the issue's target, per length) and how many false AF episodes the splices produce; not
 * the onset of real paroxysms (a spliced onset is abrupt, a real one may start with ectopy).
 */
import { resolve, join } from 'node:path';
import { parseArgs } from 'node:util';
import type { AfibParams } from '../processor/detectors/afib.ts';
import { scoreRecord } from './af-loro.ts';
import { episodeStats, sumComparisons, type EpisodeComparison } from './epicmp.ts';
import { listRecords, loadRecord, type ReferenceBeat, type ReferenceRecord, type RhythmEpisode } from './records.ts';

const repoRoot = resolve(import.meta.dirname, '..');
const { values } = parseArgs({
  options: {
    data: { type: 'string', default: resolve(repoRoot, '../shared/data/ecg') },
    lengths: { type: 'string', default: '30,35,40,50,60,90,120' },
    records: { type: 'string' },
    afib: { type: 'string' },
  },
});
const afibOverride = values.afib ? (JSON.parse(values.afib) as Partial<AfibParams>) : undefined;
const lengthsS = values.lengths.split(',').map(Number);
if (lengthsS.some((x) => !(x > 0))) throw new Error(`--lengths: seconds, got ${values.lengths}`);

const RUN_IN_MS = 6 * 60_000;
const GAP_MS = 4 * 60_000;
const MAX_EPISODES = 30;
const MIN_POOL_MS = 2 * 60_000;

/** The intervals (RR and class of the beat ending it) inside the record's stretches of one rhythm. */
function pool(record: ReferenceRecord, rhythm: string): { rrMs: number; cls: ReferenceBeat['cls'] }[] {
  const stretches = record.rhythms.filter((r) => r.rhythm === rhythm);
  const out: { rrMs: number; cls: ReferenceBeat['cls'] }[] = [];
  const beats = record.beats;
  for (let i = 1; i < beats.length; i++) {
    const t = beats[i]!.timeMs;
    // Both beats of the interval inside one stretch of the rhythm.
    if (stretches.some((s) => s.startMs <= beats[i - 1]!.timeMs && t < s.endMs)) out.push({ rrMs: t - beats[i - 1]!.timeMs, cls: beats[i]!.cls });
  }
  return out;
}

/** A cursor over a pool that wraps around. */
function cursor<T>(items: readonly T[]): () => T {
  let k = 0;
  return () => items[k++ % items.length]!;
}

/** The synthetic record of AF episodes of `lengthMs` (see the file comment); undefined when the pools are too small. */
function splice(record: ReferenceRecord, lengthMs: number): ReferenceRecord | undefined {
  const af = pool(record, '(AFIB');
  const other = pool(record, '(N');
  const total = (p: { rrMs: number }[]) => p.reduce((s, x) => s + x.rrMs, 0);
  if (total(af) < MIN_POOL_MS || total(other) < MIN_POOL_MS) return undefined;
  const nextAf = cursor(af);
  const nextOther = cursor(other);
  const beats: ReferenceBeat[] = [{ timeMs: 0, cls: 'N' }];
  const rhythms: RhythmEpisode[] = [];
  let t = 0;
  const segment = (rhythm: string, durationMs: number, next: () => { rrMs: number; cls: ReferenceBeat['cls'] }) => {
    const startMs = t;
    while (t - startMs < durationMs) {
      const x = next();
      t += x.rrMs;
      beats.push({ timeMs: t, cls: x.cls });
    }
    // The stretch runs from its first beat to the first beat of the next one (epicmp's reading).
    rhythms.push({ rhythm, startMs, endMs: t });
  };
  segment('(N', RUN_IN_MS, nextOther);
  for (let n = 0; n < MAX_EPISODES; n++) {
    segment('(AFIB', lengthMs, nextAf);
    segment('(N', GAP_MS, nextOther);
  }
  return { ...record, name: `${record.name}-af${lengthMs / 1000}s`, durationMs: t, beats, rhythms };
}

const dir = join(values.data, 'afdb');
const only = values.records?.split(',');
const byLength = new Map<number, EpisodeComparison[]>();
const used: string[] = [];
for (const name of await listRecords(dir)) {
  if (only && !only.includes(name)) continue;
  const record = await loadRecord('afdb', dir, name);
  let any = false;
  for (const s of lengthsS) {
    const synthetic = splice(record, s * 1000);
    if (!synthetic) continue;
    any = true;
    // The AF detector alone, scored as the leave-one-record-out scores a record (epicmp -i 30).
    const [comparison] = scoreRecord(synthetic, [afibOverride ?? {}]).comparisons;
    byLength.set(s, [...(byLength.get(s) ?? []), comparison!]);
  }
  if (any) used.push(name);
}

const pct = (x: number | undefined) => (x === undefined ? '-' : x.toFixed(1));
console.log(`afdb, AF episodes of one length spliced from each record's own intervals (${used.length} records: ${used.join(' ')}; up to ${MAX_EPISODES} per record, 4 min apart), ${afibOverride ? `AF parameters ${values.afib}` : 'the production AF detector'}, epicmp -i 30`);
const header = ['AF length', 'episodes', 'found', 'ESe', 'false eps', 'E+P', 'DSe'];
const rows = lengthsS.map((s) => {
  const c = sumComparisons(byLength.get(s) ?? []);
  const st = episodeStats(c);
  return [`${s} s`, String(c.tpSe + c.fn), String(c.tpSe), pct(st.episodeSe), String(c.fp), pct(st.episodePp), pct(st.durationSe)];
});
const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
for (const row of [header, ...rows]) console.log(row.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  '));
