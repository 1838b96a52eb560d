/**
 * AF latches until a clinician has reviewed (acknowledged) it, without escalating
 * (alarm-lifecycle.ts `latchingKinds`): a self-terminated paroxysm used to be resolved by the
 * processor at its end and left the board unseen (a cardiologist streaming afdb records: 4
 * episodes of 7–15 min in one record, 24 in 3.5 h in another). High-priority alarms still latch
 * and escalate; brady still ends on its own. The lifecycle directly, on device time, and through
 * the running processor as the dashboard's projection (what /v1/alerts lists) shows it.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Alert, AlertEvidence, AlertKind } from '../../contracts/alert.ts';
import { AlertProjection } from '../../dashboard-api/alert-projection.ts';
import { scenarioFromPhases } from '../../device-sim/scenario.ts';
import { alarmFacets } from '../../ehr-exporter/hl7-messages.ts';
import { lifecycleNotes } from '../../ehr-exporter/bundle.ts';
import { simDeviceFrames } from '../../eval/sim-device-replay.ts';
import { InProcessBus } from '../../platform/bus/index.ts';
import { silentLogger } from '../../platform/log.ts';
import { LIFECYCLE_DEFAULTS, StreamAlarms, SYSTEM_ACTOR } from '../../processor/alarm-lifecycle.ts';
import { iso, processorSnapshots, startHarness, T0, until, type Harness } from './helpers.ts';

const WALL = Date.parse('2026-11-25T12:00:00.000Z');
const evidence: AlertEvidence = { criterion: 'test', thresholds: {} };

/** One episode of `kind` from 10 s to `endS` s of device time, with the end confirmation passed; every snapshot published. */
function episode(alarms: StreamAlarms, kind: AlertKind, endS: number, during?: (open: Alert) => void): Alert[] {
  const out: Alert[] = [];
  out.push(...alarms.apply([{ type: 'onset', kind, onsetMs: T0 + 10_000, evidence }], T0 + 10_000, iso(WALL)));
  if (during) during(out[0]!);
  out.push(...alarms.advance(T0 + (endS - 1) * 1000, iso(WALL + 1000)));
  out.push(...alarms.apply([{ type: 'end', kind, onsetMs: T0 + 10_000, endMs: T0 + endS * 1000, evidence }], T0 + endS * 1000, iso(WALL + 2000)));
  out.push(...alarms.advance(T0 + endS * 1000 + LIFECYCLE_DEFAULTS.endConfirmMs[kind], iso(WALL + 3000)));
  return out;
}

describe('AF latches until reviewed, without escalating', () => {
  it('an AF nobody acknowledged stays active with its end set, is never escalated, and the EHR and HL7 read it as latched', () => {
    const alarms = new StreamAlarms('p1', 'd1');
    const out = episode(alarms, 'afib', 600);
    const last = out.at(-1)!;
    expect(last).toMatchObject({ kind: 'afib', priority: 'medium', state: 'active', end: iso(T0 + 600_000) });
    expect(last.resolvedBy).toBeUndefined();
    // Not an emergency: no escalation is due, now or hours later.
    expect(alarms.nextEscalationDueMs()).toBeUndefined();
    expect(alarms.escalate(WALL + 6 * 3_600_000)).toEqual([]);
    // Nothing left for the processor to do with it (it does not escalate): not tracked, not in the changelog.
    expect(alarms.trackedAlerts()).toEqual([]);
    expect(alarms.snapshot().latched).toEqual([]);
    expect(alarmFacets(last)).toEqual({ phase: 'end', state: 'latched' });
    expect(lifecycleNotes(last)).toEqual([]);
  });

  it('acknowledged after it ended: acknowledged, no longer latched; a later replay of the same episode opens nothing', () => {
    const alarms = new StreamAlarms('p1', 'd1');
    const last = episode(alarms, 'afib', 600).at(-1)!;
    const acked: Alert = { ...last, state: 'acknowledged', acknowledgedBy: 'dr-a', acknowledgedAt: iso(WALL + 60_000), revision: last.revision + 1, updatedAt: iso(WALL + 60_000) };
    expect(alarmFacets(acked)).toEqual({ phase: 'end', state: 'inactive', inactivation: 'alert-acknowledged' });
    expect(alarms.onClinician(acked)).toBe(false);
    expect(alarms.apply([{ type: 'onset', kind: 'afib', onsetMs: T0 + 10_000, evidence }], T0 + 700_000, iso(WALL + 70_000))).toEqual([]);
  });

  it('acknowledged while it lasted (reviewed): resolved by the processor at its end, as before, and the note says it ended on its own', () => {
    const alarms = new StreamAlarms('p1', 'd1');
    const out = episode(alarms, 'afib', 600, (open) => {
      alarms.onClinician({ ...open, state: 'acknowledged', acknowledgedBy: 'dr-a', acknowledgedAt: iso(WALL + 500), revision: 2, updatedAt: iso(WALL + 500) });
    });
    const last = out.at(-1)!;
    expect(last).toMatchObject({ kind: 'afib', state: 'resolved', resolvedBy: SYSTEM_ACTOR, acknowledgedBy: 'dr-a', end: iso(T0 + 600_000) });
    expect(lifecycleNotes(last).map((n) => n.text)).toEqual(['Pulsebridge: acknowledged by dr-a', `Pulsebridge: ended on its own at ${iso(T0 + 600_000)}`]);
  });

  it('a high-priority alarm still latches and escalates; a bradycardia still ends on its own, marked as not reviewed', () => {
    const high = new StreamAlarms('p1', 'd1');
    const ended = episode(high, 'extreme_brady', 60).at(-1)!;
    expect(ended).toMatchObject({ state: 'active', end: iso(T0 + 60_000) });
    expect(high.nextEscalationDueMs()).toBe(WALL + 60_000);
    expect(high.escalate(WALL + 60_000)).toMatchObject([{ id: ended.id, escalationLevel: 1 }]);
    expect(high.snapshot().latched.map((a) => a.id)).toEqual([ended.id]);

    const medium = new StreamAlarms('p1', 'd1');
    const brady = episode(medium, 'brady', 200).at(-1)!;
    expect(brady).toMatchObject({ state: 'resolved', resolvedBy: SYSTEM_ACTOR, end: iso(T0 + 200_000) });
    expect(alarmFacets(brady)).toEqual({ phase: 'end', state: 'inactive' });
    expect(lifecycleNotes(brady).map((n) => n.text)).toEqual([`Pulsebridge: ended on its own at ${iso(T0 + 200_000)} — not reviewed by a clinician`]);
  });

  it('the kinds are configuration: without latchingKinds AF is resolved at its end', () => {
    const alarms = new StreamAlarms('p1', 'd1', { ...LIFECYCLE_DEFAULTS, latchingKinds: new Set() });
    expect(episode(alarms, 'afib', 600).at(-1)).toMatchObject({ state: 'resolved', resolvedBy: SYSTEM_ACTOR });
  });
});

let h: Harness | undefined;
afterEach(async () => {
  await h?.stop();
  h = undefined;
});

describe('AF latched for review through the processor and the dashboard', () => {
  it('a simulated AF that ends stays on the dashboard as active with its end, never escalates, and leaves the latch when acknowledged', async () => {
    const bus = new InProcessBus();
    h = await startHarness({ bus });
    const wall0 = h.clock.now();
    const projection = new AlertProjection({ bus, logger: silentLogger });
    await projection.start();
    try {
      // The simulator's AF at 110/min for 60 s between sinus rhythm (handover.test.ts's scenario),
      // with 4 min of sinus rhythm after it: room for any off-delay of the AF detector.
      const scenario = scenarioFromPhases('3c', [{ kind: 'normal', durationMs: 30_000 }, { kind: 'afib', durationMs: 60_000, hrBpm: 110 }, { kind: 'normal', durationMs: 240_000 }]);
      const { frames } = await simDeviceFrames({ deviceId: 'd1', index: 0, runSeed: 'latch', staggerMs: 0, t0Ms: T0, devices: 1, scenario, speed: 2, durationMs: 330_000, ecgOnly: false, paced: false });
      await h.send(frames);
      const af = processorSnapshots(bus).filter((a) => a.kind === 'afib');
      expect(new Set(af.map((a) => a.id)).size).toBe(1);
      const ended = af.at(-1)!;
      expect(ended).toMatchObject({ state: 'active' });
      expect(ended.end).toBeDefined();
      await until('the dashboard to fold the end', () => projection.get(ended.id)?.end !== undefined);
      expect(projection.get(ended.id)).toMatchObject({ state: 'active', end: ended.end });
      expect(projection.query({ state: 'active' }).map((a) => a.id)).toContain(ended.id);

      await h.advance(600_000);
      expect(processorSnapshots(bus).filter((a) => a.kind === 'afib' && a.escalationLevel !== undefined)).toEqual([]);
      expect(projection.get(ended.id)).toMatchObject({ state: 'active', end: ended.end });

      await h.clinician({ ...ended, state: 'acknowledged', acknowledgedBy: 'dr-card', acknowledgedAt: iso(wall0 + 601_000), revision: ended.revision + 1, updatedAt: iso(wall0 + 601_000) });
      await until('the dashboard to fold the acknowledgement', () => projection.get(ended.id)?.state === 'acknowledged');
      expect(projection.get(ended.id)).toMatchObject({ state: 'acknowledged', acknowledgedBy: 'dr-card', end: ended.end });
    } finally {
      await projection.stop();
    }
  });
});
