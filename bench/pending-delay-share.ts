/**
 * How often an alarm is pending (issue 12): while one is, the processor rewrites the stream's
 * changelog record with every batch (stream-state.ts `pending`), instead of on alarm changes and
 * every 60 s of device time. The beat databases are cut into 1 s frames, as a device sends them;
 * after each frame the detectors are asked for their pending state, and the share of frames with
 * one is the share of batches that rewrite the record (one batch per 1 s frame; fewer when
 * batches hold several frames of a stream). Two columns: the brady/tachy alarm delays alone
 * (limit-rate.ts, session 8), and every physiological detector (since session 18 also a silence
 * ≥ 2 s, silence.ts, and a run of extreme-rate beats, consecutive-rate.ts; since session 23 an
 * AF stretch timed towards its 30 s criterion or an AF episode ending, afib-replay.ts), with the
 * size of the pending states those rewrites carry (JSON, kB per stream-hour; the rest of the
 * record, ≈ 0.5–1 kB per write, comes on top).
 *
 *   node bench/pending-delay-share.ts [--data DIR]
 */
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { DEFAULT_ALARM_CRITERIA } from '../contracts/criteria.ts';
import type { Detector } from '../processor/detectors/detector.ts';
import { detectorsForCriteria } from '../processor/detector-set.ts';
import { EVAL_DATABASES, listRecords, loadRecord } from '../eval/records.ts';

const { values } = parseArgs({ options: { data: { type: 'string', default: resolve(import.meta.dirname, '../../shared/data/ecg') } } });
const FRAME_MS = 1000;

/** Frames (of 1 s) after which some detector has a pending state, and the JSON size of those states. */
function pendingFrames(beats: readonly { timeMs: number; cls: string }[], durationMs: number, detectors: Detector[]): { frames: number; bytes: number } {
  let pending = 0;
  let bytes = 0;
  let k = 0;
  let prev: number | undefined;
  const t0 = beats[0]?.timeMs ?? 0;
  for (let end = t0 + FRAME_MS; end <= t0 + durationMs; end += FRAME_MS) {
    for (; k < beats.length && beats[k]!.timeMs < end; k++) {
      const b = beats[k]!;
      for (const d of detectors) d.onTime({ nowMs: b.timeMs });
      for (const d of detectors) d.onBeat({ timeMs: b.timeMs, rrMs: prev === undefined ? 0 : b.timeMs - prev, cls: b.cls as 'N' });
      prev = b.timeMs;
    }
    for (const d of detectors) d.onTime({ nowMs: end });
    const states = detectors.map((d) => d.pendingState?.()).filter((x) => x !== undefined);
    if (states.length > 0) {
      pending++;
      bytes += JSON.stringify(states).length;
    }
  }
  return { frames: pending, bytes };
}

let totalFrames = 0;
const total = { limit: 0, all: 0, bytes: 0 };
const pct = (n: number, of: number) => `${((100 * n) / of).toFixed(1).padStart(5)} %`;
console.log('record           hours  brady/tachy delays: share, writes/h  |  any pending alarm: share, writes/h, pending kB/h');
for (const db of EVAL_DATABASES) {
  const dir = resolve(values.data!, db);
  for (const name of await listRecords(dir)) {
    const rec = await loadRecord(db, dir, name);
    const frames = Math.floor(rec.durationMs / FRAME_MS);
    const limit = pendingFrames(rec.beats, rec.durationMs, detectorsForCriteria(DEFAULT_ALARM_CRITERIA, ['brady', 'tachy'])).frames;
    const all = pendingFrames(rec.beats, rec.durationMs, detectorsForCriteria(DEFAULT_ALARM_CRITERIA));
    totalFrames += frames;
    total.limit += limit;
    total.all += all.frames;
    total.bytes += all.bytes;
    const perHour = (n: number) => Math.round((n / frames) * 3600).toString().padStart(5);
    console.log(`${`${db}/${name}`.padEnd(16)} ${(rec.durationMs / 3_600_000).toFixed(1).padStart(5)}  ${pct(limit, frames)} ${perHour(limit)}  |  ${pct(all.frames, frames)} ${perHour(all.frames)} ${perHour(all.bytes / 1000)}`);
  }
}
const perHour = (n: number) => Math.round((n / totalFrames) * 3600).toString().padStart(5);
console.log(`all              ${(totalFrames / 3600).toFixed(1).padStart(5)}  ${pct(total.limit, totalFrames)} ${perHour(total.limit)}  |  ${pct(total.all, totalFrames)} ${perHour(total.all)} ${perHour(total.bytes / 1000)}`);
console.log('(baseline without a pending alarm: one write per 60 s of device time = 60 per hour, plus one per alarm change)');
