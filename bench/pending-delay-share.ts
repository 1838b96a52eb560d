/**
 * How often a brady/tachy alarm delay is running (issue 12): while it runs, the processor rewrites
 * the stream's changelog record with every batch (stream-state.ts `pending`), instead of on alarm
 * changes and every 60 s of device time. Prints, per record of the beat databases, the share of
 * device time with a pending limit-alarm run under the default criteria, and the changelog writes
 * per stream-hour it adds at most (one batch per 1 s frame; fewer when batches hold several
 * frames of a stream).
 *
 *   node bench/pending-delay-share.ts [--data DIR]
 */
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { DEFAULT_ALARM_CRITERIA } from '../contracts/criteria.ts';
import { detectorsForCriteria } from '../processor/detector-set.ts';
import { EVAL_DATABASES, listRecords, loadRecord } from '../eval/records.ts';

const { values } = parseArgs({ options: { data: { type: 'string', default: resolve(import.meta.dirname, '../../shared/data/ecg') } } });

let totalMs = 0;
let totalPendingMs = 0;
console.log('record           hours  pending share  extra writes per hour (≤)');
for (const db of EVAL_DATABASES) {
  const dir = resolve(values.data!, db);
  for (const name of await listRecords(dir)) {
    const rec = await loadRecord(db, dir, name);
    const detectors = detectorsForCriteria(DEFAULT_ALARM_CRITERIA, ['brady', 'tachy']);
    let pendingMs = 0;
    let prev: number | undefined;
    for (const b of rec.beats) {
      const rr = prev === undefined ? 0 : b.timeMs - prev;
      // The interval before this beat was spent with whatever was pending after the previous one.
      if (prev !== undefined && detectors.some((d) => d.pendingState?.() !== undefined)) pendingMs += rr;
      for (const d of detectors) d.onBeat({ timeMs: b.timeMs, rrMs: rr, cls: b.cls });
      prev = b.timeMs;
    }
    const hours = rec.durationMs / 3_600_000;
    totalMs += rec.durationMs;
    totalPendingMs += pendingMs;
    console.log(`${`${db}/${name}`.padEnd(16)} ${hours.toFixed(1).padStart(5)}  ${((100 * pendingMs) / rec.durationMs).toFixed(1).padStart(11)} %  ${Math.round((pendingMs / rec.durationMs) * 3600).toString().padStart(10)}`);
  }
}
console.log(`all              ${(totalMs / 3_600_000).toFixed(1).padStart(5)}  ${((100 * totalPendingMs) / totalMs).toFixed(1).padStart(11)} %  ${Math.round((totalPendingMs / totalMs) * 3600).toString().padStart(10)}`);
console.log('(baseline without a pending delay: one write per 60 s of device time = 60 per hour, plus one per alarm change)');
