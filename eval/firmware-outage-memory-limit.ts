/**
 * The limit of the firmware beat-output failure fall-back (processor/ecg-beats.ts, EVALUATION.md
 * §5): the firmware's silence is handed back only within FIRMWARE_BEAT_MEMORY_MS (60 s) of its
 * last beat; past that the stream is taken for an ECG-only device and the P waves of a ventricular
 * standstill are derived beats. Synthetic, production path (StreamRuntime, default criteria, 1 s
 * frames): 75/min sinus, a 60 s standstill from 80 s (P waves 0.4 mV at 70/min, no QRS), the
 * firmware's beat output failed N s before it (and not reporting the last QRS); uninterrupted and
 * restarted at 75 s from a regular record. Prints the asystole alerts (revision@frame, end).
 * Run: node eval/firmware-outage-memory-limit.ts
 */
import { DEFAULT_CRITERIA_VERSION } from '../contracts/criteria.ts';
import { StreamRuntime } from '../processor/stream-runtime.ts';
import { parseStreamState } from '../processor/stream-state.ts';
import { standstillFrames } from './standstill-frames.ts';

const T0 = Date.parse('2026-03-01T00:00:00Z');
const OPTIONS = { patientId: 'p1', deviceId: 'd1', criteriaAt: () => DEFAULT_CRITERIA_VERSION, ecgStrips: false as const };
const STANDSTILL_S = 80;
const STANDSTILL_MS = 60_000;
const DURATION_MS = 160_000;
const RESTART_AFTER = STANDSTILL_S - 5;

const frames = (failedBeforeMs: number) => standstillFrames({ t0Ms: T0, fromMs: T0 + STANDSTILL_S * 1000, untilMs: T0 + STANDSTILL_S * 1000 + STANDSTILL_MS, durationMs: DURATION_MS, failedBeforeMs });

for (const failedBeforeMs of [20_000, 40_000, 50_000, 52_000, 54_000, 56_000, 58_000, 60_000]) {
  for (const restart of [false, true]) {
    let rt = new StreamRuntime(OPTIONS);
    const alerts: string[] = [];
    let lastFirmwareMs = -Infinity;
    for (const [i, f] of frames(failedBeforeMs).entries()) {
      if (f.beats.length > 0) lastFirmwareMs = f.ts + f.beats.at(-1)!.off;
      for (const a of rt.ingest(f, new Date(f.ts + f.durMs).toISOString()).alerts) {
        if (a.kind === 'asystole') alerts.push(`${a.revision}@${i}${a.end ? ` end ${(Date.parse(a.end) - T0) / 1000} s` : ''}`);
      }
      if (restart && i === RESTART_AFTER) rt = StreamRuntime.restore(OPTIONS, parseStreamState(JSON.parse(JSON.stringify(rt.record('a', 0))))!);
    }
    console.log(`failed ${failedBeforeMs / 1000} s before (last firmware beat ${(lastFirmwareMs - T0) / 1000} s; standstill ${STANDSTILL_S}–${STANDSTILL_S + STANDSTILL_MS / 1000} s)${restart ? `, restarted after frame ${RESTART_AFTER}` : ''}: ${alerts.join(', ') || 'no asystole'}`);
  }
}
