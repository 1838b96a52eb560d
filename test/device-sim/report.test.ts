import { describe, expect, it } from 'vitest';
import type { AlertKind } from '../../contracts/alert.ts';
import type { GroundTruthEpisode } from '../../device-sim/ground-truth.ts';
import { buildSimReport, distribution, formatSimReport, unmonitoredPeriods, type ReportAlert } from '../../device-sim/report.ts';

const T0 = 1_764_064_800_000;
const END = T0 + 600_000;
/** Wall clock of the run: device time + 1 h (they differ in general). */
const WALL = 3_600_000;

function episode(kind: GroundTruthEpisode['kind'], onsetS: number, endS: number | null, extra: Partial<GroundTruthEpisode> = {}): GroundTruthEpisode {
  const onsetMs = T0 + onsetS * 1000;
  const alarm = kind === 'nsvt' ? null : (kind as AlertKind);
  return {
    deviceId: 'sim-0001', kind, onsetMs, endMs: endS === null ? null : T0 + endS * 1000, alarm,
    criterionMs: alarm ? onsetMs + 2000 : null, implied: [],
    onsetSentAtMs: onsetMs + WALL + 1000, criterionSentAtMs: alarm ? onsetMs + WALL + 3000 : null,
    detail: { scheduledStartMs: onsetMs },
    ...extra,
  };
}

let n = 0;
function alert(kind: AlertKind, onsetS: number, detectedAfterOnsetS: number, extra: Partial<ReportAlert> = {}): ReportAlert {
  const onsetMs = T0 + onsetS * 1000;
  return {
    id: `al-${++n}`, deviceId: 'sim-0001', patientId: 'patient-0001', kind, onset: new Date(onsetMs).toISOString(),
    detectedAt: new Date(onsetMs + WALL + detectedAfterOnsetS * 1000).toISOString(), ...extra,
  };
}

const report = (episodes: GroundTruthEpisode[], alerts: ReportAlert[], toleranceMs?: number) =>
  buildSimReport({ scenario: 'test', t0Ms: T0, endMs: END, devices: ['sim-0001', 'sim-0002'], episodes, alerts, ...(toleranceMs === undefined ? {} : { toleranceMs }) });

describe('simulation report', () => {
  it('counts an alert at the onset as detected, with onset error, latency from the onset frame and delay after the criterion', () => {
    const r = report([episode('extreme_brady', 100, 120)], [alert('extreme_brady', 100, 3.5, { end: new Date(T0 + 121_000).toISOString() })]);
    expect(r.matches.map(({ alert: a, onsetErrorMs, endErrorMs, latencyMs, afterCriterionMs }) => ({ id: a?.id, onsetErrorMs, endErrorMs, latencyMs, afterCriterionMs }))).toEqual([
      { id: expect.any(String), onsetErrorMs: 0, endErrorMs: 1000, latencyMs: 2500, afterCriterionMs: 500 },
    ]);
    expect([r.pass, r.totals.episodes, r.totals.episodesDetected, r.byKind.extreme_brady!.latencyMs]).toEqual([true, 1, 1, { n: 1, p50: 2500, p95: 2500, max: 2500 }]);
  });

  it('counts an expected alarm without an alert as missed, and an alert without an episode as false', () => {
    const r = report([episode('vt', 100, 103)], [alert('tachy', 300, 1)]);
    expect([r.pass, r.totals.missed, r.missed.map((m) => [m.kind, m.onsetMs - T0]), r.falseAlarms.map((a) => [a.kind, a.onsetMs - T0])]).toEqual([false, 1, [['vt', 100_000]], [['tachy', 300_000]]]);
    expect([r.byKind.vt!.missed, r.byKind.tachy!.false]).toEqual([1, 1]);
  });

  it('converts the alert onset and end (device clock readings) to true time before matching', () => {
    // The device's clock runs 60 s ahead and 500 ppm fast: the alert's times are its readings.
    const clock = { offsetMs: 60_000, driftPpm: 500 };
    const reading = (trueS: number) => new Date(T0 + 60_000 + trueS * 1000 * 1.0005).toISOString();
    const ahead = alert('extreme_brady', 0, 3.5, { onset: reading(100), end: reading(121) });
    const withClock = buildSimReport({ scenario: 'test', t0Ms: T0, endMs: END, devices: ['sim-0001'], episodes: [episode('extreme_brady', 100, 120)], alerts: [ahead], deviceClocks: { 'sim-0001': clock } });
    expect([withClock.pass, withClock.matches[0]!.onsetErrorMs, withClock.matches[0]!.endErrorMs]).toEqual([true, 0, 1000]);
    const without = report([episode('extreme_brady', 100, 120)], [ahead]);
    expect([without.pass, without.totals.missed, without.totals.falsePhysiological]).toEqual([false, 1, 1]);
  });

  it('matches within ±tolerance of the onset or inside the episode, and not beyond', () => {
    const inside = report([episode('afib', 100, 280)], [alert('afib', 140, 200)]);
    expect([inside.totals.episodesDetected, inside.matches[0]!.onsetErrorMs]).toEqual([1, 40_000]);
    const early = report([episode('pause', 100, 103.4)], [alert('pause', 95, 1)]);
    expect(early.totals.episodesDetected).toBe(1);
    const tooEarly = report([episode('pause', 100, 103.4)], [alert('pause', 94.999, 1)]);
    expect([tooEarly.totals.missed, tooEarly.totals.falsePhysiological]).toEqual([1, 1]);
    const tight = report([episode('pause', 100, 103.4)], [alert('pause', 99, 1)], 500);
    expect([tight.totals.missed, tight.totals.falsePhysiological]).toEqual([1, 1]);
  });

  it('expects the implied alarms too: the pause of an asystole is neither false nor missing', () => {
    const asystole = episode('asystole', 100, 106, {
      implied: [{ kind: 'pause', onsetMs: T0 + 100_000, criterionMs: T0 + 103_000, onsetSentAtMs: T0 + WALL + 101_000, criterionSentAtMs: T0 + WALL + 103_000 }],
    });
    const both = report([asystole], [alert('asystole', 100, 4.2), alert('pause', 100, 3.1)]);
    expect([both.pass, both.totals.implied, both.totals.impliedDetected, both.byKind.pause!.afterCriterionMs.p50]).toEqual([true, 1, 1, 100]);
    const onlyAsystole = report([asystole], [alert('asystole', 100, 4.2)]);
    expect([onlyAsystole.pass, onlyAsystole.missed.map((m) => [m.kind, m.role])]).toEqual([false, [['pause', 'implied']]]);
  });

  it('counts a second alert for the same episode as a duplicate, not as false', () => {
    const r = report([episode('tachy', 100, 130)], [alert('tachy', 100, 2), alert('tachy', 115, 2)]);
    expect([r.totals.episodesDetected, r.totals.duplicates, r.totals.falsePhysiological, r.duplicates[0]!.onsetMs - T0]).toEqual([1, 1, 0, 115_000]);
    // It does not fail the run, but the printed result says that an episode was raised twice.
    expect(r.pass).toBe(true);
    expect(formatSimReport(r).split('\n').slice(-2)).toEqual([
      'Result: PASS (every scored episode detected, no false physiological alarm)',
      'Note: 1 duplicate alert(s): an episode was raised more than once (a split alarm; listed under "duplicates" in the JSON report)',
    ]);
  });

  it('matches the alert closest in onset when several are in the window', () => {
    const r = report([episode('brady', 100, 140)], [alert('brady', 103, 2), alert('brady', 100.5, 2)]);
    expect([r.matches[0]!.onsetErrorMs, r.duplicates.map((d) => d.onsetMs - T0)]).toEqual([500, [103_000]]);
  });

  it('calls an alarm on a distractor (an NSVT run) false, and says so', () => {
    const r = report([episode('nsvt', 200, 202)], [alert('vt', 200, 1)]);
    expect([r.pass, r.totals.distractors, r.totals.distractorAlarms, r.falseAlarms.map((a) => a.onDistractor)]).toEqual([false, 1, 1, ['nsvt']]);
    expect(report([episode('nsvt', 200, 202)], []).pass).toBe(true);
  });

  it('lists technical alerts without an episode as unmatched, not as false physiological alarms', () => {
    const r = report([], [alert('lead_off', 50, 10), alert('signal_loss', 70, 10)]);
    expect([r.pass, r.totals.falsePhysiological, r.unmatchedTechnical.map((a) => a.kind)]).toEqual([true, 0, ['lead_off', 'signal_loss']]);
  });

  it('does not score episodes cut off by the end of the run or whose criterion was not met, nor call their alerts false', () => {
    const cut = episode('afib', 500, null);
    const tooShort = episode('signal_loss', 300, 320, { criterionMs: null, criterionSentAtMs: null });
    // an alert 40 s into the episode still running at the end of the run matches it
    const r = report([cut, tooShort], [alert('afib', 540, 60)]);
    expect([r.pass, r.totals.episodes, r.totals.notScored, r.totals.falsePhysiological, r.byKind.afib!.notScored, r.byKind.signal_loss!.notScored]).toEqual([true, 0, 2, 0, 1, 1]);
    expect(r.matches.map((m) => [m.expected.kind, m.expected.notScoredReason, m.alert !== null])).toEqual([['signal_loss', 'criterion_not_met', false], ['afib', 'cut_off', true]]);
  });

  it('leaves out alerts of other devices and alerts with an onset outside the run', () => {
    const r = report([episode('pause', 100, 103)], [
      alert('pause', 100, 3),
      alert('pause', 100, 3, { deviceId: 'other' }),
      alert('signal_loss', 610, 10),
      alert('tachy', -60, 1),
    ]);
    expect([r.pass, r.totals.alertsConsidered, r.totals.alertsOutsideRun]).toEqual([true, 1, 2]);
  });

  it('gives nearest-rank percentiles', () => {
    expect(distribution([5, 1, 4, 2, 3])).toEqual({ n: 5, p50: 3, p95: 5, max: 5 });
    expect(distribution(Array.from({ length: 100 }, (_, i) => i + 1))).toEqual({ n: 100, p50: 50, p95: 95, max: 100 });
    expect(distribution([])).toEqual({ n: 0, p50: null, p95: null, max: null });
  });

  it('prints one line per kind and the totals', () => {
    const r = report([episode('extreme_brady', 100, 120), episode('vt', 200, 203)], [alert('extreme_brady', 100, 3.5), alert('tachy', 400, 1), alert('lead_off', 50, 10)]);
    expect(formatSimReport(r)).toBe([
      'Simulation report: scenario test, 2 devices, 10.0 min of device time, onset tolerance ±5 s',
      'kind           expected  detected  missed  not scored  false  unmatched  dup  |onset err| p50/p95/max  latency p50/p95/max  after criterion p50/p95/max',
      'extreme_brady         1         1       0           0      0               0          0ms / 0ms / 0ms   2.5s / 2.5s / 2.5s        500ms / 500ms / 500ms',
      'tachy                 0         0       0           0      1               0                        –                    –                            –',
      'vt                    1         0       1           0      0               0                        –                    –                            –',
      'lead_off              0         0       0           0                 1    0                        –                    –                            –',
      'Injected episodes detected: 1/2; implied alarms detected: 0/0; missed: 1; not scored (cut off, criterion not met, or device sending no rhythm): 0',
      'False physiological alarms: 1 (on distractors: 0 of 0 distractor episodes); unmatched technical alerts: 1; duplicates: 0',
      'Detection latency (detectedAt − onset frame sent) p50/p95/max: 2.5s / 2.5s / 2.5s; after the criterion was met: 500ms / 500ms / 500ms',
      'Result: FAIL',
    ].join('\n'));
  });

  it('an ECG-only device whose ECG a config command switched off sends no rhythm: alarms due then are not scored (not missed), the rest are', () => {
    const config = (atS: number, ecgFsHz: number | null, deviceId = 'sim-0001') => ({ deviceId, kind: 'config', atMs: T0 + atS * 1000, ok: true, settings: { frameMs: 1000, ecgFsHz } });
    const events = [config(100, null), config(200, 250), config(300, null, 'sim-0002'), config(400, null)];
    const periods = unmonitoredPeriods({ 'sim-0001': { ecgOnly: true }, 'sim-0002': {} }, events, END);
    // sim-0002 sends firmware beats: switching its ECG off does not stop the rhythm.
    expect(periods.map((p) => [p.deviceId, (p.fromMs - T0) / 1000, (p.toMs - T0) / 1000])).toEqual([['sim-0001', 100, 200], ['sim-0001', 400, 600]]);
    const r = buildSimReport({ scenario: 'test', t0Ms: T0, endMs: END, devices: ['sim-0001'], episodes: [episode('vt', 150, 160), episode('vt', 250, 260), episode('vt', 450, 460)], alerts: [alert('vt', 250, 3)], unmonitored: periods });
    expect([r.pass, r.totals.missed, r.totals.notScored, r.totals.episodesDetected]).toEqual([true, 0, 2, 1]);
    expect(r.matches.map((m) => m.expected.notScoredReason ?? 'scored')).toEqual(['not_monitored', 'scored', 'not_monitored']);
    // Without the periods the same run fails: two VTs the device never sent look missed.
    expect(buildSimReport({ scenario: 'test', t0Ms: T0, endMs: END, devices: ['sim-0001'], episodes: [episode('vt', 150, 160), episode('vt', 250, 260), episode('vt', 450, 460)], alerts: [alert('vt', 250, 3)] }).pass).toBe(false);
  });
});
