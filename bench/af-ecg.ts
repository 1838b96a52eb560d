/**
 * CPU cost of the AF detector's ECG evidence (issue 12 item 1, atrial-activity.ts): µs of CPU per
 * second of ECG for the AF detector fed frames with firmware beats and ECG — P-wave coherence
 * (production default), and with the f-wave fraction switched on (`fWaveMin`, measured but not
 * adopted) — against the same detector on the same beats without ECG (the RR-only path, baseline
 * measured in the same run), and what the difference means for 10,000 devices.
 * A benchmark, not a test: nothing is asserted.
 *
 *   node bench/af-ecg.ts [--seconds 1800] [--devices 10000]
 */
import { parseArgs } from 'node:util';
import { bestCpuUs } from './cpu-time.ts';
import { buildFrames, recordEcgSource, type TimedBeat } from '../device-sim/frames.ts';
import { readWfdbRecord } from '../device-sim/wfdb-record.ts';
import { recordBeats } from '../device-sim/replay.ts';
import { createAfibDetector, type AfibParams } from '../processor/detectors/afib.ts';
import type { TelemetryFrame } from '../contracts/telemetry.ts';

const { values } = parseArgs({ options: { seconds: { type: 'string', default: '1800' }, devices: { type: 'string', default: '10000' }, data: { type: 'string', default: new URL('../../shared/data/ecg', import.meta.url).pathname } } });
const seconds = Number(values.seconds);
const devices = Number(values.devices);
const T0 = Date.parse('2026-01-01T00:00:00Z');

const best = bestCpuUs;

/** The detector as PatientStream drives it: the frame's ECG first, then its beats. */
function run(frames: readonly TelemetryFrame[], params: Partial<AfibParams>): void {
  const d = createAfibDetector(params);
  for (const f of frames) {
    if (f.ecg) d.onEcg({ startMs: f.ts, fsHz: f.ecg.fs, uV: f.ecg.uV });
    for (const b of f.beats) d.onBeat({ timeMs: f.ts + b.off, rrMs: b.rr, cls: b.cls });
  }
}

const record = await readWfdbRecord(`${values.data}/mitdb/100`);
const beats: TimedBeat[] = recordBeats(record, T0).filter((b) => b.tMs < T0 + seconds * 1000);
console.log(`mitdb/100 MLII, ${seconds} s, 1 s frames with firmware beats; CPU time, best of 3`);
console.log('fs Hz  RR only µs/s (baseline)  + P-wave coherence µs/s  + f-wave fraction µs/s  ECG evidence, cores for 10,000 devices (coherence / + f waves)');
for (const fsHz of [250, 360]) {
  const frames = [...buildFrames(beats, { t0Ms: T0, durationMs: seconds * 1000, ecg: recordEcgSource(record.ecg!.uV, 360, T0), ecgFsHz: fsHz, battery: 90 })];
  const noEcg = frames.map((f) => ({ ...f, ecg: undefined }));
  run(frames, { fWaveMin: 0.2 }); // warm-up (JIT), not measured
  const rrOnly = best(() => run(noEcg, {})) / seconds;
  const coherence = best(() => run(frames, {})) / seconds;
  const fWaves = best(() => run(frames, { fWaveMin: 0.2 })) / seconds;
  const cores = (us: number) => ((us - rrOnly) * devices / 1e6).toFixed(2);
  console.log(`${String(fsHz).padStart(5)}  ${rrOnly.toFixed(1).padStart(23)}  ${coherence.toFixed(1).padStart(23)}  ${fWaves.toFixed(1).padStart(22)}  ${`${cores(coherence)} / ${cores(fWaves)}`.padStart(20)}`);
}
