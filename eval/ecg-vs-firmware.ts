/**
 * The same patient through two devices: firmware beats, and ECG only (the processor detects the
 * beats, processor/ecg-beats.ts). The beats are the same, so the alarms should be too; a
 * difference is a fault of the ECG-only path (issue 12 session 19 found two this way, in a
 * sustained VT: EVALUATION.md §5). Each scenario is 10 min of sinus rhythm (a patient being
 * monitored, not a stream that starts in the arrhythmia), a sustained episode, and 2 min of
 * sinus rhythm; each is also run with a processor restart (the changelog record through JSON) and
 * with one lost frame 100 s into the episode, and the ECG-only device also switches there to
 * 500 Hz, to 250 ms or to 5 s frames (an operator's `config` command during the rhythm; session
 * 20). Synthetic ECG (device-sim/ecg-synth.ts, seed 9): it draws a P wave before every `N`
 * beat, so the irregular rhythm below is an irregular rhythm with P waves (like multifocal atrial
 * tachycardia), not AF, on a device with ECG; the two AF scenarios draw f waves and no P wave.
 *
 *   node eval/ecg-vs-firmware.ts
 *
 * Prints, per scenario and variant, the alarms (kind, onset–end in s from the episode's start;
 * `est` = end estimated by the lifecycle) and whether they equal the uninterrupted firmware run's.
 * A measurement, not a test: test/processor/sustained-vt.test.ts pins the VT cases.
 */
import type { Alert } from '../contracts/alert.ts';
import { DEFAULT_CRITERIA_VERSION } from '../contracts/criteria.ts';
import type { TelemetryFrame } from '../contracts/telemetry.ts';
import { AfRrModel } from '../device-sim/afib-rr.ts';
import { syntheticEcgSource } from '../device-sim/ecg-synth.ts';
import { buildFrames, type TimedBeat } from '../device-sim/frames.ts';
import { createPrng } from '../device-sim/prng.ts';
import { parseStreamState } from '../processor/stream-state.ts';
import { StreamRuntime, type StreamRuntimeOptions } from '../processor/stream-runtime.ts';

const T0 = Date.parse('2026-03-01T00:00:00Z');
const OPTIONS: StreamRuntimeOptions = { patientId: 'p1', deviceId: 'd1', criteriaAt: () => DEFAULT_CRITERIA_VERSION, ecgStrips: false };
const SINUS_BEFORE_MS = 600_000;
const SINUS_AFTER_MS = 120_000;
/** Where the restart or the lost frame falls, after the episode's start. */
const DISTURB_AT_MS = 100_000;

interface Segment { ms: number; rrMs: (i: number) => number; cls?: (i: number) => 'N' | 'V'; af?: boolean }

const regular = (ms: number, rrMs: number, cls: 'N' | 'V' = 'N'): Segment => ({ ms, rrMs: () => rrMs, cls: () => cls });

/** The episodes (each between the sinus rhythm before and after, at 75/min). */
function scenarios(): { name: string; episode: Segment[] }[] {
  const irregular = new AfRrModel(createPrng(6), { meanHrBpm: 120, tailMeanMs: 300 });
  const af = new AfRrModel(createPrng(7), { meanHrBpm: 100, tailMeanMs: 300 });
  const fastAf = new AfRrModel(createPrng(8), { meanHrBpm: 140, tailMeanMs: 300 });
  return [
    { name: 'VT 120/min, 3 min', episode: [regular(180_000, 500, 'V')] },
    { name: 'VT 150/min, 3 min', episode: [regular(180_000, 400, 'V')] },
    { name: 'VT 240/min, 3 min', episode: [regular(180_000, 250, 'V')] },
    { name: 'VT 120/min 30 s, 4 times, 60 s apart', episode: [0, 1, 2, 3].flatMap(() => [regular(30_000, 500, 'V'), regular(60_000, 800)]) },
    { name: 'SVT 160/min (narrow), 3 min', episode: [regular(180_000, 375)] },
    { name: 'sinus bradycardia 38/min, 5 min', episode: [regular(300_000, 1580)] },
    { name: 'ventricular bigeminy, 5 min', episode: [{ ms: 300_000, rrMs: (i) => (i % 2 ? 1000 : 600), cls: (i) => (i % 2 ? 'N' : 'V') }] },
    { name: 'idioventricular rhythm 90/min, 3 min', episode: [regular(180_000, 667, 'V')] },
    { name: 'irregular 120/min with P waves, 5 min', episode: [{ ms: 300_000, rrMs: () => Math.round(irregular.next()) }] },
    // AF: the same kind of intervals, conducted from fibrillation (f waves, no P wave, in the synthetic ECG).
    { name: 'AF 100/min (f waves, no P wave), 5 min', episode: [{ ms: 300_000, rrMs: () => Math.round(af.next()), af: true }] },
    { name: 'AF 140/min (f waves, no P wave), 5 min', episode: [{ ms: 300_000, rrMs: () => Math.round(fastAf.next()), af: true }] },
  ];
}

function timeline(episode: Segment[]): { beats: TimedBeat[]; startMs: number; endMs: number } {
  const beats: TimedBeat[] = [];
  let t = T0;
  const add = (s: Segment) => {
    const until = t + s.ms;
    for (let i = 0; t < until; i++) {
      t += s.rrMs(i);
      beats.push({ tMs: t, cls: s.cls?.(i) ?? 'N', ...(s.af ? { af: true } : {}) });
    }
  };
  add(regular(SINUS_BEFORE_MS, 800));
  const startMs = t;
  for (const s of episode) add(s);
  const endMs = t;
  add(regular(SINUS_AFTER_MS, 800));
  return { beats, startMs, endMs };
}

type Variant = 'firmware' | 'firmware, restart' | 'firmware, lost frame' | 'ECG-only' | 'ECG-only, restart' | 'ECG-only, lost frame' | 'ECG-only, to 500 Hz' | 'ECG-only, to 250 ms frames' | 'ECG-only, to 5 s frames';
const VARIANTS: Variant[] = ['firmware', 'firmware, restart', 'firmware, lost frame', 'ECG-only', 'ECG-only, restart', 'ECG-only, lost frame', 'ECG-only, to 500 Hz', 'ECG-only, to 250 ms frames', 'ECG-only, to 5 s frames'];

function run(beats: TimedBeat[], startMs: number, variant: Variant): string[] {
  const durationMs = beats.at(-1)!.tMs - T0 + 2000;
  const disturbFrameMs = Math.floor((startMs + DISTURB_AT_MS - T0) / 1000) * 1000 + T0;
  const build = (fsHz: number, frameMs = 1000) => [...buildFrames(beats, { t0Ms: T0, durationMs, battery: 90, ecg: syntheticEcgSource(9, fsHz), ecgFsHz: fsHz, frameMs })];
  // An operator's config command at the disturbance: the device switches its sampling rate or frame length there.
  const switched = variant === 'ECG-only, to 500 Hz' ? build(500) : variant === 'ECG-only, to 250 ms frames' ? build(250, 250) : variant === 'ECG-only, to 5 s frames' ? build(250, 5000) : undefined;
  const frames: TelemetryFrame[] = [...build(250).filter((f) => !switched || f.ts < disturbFrameMs), ...(switched ?? []).filter((f) => f.ts >= disturbFrameMs)]
    .filter((f) => !(variant.endsWith('lost frame') && f.ts === disturbFrameMs))
    .map((f) => (variant.startsWith('ECG-only') ? { ...f, beats: [], hr: 0 } : f));
  let rt = new StreamRuntime(OPTIONS);
  const alarms = new Map<string, Alert>();
  for (const f of frames) {
    for (const a of rt.ingest(f, new Date(f.ts + f.durMs).toISOString()).alerts) alarms.set(a.id, a);
    if (variant.endsWith('restart') && f.ts === disturbFrameMs) rt = StreamRuntime.restore(OPTIONS, parseStreamState(JSON.parse(JSON.stringify(rt.record('eval', 0))))!);
  }
  const s = (ms: number) => ((ms - startMs) / 1000).toFixed(1);
  // The data end after the last beat (up to a 5 s frame later): a silence there is the end of the run, not the patient's.
  const lastBeatMs = beats.at(-1)!.tMs;
  return [...alarms.values()].filter((a) => Date.parse(a.onset) < lastBeatMs).map((a) => `${a.kind} ${s(Date.parse(a.onset))}–${a.end ? s(Date.parse(a.end)) : 'open'}${a.evidence.note?.startsWith('end estimated') ? ' est' : ''}`);
}

console.log(`Alarms per variant (s from the episode's start; restart / lost frame at ${DISTURB_AT_MS / 1000} s into it); "=" equals the uninterrupted firmware run`);
let differing = 0;
for (const { name, episode } of scenarios()) {
  const { beats, startMs, endMs } = timeline(episode);
  console.log(`\n${name} (episode 0–${((endMs - startMs) / 1000).toFixed(1)} s)`);
  const reference = run(beats, startMs, 'firmware');
  for (const variant of VARIANTS) {
    const got = variant === 'firmware' ? reference : run(beats, startMs, variant);
    const same = JSON.stringify(got) === JSON.stringify(reference);
    if (!same) differing++;
    console.log(`  ${variant.padEnd(22)} ${same ? '=' : '≠'} ${got.join(' | ') || '(none)'}`);
  }
}
console.log(`\n${differing} variant(s) differ from the uninterrupted firmware run.`);
