/**
 * What the beat source's state costs in the processor's changelog (stream-state.ts `ecgBeats`):
 * while a brady/tachy alarm delay runs on an ECG-only device, every record write carries the ECG of
 * the current QRS-detector run from 2 s before the last handed-out beat (ecg-beats.ts). Feeds
 * synthetic ECG-only frames (1 s, no beats) with a sudden rate change through a StreamRuntime and
 * prints, over the frames with a pending delay, the record's JSON size with and without that state
 * and the seconds of ECG it holds.
 *
 *   node bench/ecg-pending-record.ts
 */
import { DEFAULT_CRITERIA_VERSION } from '../contracts/criteria.ts';
import type { TimedBeat } from '../device-sim/frames.ts';
import { buildFrames } from '../device-sim/frames.ts';
import { syntheticEcgSource } from '../device-sim/ecg-synth.ts';
import { StreamRuntime } from '../processor/stream-runtime.ts';

const T0 = Date.parse('2026-11-25T10:00:00Z');
const CASES = [
  { name: 'brady 45 bpm', rrMs: 1333, fsHz: 250 },
  { name: 'brady 32 bpm', rrMs: 1875, fsHz: 250 },
  { name: 'tachy 130 bpm', rrMs: 460, fsHz: 250 },
  { name: 'brady 45 bpm', rrMs: 1333, fsHz: 500 },
  { name: 'brady 45 bpm', rrMs: 1333, fsHz: 1000 },
];

const stats = (a: number[]) => {
  const s = [...a].sort((x, y) => x - y);
  return `${s[0]} / ${s[s.length >> 1]} / ${s.at(-1)}`.padStart(20);
};

console.log('case              fs Hz  writes  bytes with state (min/median/max)  without                ECG s kept');
for (const c of CASES) {
  // 20 s at 75 bpm, then 45 s at the case's rate (sudden: a 30 s delay), then 75 bpm.
  const beats: TimedBeat[] = [];
  let t = T0;
  for (const [rrMs, n] of [[800, 25], [c.rrMs, Math.ceil(45_000 / c.rrMs)], [800, 30]] as const) for (let i = 0; i < n; i++) beats.push({ tMs: (t += rrMs), cls: 'N' });
  const frames = [...buildFrames(beats, { t0Ms: T0, durationMs: 100_000, ecg: syntheticEcgSource(7, c.fsHz), ecgFsHz: c.fsHz, battery: 90 })].map((f) => ({ ...f, beats: [], hr: 0 }));
  const rt = new StreamRuntime({ patientId: 'p1', deviceId: 'd1', criteriaAt: () => DEFAULT_CRITERIA_VERSION, ecgStrips: false });
  const withState: number[] = [];
  const without: number[] = [];
  const seconds: number[] = [];
  for (const f of frames) {
    rt.ingest(f, new Date(f.ts + f.durMs).toISOString());
    const { ecgBeats, ...rest } = rt.record('processor-1', Date.now());
    if (!ecgBeats) continue;
    withState.push(JSON.stringify({ ...rest, ecgBeats }).length);
    without.push(JSON.stringify(rest).length);
    seconds.push((ecgBeats.ecg.at(-1)!.ts + ecgBeats.ecg.at(-1)!.durMs - ecgBeats.ecg[0]!.ts) / 1000);
  }
  console.log(`${c.name.padEnd(16)} ${String(c.fsHz).padStart(6)}  ${String(withState.length).padStart(6)}  ${stats(withState)}               ${stats(without)}  ${stats(seconds)}`);
}
