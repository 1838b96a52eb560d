/**
 * CPU cost of beats from raw ECG (issue 12 item 3): µs of CPU per second of ECG for the QRS
 * detector alone and for the processor's beat source (detector + beat morphology + frame
 * bookkeeping, processor/ecg-beats.ts), at the contract's sampling rates, and what that means for
 * 10,000 devices. Baseline measured in the same run: the production detectors (PatientStream) on
 * the same stretch's firmware beats, i.e. what the processor already spends per device-second.
 * A benchmark, not a test: nothing is asserted.
 *
 *   node bench/qrs-detector.ts [--seconds 1800] [--devices 10000]
 */
import { parseArgs } from 'node:util';
import { bestCpuUs } from './cpu-time.ts';
import { syntheticEcgSource } from '../device-sim/ecg-synth.ts';
import { buildFrames, recordEcgSource, type TimedBeat } from '../device-sim/frames.ts';
import { readWfdbRecord } from '../device-sim/wfdb-record.ts';
import { recordBeats } from '../device-sim/replay.ts';
import { QrsDetector, type QrsBeat } from '../processor/detectors/qrs-detector.ts';
import { EcgBeatSource } from '../processor/ecg-beats.ts';
import { PatientStream } from '../processor/patient-stream.ts';
import { detectorsForCriteria } from '../processor/detector-set.ts';
import type { TelemetryFrame } from '../contracts/telemetry.ts';

const { values } = parseArgs({ options: { seconds: { type: 'string', default: '1800' }, devices: { type: 'string', default: '10000' }, data: { type: 'string', default: new URL('../../shared/data/ecg', import.meta.url).pathname } } });
const seconds = Number(values.seconds);
const devices = Number(values.devices);
const T0 = Date.parse('2026-01-01T00:00:00Z');

const best = bestCpuUs;

interface Input { label: string; fsHz: number; frames: TelemetryFrame[]; beats: TimedBeat[] }
const inputs: Input[] = [];
const mitdb = await readWfdbRecord(`${values.data}/mitdb/100`);
const mitBeats = recordBeats(mitdb, T0).filter((b) => b.tMs < T0 + seconds * 1000);
for (const fsHz of [250, 360]) {
  inputs.push({ label: `mitdb/100 MLII resampled`, fsHz, beats: mitBeats, frames: [...buildFrames(mitBeats, { t0Ms: T0, durationMs: seconds * 1000, ecg: recordEcgSource(mitdb.ecg!.uV, 360, T0), ecgFsHz: fsHz, battery: 90 })] });
}
const synthBeats: TimedBeat[] = [];
for (let t = T0 + 400; t < T0 + seconds * 1000; t += 800) synthBeats.push({ tMs: t, cls: 'N' });
for (const fsHz of [125, 500, 1000]) {
  inputs.push({ label: 'synthetic 75 bpm', fsHz, beats: synthBeats, frames: [...buildFrames(synthBeats, { t0Ms: T0, durationMs: seconds * 1000, ecg: syntheticEcgSource(1, fsHz), ecgFsHz: fsHz, battery: 90 })] });
}

// Warm-up (JIT) on the first input, not measured.
{ const w = inputs[0]!; const src = new EcgBeatSource(); for (const f of w.frames) src.frames({ ...f, beats: [] }); const s = new PatientStream('p', 'd', detectorsForCriteria()); for (const f of w.frames) s.detect({ ...f, ecg: undefined }); }
console.log(`${seconds} s of ECG per input, 1 s frames; CPU time, best of 3`);
console.log('input                      fs Hz  QRS µs/s  beat source µs/s  detectors on firmware beats µs/s (baseline)  cores for 10,000 devices (beat source)  signal history KiB/device');
for (const input of inputs) {
  const samples = input.frames.map((f) => f.ecg!.uV);
  const qrs = best(() => { const q = new QrsDetector(input.fsHz); const out: QrsBeat[] = []; for (const s of samples) q.push(s, out); });
  const ecgOnly = input.frames.map((f) => ({ ...f, beats: [], hr: 0 }));
  const source = best(() => { const src = new EcgBeatSource(); for (const f of ecgOnly) src.frames(f); });
  const noEcg = input.frames.map((f) => ({ ...f, ecg: undefined }));
  const baseline = best(() => { const s = new PatientStream('p', 'd', detectorsForCriteria()); for (const f of noEcg) s.detect(f); });
  const perS = (us: number) => us / seconds;
  const kib = new QrsDetector(input.fsHz).historyBytes / 1024;
  console.log(`${input.label.padEnd(26)} ${String(input.fsHz).padStart(5)}  ${perS(qrs).toFixed(1).padStart(8)}  ${perS(source).toFixed(1).padStart(16)}  ${perS(baseline).toFixed(1).padStart(44)}  ${(perS(source) * devices / 1e6).toFixed(2).padStart(38)}  ${kib.toFixed(1).padStart(25)}`);
}
