/**
 * The AF alarm's off-delay (afib.ts `offDelayMs`) against the detector without it, on afdb: per
 * record, the AF alarms each raises (through the production PatientStream path, AF detector
 * alone), whether every alarm the off-delay keeps has exactly the onset and the alarm time of one
 * without it (it may only absorb re-onsets), and what the absorbed alarms were — true (overlapping
 * reference AF or flutter) or false — so a change of episode +P can be split into the merge itself
 * (a false alarm joined to a true one disappears from the count) and real change.
 *
 *   node eval/af-offdelay.ts [--data DIR] [--records 08219,06453] [--off-delay-ms 120000]
 */
import { resolve, join } from 'node:path';
import { parseArgs } from 'node:util';
import { AFIB_DEFAULTS, createAfibDetector } from '../processor/detectors/afib.ts';
import { mergeIntervals, overlapMs } from './epicmp.ts';
import { listRecords, loadRecord } from './records.ts';
import { recordFrames, replayRecord, type DetectedEpisode } from './replay.ts';

const repoRoot = resolve(import.meta.dirname, '..');
const { values } = parseArgs({
  options: {
    data: { type: 'string', default: resolve(repoRoot, '../shared/data/ecg') },
    records: { type: 'string' },
    'off-delay-ms': { type: 'string', default: String(AFIB_DEFAULTS.offDelayMs) },
  },
});
const offDelayMs = Number(values['off-delay-ms']);
const dir = join(values.data, 'afdb');
const names = values.records ? values.records.split(',') : (await listRecords(dir));

const fmt = (ms: number) => `${Math.floor(ms / 60_000)}:${((ms % 60_000) / 1000).toFixed(1).padStart(4, '0')}`;
let totals = { hours: 0, before: 0, after: 0, falseBefore: 0, falseAfter: 0, falseMerged: 0, falseIntoFalse: 0, trueMerged: 0, onsetsDiffer: 0 };
console.log(`afdb, AF alarms without the off-delay (offDelayMs 0) and with offDelayMs ${offDelayMs}; "false" = overlaps no reference AF or flutter`);
console.log('record  alarms 0 → D   false 0 → D   absorbed (true/false)   false merged with true   onsets and alarm times of kept alarms');
for (const name of names) {
  const record = await loadRecord('afdb', dir, name);
  const frames = [...recordFrames(record)];
  const run = (ms: number) => replayRecord(record, [createAfibDetector({ offDelayMs: ms })], frames).episodes.filter((e) => e.kind === 'afib');
  const before = run(0);
  const after = run(offDelayMs);
  const support = mergeIntervals(record.rhythms.filter((r) => r.rhythm === '(AFIB' || r.rhythm === '(AFL'));
  const isFalse = (e: DetectedEpisode) => overlapMs({ startMs: e.startMs, endMs: Math.max(e.endMs, e.startMs + 1) }, support) === 0;
  // Every kept alarm must be one of the alarms without the delay: same onset, raised at the same time.
  const same = after.every((a) => before.some((b) => b.startMs === a.startMs && b.latencyMs === a.latencyMs));
  const absorbed = before.filter((b) => !after.some((a) => a.startMs === b.startMs));
  const absorbedFalse = absorbed.filter(isFalse).length;
  // Each kept alarm with the alarms without the delay it stands for (those it began or absorbed):
  // a false one among true ones is a false stretch merged into a true episode, whichever came first.
  const groups = after.map((a) => before.filter((b) => b.startMs >= a.startMs && b.startMs <= a.endMs));
  const falseMerged = groups.filter((g) => g.some((b) => !isFalse(b))).reduce((n, g) => n + g.filter(isFalse).length, 0);
  const falseIntoFalse = absorbedFalse - absorbed.filter((b) => isFalse(b) && groups.some((g) => g.includes(b) && g.some((x) => !isFalse(x)))).length;
  const fb = before.filter(isFalse).length;
  const fa = after.filter(isFalse).length;
  totals = {
    hours: totals.hours + record.durationMs / 3_600_000,
    before: totals.before + before.length, after: totals.after + after.length,
    falseBefore: totals.falseBefore + fb, falseAfter: totals.falseAfter + fa,
    falseMerged: totals.falseMerged + falseMerged, falseIntoFalse: totals.falseIntoFalse + falseIntoFalse, trueMerged: totals.trueMerged + absorbed.length - absorbedFalse,
    onsetsDiffer: totals.onsetsDiffer + (same ? 0 : 1),
  };
  console.log(`${name.padEnd(7)} ${String(before.length).padStart(4)} → ${String(after.length).padEnd(4)}   ${String(fb).padStart(3)} → ${String(fa).padEnd(4)}    ${String(absorbed.length - absorbedFalse).padStart(3)} / ${String(absorbedFalse).padEnd(3)}               ${String(falseMerged).padEnd(3)}                    ${same ? 'identical' : 'DIFFER'}`);
  if (values.records) for (const e of after) console.log(`        alarm ${fmt(e.startMs)}–${e.ended ? fmt(e.endMs) : 'open'} (min:s), ${isFalse(e) ? 'false' : 'true'}`);
}
const per24 = (n: number) => ((n * 24) / totals.hours).toFixed(1);
console.log(`all     ${totals.before} → ${totals.after} AF alarms (${per24(totals.before)} → ${per24(totals.after)} per 24 h over ${totals.hours.toFixed(1)} h); false ${totals.falseBefore} → ${totals.falseAfter} (false alarms merged with true ones into one alarm: ${totals.falseMerged}; false absorbed into a false one: ${totals.falseIntoFalse}); true alarms absorbed as re-onsets: ${totals.trueMerged}; records whose kept onsets differ: ${totals.onsetsDiffer}`);
