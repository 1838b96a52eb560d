/**
 * A ventricular standstill on an ECG-only device (issue 12, EVALUATION.md §5): do the P waves that
 * go on without QRS complexes keep the asystole from being raised? Synthetic, production path
 * (StreamRuntime, default criteria, 1 s frames of 250 Hz ECG, no firmware beats): 75/min sinus
 * (QRS 1.1 mV), a 60 s standstill from 80 s with P waves of each amplitude and rate, sinus again.
 * Prints, per setting, the frame (s) the asystole is raised at and its end (device time, s; the
 * standstill ends at 140 s), or what was raised instead; then the same at 250 and 300 µV,
 * 70/min and 300 µV, 90/min with the processor restarted from its changelog record after every frame N from
 * 70 to 139; last, a 6 min standstill (how long the asystole holds before the P waves, which
 * still teach the labeller's templates, become its dominant beat).
 * Run: node eval/standstill-p-waves.ts
 */
import type { Alert } from '../contracts/alert.ts';
import { DEFAULT_CRITERIA_VERSION } from '../contracts/criteria.ts';
import type { TelemetryFrame } from '../contracts/telemetry.ts';
import { StreamRuntime } from '../processor/stream-runtime.ts';
import { parseStreamState } from '../processor/stream-state.ts';
import { standstillFrames } from './standstill-frames.ts';

const T0 = Date.parse('2026-03-01T00:00:00Z');
const OPTIONS = { patientId: 'p1', deviceId: 'd1', criteriaAt: () => DEFAULT_CRITERIA_VERSION, ecgStrips: false as const };
const FROM_S = 80;
const UNTIL_S = 140;

const framesOf = (pWaveUv: number, pWavesPerMin: number, untilS = UNTIL_S) => standstillFrames({ t0Ms: T0, fromMs: T0 + FROM_S * 1000, untilMs: T0 + untilS * 1000, durationMs: (untilS + 20) * 1000, failedBeforeMs: Infinity, pWaveUv, pWavesPerMin });

/** The physiological alerts of the standstill's frames, restarted after frame `restartAfter` (−1: never). */
function run(frames: TelemetryFrame[], restartAfter = -1): string {
  let rt = new StreamRuntime(OPTIONS);
  const alerts: Alert[] = [];
  for (const [i, f] of frames.entries()) {
    for (const a of rt.ingest(f, new Date(f.ts + f.durMs).toISOString()).alerts) if (a.kind === 'asystole' || a.kind === 'pause') alerts.push(a);
    if (i === restartAfter) rt = StreamRuntime.restore(OPTIONS, parseStreamState(JSON.parse(JSON.stringify(rt.record('a', 0))))!);
  }
  const s = (iso: string) => ((Date.parse(iso) - T0) / 1000).toFixed(1);
  const asystoles = alerts.filter((a) => a.kind === 'asystole' && a.revision === 1);
  if (asystoles.length === 0) return alerts.filter((a) => a.end).map((a) => `${a.kind} ${s(a.onset)}–${s(a.end!)} only`).join(', ') || 'nothing';
  return asystoles.map((first) => {
    const end = alerts.find((a) => a.kind === 'asystole' && a.onset === first.onset && a.end)?.end;
    return `asystole ${s(first.onset)}–${end ? s(end) : 'open'}`;
  }).join(', ');
}

console.log(`ECG-only device, 60 s ventricular standstill ${FROM_S}–${UNTIL_S} s (QRS 1.1 mV): the asystole (onset–end, device s)`);
for (const perMin of [50, 70, 90]) {
  for (const uV of [100, 150, 200, 250, 300, 350, 400]) console.log(`  P waves ${uV} µV at ${perMin}/min: ${run(framesOf(uV, perMin))}`);
}
for (const [uV, perMin] of [[250, 70], [300, 70], [300, 90]] as const) {
  console.log(`P waves ${uV} µV at ${perMin}/min, the processor restarted from its record after frame N = 70 … 139 (frame i covers i…i+1 s; runs of N with the same result in one line):`);
  const frames = framesOf(uV, perMin);
  let from = 70;
  let last = run(frames, 70);
  for (let at = 71; at <= 140; at++) {
    const result = at <= 139 ? run(frames, at) : '';
    if (result === last) continue;
    console.log(`  N = ${from === at - 1 ? from : `${from}–${at - 1}`}: ${last}`);
    from = at;
    last = result;
  }
}
// A long standstill: the dropped P waves still teach the labeller's templates (so that a QRS that
// changed shape is learned again, qrs-morphology.ts), and after ≈ 140 of them they are its dominant beat.
const LONG_UNTIL_S = FROM_S + 360;
console.log(`A 6 min standstill ${FROM_S}–${LONG_UNTIL_S} s: the asystole (onset–end, device s)`);
for (const perMin of [50, 70, 90]) for (const uV of [150, 250, 300]) console.log(`  P waves ${uV} µV at ${perMin}/min: ${run(framesOf(uV, perMin, LONG_UNTIL_S))}`);
