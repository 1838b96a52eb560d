/**
 * A patch put back turned through 180° after a short lead-off, on the shared real records
 * (issue 12 session 21; qrs-morphology.ts `PolarityCheck`). Each lead's beat shapes are learned
 * up to a cut; after a 3 s gap a detector that adopts them (as ecg-beats.ts does after a lead-off
 * shorter than 10 s) reads the rest of the record:
 *  - upright, without and with the check: any difference is the check's cost (a beat read
 *    otherwise on a patch put back the right way round);
 *  - inverted, with the check, and without it (before session 21).
 * mitdb, both leads, cut at 300 s; CinC 2015 VT alarms, first ECG lead, cut at 270 s and 285 s
 * (the alarm is at 300 s: a lead-off just before a true VT), labels from 280 s on.
 * Not part of `npm run eval` (nothing is chosen on it); EVALUATION.md §5 has the results.
 *
 *   node eval/patch-reversed.ts [--data DIR]
 */
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { readWfdbRecord } from '../device-sim/wfdb-record.ts';
import { QrsDetector } from '../processor/detectors/qrs-detector.ts';
import { ecgSignalIndexes, readAlarmLabels } from './challenge2015.ts';
import { fileExists, listRecords } from './records.ts';

const GAP_S = 3;

/** Labels of the beats from `fromS` on, read by a detector that adopted the shapes learned before `cutS`. */
function labelsAfter(uV: Int16Array, fsHz: number, cutS: number, fromS: number, o: { check: boolean; inverted: boolean }): string {
  const before = new QrsDetector(fsHz);
  before.push(uV.subarray(0, Math.round(cutS * fsHz)));
  const after = new QrsDetector(fsHz);
  const learned = before.morphologyTemplates();
  if (learned) after.adoptMorphology(learned, o.check);
  const start = Math.round((cutS + GAP_S) * fsHz);
  const out = after.push(Int16Array.from(uV.subarray(start), (v) => (o.inverted ? -v : v)));
  after.push(new Int16Array(2 * fsHz), out);
  return out.filter((b) => b.sample + start >= fromS * fsHz).map((b) => b.cls).join('');
}

const count = (s: string, c: string) => [...s].filter((x) => x === c).length;

interface Row { what: string; beats: number; uprightChanged: boolean; vUpright: number; vInvertedChecked: number; vInvertedUnchecked: number; qAdded: number }

function row(what: string, uV: Int16Array, fsHz: number, cutS: number, fromS: number): Row {
  const upright = labelsAfter(uV, fsHz, cutS, fromS, { check: false, inverted: false });
  const checked = labelsAfter(uV, fsHz, cutS, fromS, { check: true, inverted: true });
  return {
    what,
    beats: upright.length,
    uprightChanged: labelsAfter(uV, fsHz, cutS, fromS, { check: true, inverted: false }) !== upright,
    vUpright: count(upright, 'V'),
    vInvertedChecked: count(checked, 'V'),
    vInvertedUnchecked: count(labelsAfter(uV, fsHz, cutS, fromS, { check: false, inverted: true }), 'V'),
    qAdded: count(checked, 'Q') - count(upright, 'Q'),
  };
}

const { values } = parseArgs({ options: { data: { type: 'string', default: resolve(import.meta.dirname, '../../shared/data/ecg') } } });
const data = resolve(values.data!);
const rows: Row[] = [];
const mitdb = join(data, 'mitdb');
for (const name of await listRecords(mitdb)) {
  for (const signal of [0, 1]) {
    const r = await readWfdbRecord(join(mitdb, name), { ecgSignalIndex: signal });
    if (r.ecg) rows.push(row(`mitdb ${name} ${r.ecg.description}`, r.ecg.uV, r.ecg.fsHz, 300, 300 + GAP_S));
  }
}
const cinc2015 = join(data, 'challenge2015');
const c2015: Row[] = [];
if (await fileExists(join(cinc2015, 'alarms.csv'))) {
  for (const [name, truth] of await readAlarmLabels(cinc2015)) {
    const header = (await readWfdbRecord(join(cinc2015, name), { loadEcg: false })).header;
    const r = await readWfdbRecord(join(cinc2015, name), { ecgSignalIndex: ecgSignalIndexes(header)[0] ?? 0 });
    if (!r.ecg) continue;
    for (const cutS of [270, 285]) c2015.push(row(`${name} ${truth ? 'true' : 'false'} cut ${cutS} s`, r.ecg.uV, r.ecg.fsHz, cutS, 280));
  }
}

console.log('lead | beats | upright: check changes a label | V upright | V inverted, checked | V inverted, unchecked | Q added');
for (const r of rows) console.log(`${r.what} | ${r.beats} | ${r.uprightChanged ? 'YES' : 'no'} | ${r.vUpright} | ${r.vInvertedChecked} | ${r.vInvertedUnchecked} | ${r.qAdded}`);
const sum = (list: Row[], f: (r: Row) => number) => list.reduce((a, r) => a + f(r), 0);
if (c2015.length > 0) {
  const changed = c2015.filter((r) => r.uprightChanged);
  console.log(`CinC 2015 (${c2015.length / 2} alarms × 2 cuts, beats from 280 s): upright, the check changes a label in ${changed.length} of ${c2015.length}${changed.length ? ` (${changed.map((r) => r.what).join(', ')})` : ''}`);
  console.log(`  V beats: upright ${sum(c2015, (r) => r.vUpright)}, inverted checked ${sum(c2015, (r) => r.vInvertedChecked)}, inverted unchecked ${sum(c2015, (r) => r.vInvertedUnchecked)} (of ${sum(c2015, (r) => r.beats)} beats); Q added ${sum(c2015, (r) => r.qAdded)}`);
  const close = c2015.filter((r) => Math.abs(r.vInvertedChecked - r.vUpright) <= 1).length;
  console.log(`  inverted and checked, V within ±1 of upright: ${close} of ${c2015.length}`);
}
