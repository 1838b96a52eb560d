/**
 * A device that sends its own beats and its ECG, whose beat output breaks (issue 12 item 3): the
 * frames keep coming with ECG that shows the patient's QRS complexes, but `beats: []`. And the
 * control: a real asystole (the firmware's beats stop because the ECG has no QRS complex: a flat
 * line, baseline noise, or P waves without QRS — ventricular standstill) must alarm at the same
 * device time as before any change to the beat source (processor/ecg-beats.ts).
 *
 * Everything runs through the production path (StreamRuntime: beat source → detectors → alarm
 * lifecycle, default criteria), frames of 1 s, as the processor gets them:
 *  - mitdb (both leads of each record, 360 Hz as recorded — within the contract's 125–1000 Hz):
 *    the reference beats are the firmware's beats (eval/firmware-ecg-path.ts); the firmware's
 *    beat output drops out for {@link OUTAGE_MS} every {@link OUTAGE_EVERY_MS} (frames keep their
 *    ECG, `beats: []`, hr 0) and comes back;
 *  - CinC 2015 (first ECG lead, 250 Hz, the 300 s up to the alarm): no reference beats, so the
 *    "firmware" beats are those the processor's own QRS detector finds in a separate ECG-only pass
 *    (a firmware reporting what a good detector reports); beats drop out 120–180 s;
 *  - synthetic (device-sim/ecg-synth.ts, firmware beats = the synthesised beats): sinus rhythm at
 *    40–150/min, beats drop out for 60 s after 5 min;
 *  - real asystole, 30 s: on the same mitdb records (every {@link OUTAGE_EVERY_MS}, the ECG replaced
 *    by a flat line, by baseline noise, or by tall P waves (0.4 mV) at 70/min over noise; the firmware's beats
 *    stop with it) and synthetic (the same three, after 5 min of sinus rhythm at 75/min).
 * Per outage: asystole alarms raised in it (onset from the last firmware beat before it to its end),
 * and how long the detectors went without a beat from the last firmware beat (the gap until
 * derived beats took over). Per real asystole: the device time (end of the frame) at which the
 * asystole alarm was raised, and its onset, printed so that two versions of the code can be diffed.
 *
 *   node eval/firmware-beats-drop.ts            (all three sets; `--quick`: mitdb + synthetic only)
 */
import { join } from 'node:path';
import type { Alert } from '../contracts/alert.ts';
import { DEFAULT_CRITERIA_VERSION } from '../contracts/criteria.ts';
import type { TelemetryFrame } from '../contracts/telemetry.ts';
import { syntheticEcgSource } from '../device-sim/ecg-synth.ts';
import { buildFrames, type EcgSource, type TimedBeat } from '../device-sim/frames.ts';
import { createPrng, gaussian } from '../device-sim/prng.ts';
import { readWfdbHeader } from '../device-sim/wfdb-header.ts';
import { readWfdbRecord } from '../device-sim/wfdb-record.ts';
import { StreamRuntime, type StreamRuntimeOptions } from '../processor/stream-runtime.ts';
import { ALARM_AT_MS, ecgSignalIndexes, readAlarmLabels } from './challenge2015.ts';
import { recordsWithLead } from './ecg-eval.ts';
import { firmwareEcgFrames } from './firmware-ecg-path.ts';
import { derivedFrames, ecgOnlyFrames } from './qrs.ts';
import { fileExists } from './records.ts';
import { EVAL_EPOCH_MS } from './replay.ts';

const DATA = join(import.meta.dirname, '../../shared/data/ecg');
const OPTIONS: StreamRuntimeOptions = { patientId: 'p1', deviceId: 'd1', criteriaAt: () => DEFAULT_CRITERIA_VERSION, ecgStrips: false };
/** mitdb: an outage (or a real asystole) every this long, from this far in, ms. */
const OUTAGE_EVERY_MS = 300_000;
const FIRST_OUTAGE_MS = 180_000;
const OUTAGE_MS = 90_000;
const ASYSTOLE_MS = 30_000;

interface Window { startMs: number; endMs: number }
type Replacement = 'flat' | 'noise' | 'P waves';

/** What the production path raised: each alert once, with the device time of the frame that raised it. */
function run(frames: readonly TelemetryFrame[]): { alerts: { alert: Alert; raisedAtMs: number }[]; beatsMs: number[] } {
  const rt = new StreamRuntime(OPTIONS);
  const seen = new Map<string, { alert: Alert; raisedAtMs: number }>();
  const beatsMs: number[] = [];
  for (const f of frames) {
    const r = rt.ingest(f, new Date(f.ts + f.durMs).toISOString());
    for (const a of r.alerts) if (!seen.has(a.id)) seen.set(a.id, { alert: a, raisedAtMs: f.ts + f.durMs });
    // The beats the detectors got: the firmware's, or those derived from the ECG.
    const analysed = r.ecgBeatFrames.length > 0 ? r.ecgBeatFrames : [f];
    for (const a of analysed) for (const b of a.beats) beatsMs.push(a.ts + b.off);
  }
  return { alerts: [...seen.values()], beatsMs: beatsMs.sort((a, b) => a - b) };
}

/** Frames whose firmware beats drop out over `w` (the ECG goes on). */
const dropBeats = (frames: readonly TelemetryFrame[], w: Window) => frames.map((f) => (f.ts >= w.startMs && f.ts < w.endMs ? { ...f, beats: [], hr: 0 } : f));

/** Asystole samples over `w`: a flat line, baseline noise (wander + 20 µV), or tall P waves (0.4 mV, which the QRS detector finds) at 70/min over it. */
function asystoleSample(kind: Replacement, tMs: number, random: () => number): number {
  if (kind === 'flat') return 0;
  const noise = 40 * Math.sin((2 * Math.PI * 0.3 * tMs) / 1000) + 20 * gaussian(random);
  if (kind === 'noise') return noise;
  const pEveryMs = 60_000 / 70;
  const phase = ((tMs % pEveryMs) + pEveryMs) % pEveryMs;
  const d = Math.min(phase, pEveryMs - phase);
  return noise + 400 * Math.exp(-0.5 * (d / 25) ** 2);
}

/** Frames with a real asystole over each window: no firmware beat, the ECG replaced. */
function withAsystole(frames: readonly TelemetryFrame[], windows: readonly Window[], kind: Replacement, seed: number): TelemetryFrame[] {
  const random = createPrng(seed);
  return frames.map((f) => {
    const w = windows.find((x) => f.ts >= x.startMs && f.ts < x.endMs);
    if (!w || !f.ecg) return f;
    const fs = f.ecg.fs;
    return { ...f, beats: [], hr: 0, ecg: { fs, uV: f.ecg.uV.map((_, i) => Math.round(asystoleSample(kind, f.ts + (i * 1000) / fs, random))) } };
  });
}

interface OutageResult { name: string; falseAsystoles: number; gapMs: number }

/** Asystole alarms raised over each outage that the uninterrupted run did not raise, and the longest stretch without a beat from the last firmware beat before it. */
function scoreOutages(name: string, frames: readonly TelemetryFrame[], windows: readonly Window[]): OutageResult[] {
  const control = run(frames);
  const controlIds = new Set(control.alerts.map((a) => a.alert.id));
  let dropped = frames;
  for (const w of windows) dropped = dropBeats(dropped, w);
  const got = run(dropped);
  return windows.map((w) => {
    const lastBefore = got.beatsMs.filter((t) => t < w.startMs).at(-1) ?? w.startMs;
    const firstAfter = got.beatsMs.find((t) => t >= w.startMs) ?? Infinity;
    const falseAsystoles = got.alerts.filter((a) => a.alert.kind === 'asystole' && !controlIds.has(a.alert.id) && Date.parse(a.alert.onset) >= lastBefore - 1 && Date.parse(a.alert.onset) < w.endMs).length;
    return { name: `${name} at ${((w.startMs % 86_400_000) / 1000).toFixed(0)} s`, falseAsystoles, gapMs: firstAfter - lastBefore };
  });
}

/** The asystole alarm raised for each real asystole: when (frame end) and its onset, s from the window's start. */
function scoreAsystoles(name: string, frames: readonly TelemetryFrame[], windows: readonly Window[], kind: Replacement, seed: number): string[] {
  const got = run(withAsystole(frames, windows, kind, seed));
  return windows.map((w) => {
    const a = got.alerts.filter((x) => x.alert.kind === 'asystole' && Date.parse(x.alert.onset) < w.endMs && Date.parse(x.alert.onset) >= w.startMs - 5000)[0];
    const s = (ms: number) => ((ms - w.startMs) / 1000).toFixed(3);
    return `${name} ${kind} at ${((w.startMs % 86_400_000) / 1000).toFixed(0)} s: ${a ? `raised at ${s(a.raisedAtMs)} s, onset ${s(Date.parse(a.alert.onset))} s` : 'NOT RAISED'}`;
  });
}

function summary(label: string, rows: readonly OutageResult[]): string {
  // (A record whose ECG ends in lead-off gives no beat after the outage at all: left out of the gaps.)
  const gaps = rows.map((r) => r.gapMs).filter(Number.isFinite).sort((a, b) => a - b);
  const q = (p: number) => (gaps[Math.min(gaps.length - 1, Math.floor(p * gaps.length))]! / 1000).toFixed(1);
  const withFalse = rows.filter((r) => r.falseAsystoles > 0);
  return `${label}: ${rows.length} outages, ${withFalse.length} with a false asystole alarm (${rows.reduce((s, r) => s + r.falseAsystoles, 0)} alarms); gap without a beat from the last firmware beat: median ${q(0.5)} s, 90th pct ${q(0.9)} s, max ${q(1)} s${gaps.length < rows.length ? ` (${rows.length - gaps.length} with no beat after it at all)` : ''}${withFalse.length ? `; false: ${withFalse.map((r) => `${r.name} (gap ${(r.gapMs / 1000).toFixed(1)} s)`).join(', ')}` : ''}`;
}

const quick = process.argv.includes('--quick');
const asystoleLines: string[] = [];

// mitdb, both leads.
const mitdb: OutageResult[] = [];
for (const lead of ['scored', 'other'] as const) {
  for await (const { name, record, reference } of recordsWithLead(DATA, 'mitdb', undefined, lead)) {
    const frames = [...firmwareEcgFrames(reference, record)];
    const windows: Window[] = [];
    for (let t = FIRST_OUTAGE_MS; t + OUTAGE_MS < reference.durationMs; t += OUTAGE_EVERY_MS) windows.push({ startMs: EVAL_EPOCH_MS + t, endMs: EVAL_EPOCH_MS + t + OUTAGE_MS });
    const label = `mitdb ${name} ${record.ecg?.description}`;
    mitdb.push(...scoreOutages(label, frames, windows));
    const asys = windows.map((w) => ({ startMs: w.startMs, endMs: w.startMs + ASYSTOLE_MS }));
    for (const kind of ['flat', 'noise', 'P waves'] as const) asystoleLines.push(...scoreAsystoles(label, frames, asys, kind, 5));
  }
}
console.log(summary('mitdb (5 records × 2 leads, reference beats as firmware beats, 90 s outages every 5 min)', mitdb));

// Synthetic: sinus rhythm at several rates.
const synth: OutageResult[] = [];
const T0 = Date.parse('2026-03-01T00:00:00Z');
const sinus = (rrMs: number, untilMs: number, fromMs = T0): TimedBeat[] => {
  const out: TimedBeat[] = [];
  for (let t = fromMs + rrMs; t < untilMs; t += rrMs) out.push({ tMs: t, cls: 'N' });
  return out;
};
const synthFrames = (beats: TimedBeat[], ms: number) => [...buildFrames(beats, { t0Ms: T0, durationMs: ms, battery: 90, ecg: syntheticEcgSource(9, 250), ecgFsHz: 250 })];
for (const bpm of [40, 50, 60, 75, 100, 150]) {
  const rr = Math.round(60_000 / bpm);
  const frames = synthFrames(sinus(rr, T0 + 480_000), 480_000);
  synth.push(...scoreOutages(`synthetic ${bpm}/min`, frames, [{ startMs: T0 + 300_000, endMs: T0 + 360_000 }]));
}
console.log(summary('synthetic sinus 40–150/min (60 s outage after 5 min)', synth));
for (const kind of ['flat', 'noise', 'P waves'] as const) {
  const start = T0 + 300_000;
  const beats = [...sinus(800, start), ...sinus(800, T0 + 480_000, start + ASYSTOLE_MS)];
  // (The synthetic source draws nothing more than 600 ms from a beat: over the asystole the replacement is all there is.)
  const frames = synthFrames(beats, 480_000);
  asystoleLines.push(...scoreAsystoles('synthetic 75/min', frames, [{ startMs: start, endMs: start + ASYSTOLE_MS }], kind, 5));
}

// CinC 2015: the first ECG lead; "firmware" beats = an ECG-only pass of the production beat source.
if (!quick) {
  const dir = join(DATA, 'challenge2015');
  const cinc: OutageResult[] = [];
  for (const name of (await readAlarmLabels(dir)).keys()) {
    if (!(await fileExists(join(dir, `${name}.hea`)))) continue;
    const header = await readWfdbHeader(join(dir, `${name}.hea`));
    const index = ecgSignalIndexes(header)[0];
    if (index === undefined) continue;
    const record = await readWfdbRecord(join(dir, name), { ecgSignalIndex: index });
    const ecgOnly = [...ecgOnlyFrames(record)].filter((f) => f.ts + f.durMs <= EVAL_EPOCH_MS + ALARM_AT_MS);
    const beats: TimedBeat[] = [];
    for (const d of derivedFrames(ecgOnly)) for (const b of d.beats) beats.push({ tMs: d.ts + b.off, cls: b.cls });
    const frames = ecgOnly.map((f) => {
      if (f.leadOff) return f;
      const inFrame = beats.flatMap((b, i) => (b.tMs >= f.ts && b.tMs < f.ts + f.durMs ? [{ off: b.tMs - f.ts, rr: i > 0 ? Math.min(0xffff, b.tMs - beats[i - 1]!.tMs) : 0, cls: b.cls }] : []));
      return { ...f, beats: inFrame };
    });
    cinc.push(...scoreOutages(`cinc2015 ${name}`, frames, [{ startMs: EVAL_EPOCH_MS + 120_000, endMs: EVAL_EPOCH_MS + 180_000 }]));
  }
  console.log(summary('CinC 2015 (first ECG lead, its ECG-only beats as firmware beats, 60 s outage at 120 s)', cinc));
}

console.log('\nReal asystole (30 s; the firmware beats stop with the QRS): when the asystole alarm was raised (device time, frame end) and its onset, s from the asystole\'s start');
for (const l of asystoleLines) console.log(`  ${l}`);
