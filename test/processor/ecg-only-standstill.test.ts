/**
 * A ventricular standstill on an ECG-only device (issue 12 session 38): the QRS complexes stop, the
 * P waves (here 0.25 mV against a 1.1 mV QRS, 70/min) go on. The QRS detector's thresholds decay
 * after the last QRS until it finds those P waves; they read as beats, and the asystole was never
 * raised (a 3 s pause instead). The labeller now drops such complexes once no QRS has come for 3 s
 * (qrs-morphology.ts, the ventricular-standstill rule), and a processor restarted inside the open
 * asystole tells its first QRS detector where the last QRS was (ecg-beats.ts rememberNoQrsSince).
 */
import { describe, expect, it } from 'vitest';
import { DEFAULT_CRITERIA_VERSION } from '../../contracts/criteria.ts';
import type { Alert } from '../../contracts/alert.ts';
import { StreamRuntime } from '../../processor/stream-runtime.ts';
import { parseStreamState } from '../../processor/stream-state.ts';
import { standstillFrames } from '../../eval/standstill-frames.ts';

const T0 = Date.parse('2026-03-01T00:00:00Z');
const OPTIONS = { patientId: 'p1', deviceId: 'd1', criteriaAt: () => DEFAULT_CRITERIA_VERSION, ecgStrips: false as const };
/** Standstill from 80 s to 140 s of the stream (frame i covers i…i+1 s); the last QRS at 79.2 s. */
const frames = standstillFrames({ t0Ms: T0, fromMs: T0 + 80_000, untilMs: T0 + 140_000, durationMs: 160_000, failedBeforeMs: Infinity, pWaveUv: 250, pWavesPerMin: 70 });
const seconds = (ms: number) => (ms - T0) / 1000;

function run(restartAfter = -1): { alerts: Alert[]; beatsAfterRestart: number[] } {
  let rt = new StreamRuntime(OPTIONS);
  const alerts: Alert[] = [];
  const beatsAfterRestart: number[] = [];
  for (const [i, f] of frames.entries()) {
    const r = rt.ingest(f, new Date(f.ts + f.durMs).toISOString());
    alerts.push(...r.alerts.filter((a) => a.kind === 'asystole' || a.kind === 'pause'));
    if (restartAfter >= 0 && i > restartAfter) for (const d of r.ecgBeatFrames ?? []) beatsAfterRestart.push(...d.beats.map((b) => seconds(d.ts + b.off)));
    if (i === restartAfter) rt = StreamRuntime.restore(OPTIONS, parseStreamState(JSON.parse(JSON.stringify(rt.record('a', 0))))!);
  }
  return { alerts, beatsAfterRestart };
}

describe('ventricular standstill with P waves on an ECG-only device', () => {
  it('raises the asystole from the last QRS and keeps it open until the QRS complexes return (before: a 3 s pause only)', () => {
    const { alerts } = run();
    const raised = alerts.filter((a) => a.kind === 'asystole' && a.revision === 1);
    expect(raised).toHaveLength(1);
    expect(seconds(Date.parse(raised[0]!.onset))).toBeCloseTo(79.2, 1);
    const ended = alerts.filter((a) => a.kind === 'asystole' && a.end);
    expect(ended).toHaveLength(1);
    expect(seconds(Date.parse(ended[0]!.end!))).toBeGreaterThanOrEqual(140);
    expect(alerts.filter((a) => a.kind === 'pause')).toEqual([]);
  });

  it.each([84, 90, 120])('a processor restarted after frame %i, inside the open asystole, hands out no P wave as a beat: the alarm stays open to the QRS', (at) => {
    const { alerts, beatsAfterRestart } = run(at);
    // (Without the hint the successor's detector handed out the P waves of its first 3 s.)
    expect(beatsAfterRestart.filter((t) => t < 140)).toEqual([]);
    expect(beatsAfterRestart.filter((t) => t >= 140).length).toBeGreaterThan(10);
    const ended = alerts.filter((a) => a.kind === 'asystole' && a.end);
    expect(ended).toHaveLength(1);
    expect(seconds(Date.parse(ended[0]!.onset))).toBeCloseTo(79.2, 1);
    expect(seconds(Date.parse(ended[0]!.end!))).toBeGreaterThanOrEqual(140);
  });
});
