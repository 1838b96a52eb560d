import { describe, expect, it } from 'vitest';
import type { AlertKind } from '../../contracts/alert.ts';
import { buildSimReport } from '../../device-sim/report.ts';
import { simDeviceIds } from '../../device-sim/run-sim.ts';
import { allAlarmsScenario } from '../../device-sim/scenario.ts';
import { evaluationDetectors } from '../../eval/detector-set.ts';
import { runOffline } from './helpers/offline-run.ts';

const T0 = 1_764_064_800_000;
const THRESHOLD_KINDS: AlertKind[] = ['asystole', 'pause', 'extreme_brady', 'brady', 'extreme_tachy', 'tachy', 'vt'];

describe('all-alarms scenario through the production detectors (no MQTT)', () => {
  it('has every threshold-alarm episode detected at its ground-truth onset, and raises no false physiological alarm, not even on the NSVT distractors', () => {
    const scenario = allAlarmsScenario();
    const devices = simDeviceIds(24);
    // A cycle and then some: a brady episode stays open through the off-delay (2 min of recovered
    // beats, which the extreme brady, the asystole and the lead-off of its cycle restart).
    const durationMs = scenario.cycleMs! + 420_000;
    const run = runOffline({ scenario, devices, t0Ms: T0, durationMs, seed: 'all-alarms', staggerMs: Math.floor(scenario.cycleMs! / devices.length), detectors: () => evaluationDetectors() });
    const report = buildSimReport({ scenario: scenario.name, t0Ms: T0, endMs: T0 + durationMs, devices, episodes: run.episodes, alerts: run.alerts });

    const threshold = report.matches.filter((m) => THRESHOLD_KINDS.includes(m.expected.kind) && m.expected.scored);
    // every device went through every threshold kind at least once (brady and tachy past their 30 s sudden-onset delay)
    expect(new Set(threshold.map((m) => `${m.expected.deviceId}/${m.expected.kind}`)).size).toBe(devices.length * THRESHOLD_KINDS.length);
    expect(threshold.filter((m) => !m.alert || m.onsetErrorMs !== 0).map((m) => [m.expected.deviceId, m.expected.kind, m.onsetErrorMs])).toEqual([]);
    expect({ falseAlarms: report.falseAlarms, duplicates: report.duplicates, distractors: report.totals.distractors > devices.length - 2 }).toEqual({ falseAlarms: [], duplicates: [], distractors: true });
    // AF: any alert raised lies on an AF episode (not all are alarmed: the detector may need longer than the episode, see allAlarmsScenario)
    expect(run.alerts.filter((a) => a.kind === 'afib').length).toBe(report.byKind.afib!.detected + report.matches.filter((m) => m.expected.kind === 'afib' && !m.expected.scored && m.alert).length);
  });
});
