/**
 * Is a graceful hand-over of an ECG-only stream exact? (issue 12, session 27). Each mitdb record's
 * lead is replayed as an ECG-only device through StreamRuntime (the processor's per-stream path,
 * beats from the processor's QRS detector), once without interruption; every `--every` seconds
 * (from 60 s on) the stream is handed over through the JSON record a graceful stop writes
 * (StreamRuntime.record `handover`, processor.ts `stop`), nothing delivered again, and the
 * successor runs the next `--horizon` seconds. A hand-over "differs" when any derived beat frame
 * (its span, each beat's time, class and RR) or any alert in that time is not what the
 * uninterrupted run produced.
 * Two successors per hand-over: from the record as written, and from the record as a hand-over
 * wrote it before session 27 — without the beat source's exact state (ecg-beats.ts
 * `EcgBeatState.exact`: a fresh QRS detector runs over the kept ECG instead, as after a crash
 * still), and with the brady/tachy and VT detectors' regular pending states instead of their
 * whole state (limit-rate.ts format 3, vt.ts format 2).
 * A control checks that writing the records does not change the uninterrupted run.
 * A correctness measure, not a timing: prints counts, asserts nothing.
 *
 * `--firmware`: the device sends the reference beats as its firmware beats, with the ECG (the VT
 * waveform evidence and the AF P-wave meter read it), instead of ECG only (mitdb only).
 * `--db challenge2015`: the CinC 2015 VT-alarm records instead (5 min, real VT at their end), each
 * ECG lead as an ECG-only device, a hand-over every `--every` s from 60 s on.
 *
 * `--frame-ms N`: the device's frame length (default 1000; it must divide `--every`).
 *
 *   node bench/ecg-handover-sweep.ts [--data ../shared/data/ecg] [--db mitdb|challenge2015] [--records 100,103,…] [--every 10] [--horizon 60] [--firmware] [--frame-ms 1000]
 */
import { readdir } from 'node:fs/promises';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { DEFAULT_CRITERIA_VERSION } from '../contracts/criteria.ts';
import type { TelemetryFrame } from '../contracts/telemetry.ts';
import { loadQrsRecord, type QrsLead } from '../eval/ecg-eval.ts';
import { ecgOnlyFrames } from '../eval/qrs.ts';
import { EVAL_EPOCH_MS, EVAL_FRAME_MS } from '../eval/replay.ts';
import { buildFrames, recordEcgSource } from '../device-sim/frames.ts';
import { recordBeats, recordDurationMs } from '../device-sim/replay.ts';
import { missingEcgIntervals, readWfdbRecord, type WfdbRecord } from '../device-sim/wfdb-record.ts';
import { readWfdbHeader } from '../device-sim/wfdb-header.ts';
import { ecgSignalIndexes } from '../eval/challenge2015.ts';
import { parseStreamState, type StreamStateRecord } from '../processor/stream-state.ts';
import { handoverAsBefore } from './handover-as-before.ts';
import { StreamRuntime, type StreamRuntimeOptions } from '../processor/stream-runtime.ts';

const { values } = parseArgs({
  options: {
    data: { type: 'string', default: resolve(import.meta.dirname, '../../shared/data/ecg') },
    records: { type: 'string' },
    every: { type: 'string', default: '10' },
    horizon: { type: 'string', default: '60' },
    firmware: { type: 'boolean', default: false },
    db: { type: 'string', default: 'mitdb' },
    'frame-ms': { type: 'string', default: String(EVAL_FRAME_MS) },
  },
});
const DB = values.db;
if (DB !== 'mitdb' && DB !== 'challenge2015') throw new Error(`--db mitdb or challenge2015, not ${DB}`);
if (values.firmware && DB !== 'mitdb') throw new Error('--firmware needs reference beats: mitdb only');
const dir = resolve(values.data, DB);
const EVERY_S = Number(values.every);
const HORIZON_S = Number(values.horizon);
/** The device's frame length; hand-overs fall on frame boundaries every `--every` s. */
const FRAME_MS = Number(values['frame-ms']);
if (!(Number.isInteger(FRAME_MS) && FRAME_MS >= 100 && FRAME_MS <= 5000 && (EVERY_S * 1000) % FRAME_MS === 0)) throw new Error(`--frame-ms: 100–5000 ms dividing --every, not ${values['frame-ms']}`);
const framesPer = (seconds: number) => Math.round((seconds * 1000) / FRAME_MS);
const signalFile = DB === 'mitdb' ? '.dat' : '.mat';
const names = values.records?.split(',') ?? [...new Set((await readdir(dir)).filter((f) => f.endsWith(signalFile)).map((f) => f.slice(0, -4)))].sort();

/** The leads a record is replayed on: mitdb's scored lead and its other one; every ECG lead of a CinC 2015 record. */
async function leadsOf(name: string): Promise<WfdbRecord[]> {
  if (DB === 'mitdb') {
    const out: WfdbRecord[] = [];
    for (const lead of ['scored', 'other'] as QrsLead[]) {
      const loaded = await loadQrsRecord(dir, name, lead);
      if (loaded) out.push(loaded.record);
    }
    return out;
  }
  const header = await readWfdbHeader(resolve(dir, `${name}.hea`));
  return Promise.all(ecgSignalIndexes(header).map((index) => readWfdbRecord(resolve(dir, name), { ecgSignalIndex: index })));
}

/** The record as a device with firmware beats (the reference beats) and ECG sends it. */
function firmwareFrames(record: WfdbRecord): TelemetryFrame[] {
  const ecg = record.ecg!;
  return [...buildFrames(recordBeats(record, EVAL_EPOCH_MS), {
    t0Ms: EVAL_EPOCH_MS, durationMs: recordDurationMs(record), frameMs: FRAME_MS, battery: 100,
    leadOff: missingEcgIntervals(ecg, EVAL_EPOCH_MS), ecg: recordEcgSource(ecg.uV, ecg.fsHz, EVAL_EPOCH_MS),
  })];
}

/** What one frame produced, as comparable strings: the derived beat frames and the alerts. */
function outputs(rt: StreamRuntime, f: TelemetryFrame): { beats: string[]; alerts: string[] } {
  const r = rt.ingest(f, new Date(f.ts + f.durMs).toISOString());
  return {
    beats: r.ecgBeatFrames.map((d) => `${d.ts}+${d.durMs}:${d.beats.map((b) => `${b.off}/${b.cls}/${b.rr}`).join(',')}`),
    alerts: r.alerts.map((a) => JSON.stringify(a)),
  };
}

interface Tally { handovers: number; beatsDiffer: number; alertsDiffer: number }
const fresh = (): Tally => ({ handovers: 0, beatsDiffer: 0, alertsDiffer: 0 });
const rows: { name: string; lead: string; exact: Tally; replay: Tally; controlDiffers: number; recordBytes: number[]; exactBytes: number[] }[] = [];

for (const name of names) {
  for (const record of await leadsOf(name)) {
    const frames = values.firmware ? firmwareFrames(record) : [...ecgOnlyFrames(record, FRAME_MS)];
    const options: StreamRuntimeOptions = { patientId: `p-${name}`, deviceId: `d-${name}`, criteriaAt: () => DEFAULT_CRITERIA_VERSION, ecgStrips: false };
    // Uninterrupted, writing a hand-over record at each hand-over point.
    const rt = new StreamRuntime(options);
    const reference: { beats: string[]; alerts: string[] }[] = [];
    const records = new Map<number, string>();
    for (const [i, f] of frames.entries()) {
      reference.push(outputs(rt, f));
      if (i >= framesPer(60) && i % framesPer(EVERY_S) === 0 && i + framesPer(HORIZON_S) < frames.length) records.set(i, JSON.stringify(rt.record('bench', 0, { handover: true })));
    }
    // Control: the same run without writing records.
    const plain = new StreamRuntime(options);
    let controlDiffers = 0;
    for (const [i, f] of frames.entries()) if (JSON.stringify(outputs(plain, f)) !== JSON.stringify(reference[i])) controlDiffers++;
    const row = { name, lead: record.ecg?.description ?? '?', exact: fresh(), replay: fresh(), controlDiffers, recordBytes: [] as number[], exactBytes: [] as number[] };
    for (const [i, json] of records) {
      row.recordBytes.push(json.length);
      for (const variant of ['exact', 'replay'] as const) {
        const record = parseStreamState(JSON.parse(json)) as StreamStateRecord;
        if (variant === 'exact' && record.ecgBeats?.exact) row.exactBytes.push(JSON.stringify(record.ecgBeats.exact).length);
        const t = row[variant];
        t.handovers++;
        const successor = StreamRuntime.restore(options, variant === 'replay' ? handoverAsBefore(record) : record);
        let beats = false, alerts = false;
        for (let j = i + 1; j <= i + framesPer(HORIZON_S); j++) {
          const o = outputs(successor, frames[j]!);
          beats ||= o.beats.join('|') !== reference[j]!.beats.join('|');
          alerts ||= o.alerts.join('|') !== reference[j]!.alerts.join('|');
        }
        if (beats) t.beatsDiffer++;
        if (alerts) t.alertsDiffer++;
      }
    }
    rows.push(row);
  }
}

const pct = (n: number, of: number) => `${n} (${of > 0 ? ((100 * n) / of).toFixed(1) : '–'} %)`;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;
console.log(`${values.firmware ? 'Firmware beats with ECG' : 'ECG-only'}: hand-overs every ${EVERY_S} s, the next ${HORIZON_S} s compared with the uninterrupted run (${DB}, ${dir}; ${FRAME_MS} ms frames)\n`);
console.log('record | lead | hand-overs | beats differ: now | beats differ: before session 27 | alerts differ: now | alerts differ: before | record, median kB (beat source exact part) | control');
const total = { n: 0, eb: 0, rb: 0, ea: 0, ra: 0 };
for (const r of rows) {
  const n = r.exact.handovers;
  total.n += n; total.eb += r.exact.beatsDiffer; total.rb += r.replay.beatsDiffer; total.ea += r.exact.alertsDiffer; total.ra += r.replay.alertsDiffer;
  console.log(`${r.name} | ${r.lead} | ${n} | ${pct(r.exact.beatsDiffer, n)} | ${pct(r.replay.beatsDiffer, n)} | ${pct(r.exact.alertsDiffer, n)} | ${pct(r.replay.alertsDiffer, n)} | ${(median(r.recordBytes) / 1000).toFixed(1)} (${(median(r.exactBytes) / 1000).toFixed(1)}) | ${r.controlDiffers === 0 ? 'same' : `${r.controlDiffers} frames differ`}`);
}
console.log(`all | | ${total.n} | ${pct(total.eb, total.n)} | ${pct(total.rb, total.n)} | ${pct(total.ea, total.n)} | ${pct(total.ra, total.n)} | |`);
