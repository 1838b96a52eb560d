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
const framesAt = (pWavesPerMin: number) => standstillFrames({ t0Ms: T0, fromMs: T0 + 80_000, untilMs: T0 + 140_000, durationMs: 160_000, failedBeforeMs: Infinity, pWaveUv: 250, pWavesPerMin });
const frames = framesAt(70);
const seconds = (ms: number) => (ms - T0) / 1000;

/** Restarted after frame `restartAfter` (−1: never) from the regular record, or with `handover` from a hand-over's. */
function run(restartAfter = -1, input = frames, handover = false): { alerts: Alert[]; beatsAfterRestart: number[] } {
  let rt = new StreamRuntime(OPTIONS);
  const alerts: Alert[] = [];
  const beatsAfterRestart: number[] = [];
  for (const [i, f] of input.entries()) {
    const r = rt.ingest(f, new Date(f.ts + f.durMs).toISOString());
    alerts.push(...r.alerts.filter((a) => a.kind === 'asystole' || a.kind === 'pause'));
    if (i > restartAfter) for (const d of r.ecgBeatFrames ?? []) beatsAfterRestart.push(...d.beats.map((b) => seconds(d.ts + b.off)));
    if (i === restartAfter) rt = StreamRuntime.restore(OPTIONS, parseStreamState(JSON.parse(JSON.stringify(rt.record('a', 0, { handover }))))!);
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

  // (137 at 70/min and 133 at 90/min: the successor's ECG starts on a P wave, a complex cut by the
  // start of its input. It was a `Q` beat that ended the asystole and restarted the labeller's
  // clock, then the next P waves were beats; at 90/min the interval from it to the next P wave,
  // measured from where the cut complex seemed to peak, read as a VT rate.)
  it.each([[70, 84], [70, 90], [70, 120], [70, 137], [90, 133]])('P waves at %i/min, a processor restarted after frame %i, inside the open asystole, hands out no P wave as a beat: the alarm stays open to the QRS', (perMin, at) => {
    const { alerts, beatsAfterRestart } = run(at, perMin === 70 ? frames : framesAt(perMin));
    // (Without the hint the successor's detector handed out the P waves of its first 3 s.)
    expect(beatsAfterRestart.filter((t) => t < 140)).toEqual([]);
    expect(beatsAfterRestart.filter((t) => t >= 140).length).toBeGreaterThan(10);
    const ended = alerts.filter((a) => a.kind === 'asystole' && a.end);
    expect(ended).toHaveLength(1);
    expect(seconds(Date.parse(ended[0]!.onset))).toBeCloseTo(79.2, 1);
    expect(seconds(Date.parse(ended[0]!.end!))).toBeGreaterThanOrEqual(140);
  });

  it('after a hand-over inside the open asystole and a lost frame later in the standstill, the successor hands out the same beats as the stopped processor would have: the restart hint was for the detector it restored, not for the one after the hole', () => {
    const holed = frames.filter((f) => f.ts !== T0 + 110_000);
    const uninterrupted = run(-1, holed);
    const handedOver = run(100, holed, true);
    // (After the hole a detector starts afresh, its labeller's clock at its start: 3 s of P waves are beats there.)
    expect(uninterrupted.beatsAfterRestart.filter((t) => t > 100 && t < 140).length).toBeGreaterThan(0);
    expect(handedOver.beatsAfterRestart).toEqual(uninterrupted.beatsAfterRestart.filter((t) => t > 100));
    expect(handedOver.alerts.filter((a) => a.end).map((a) => [a.kind, a.end])).toEqual(uninterrupted.alerts.filter((a) => a.end).map((a) => [a.kind, a.end]));
  });
});
