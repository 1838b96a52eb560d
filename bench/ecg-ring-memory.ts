/**
 * Heap kept by the processor's ECG strip recorders (processor/ecg-strips.ts) per stream that
 * sends ECG: N recorders fed 120 s of 1 s frames at 250 Hz (more than the 60 s ring), measured
 * after a full GC against the same process before them. Streams without ECG have no recorder.
 *
 *   node --expose-gc bench/ecg-ring-memory.ts [--streams 1000]
 */
import { parseArgs } from 'node:util';
import type { TelemetryFrame } from '../contracts/telemetry.ts';
import { EcgStripRecorder } from '../processor/ecg-strips.ts';

const { values } = parseArgs({ options: { streams: { type: 'string', default: '1000' } } });
const n = Number(values.streams);
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with node --expose-gc');

const frame = (s: number): TelemetryFrame => ({
  seq: s, ts: 1_700_000_000_000 + s * 1000, durMs: 1000, hr: 70, battery: 80, leadOff: false,
  beats: ([{ off: 200, rr: 850, cls: 'N' }, { off: 850, rr: 850, cls: 'N' }] as TelemetryFrame['beats']).slice(0, 1 + (s % 2)),
  ecg: { fs: 250, uV: Array.from({ length: 250 }, (_, i) => Math.round(800 * Math.sin(i / 5))) },
});
gc();
const before = process.memoryUsage();
const recorders: EcgStripRecorder[] = [];
for (let i = 0; i < n; i++) {
  const r = new EcgStripRecorder(`p${i}`, `d${i}`);
  for (let s = 0; s < 120; s++) r.addFrame(frame(s));
  recorders.push(r);
}
gc();
const after = process.memoryUsage();
const perStream = (k: 'heapUsed' | 'arrayBuffers') => (after[k] - before[k]) / n;
console.log(`${n} ECG streams, 250 Hz, ring ${recorders[0]!.heldFrames} frames:`);
console.log(`  heap per stream ${(perStream('heapUsed') / 1024).toFixed(1)} KiB (JS objects), array buffers per stream ${(perStream('arrayBuffers') / 1024).toFixed(1)} KiB, total ${((perStream('heapUsed') + perStream('arrayBuffers')) / 1024).toFixed(1)} KiB`);
