/**
 * The lifecycle through the running processor on the in-process bus, with a manual wall clock:
 * escalation timing, acknowledgements read back from the alerts stream, signal loss, lead-off
 * gating and low battery. No real waits: the clock moves only when the test moves it.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Alert } from '../../contracts/alert.ts';
import { AlertProjection } from '../../dashboard-api/alert-projection.ts';
import { InProcessBus } from '../../platform/bus/index.ts';
import { silentLogger } from '../../platform/log.ts';
import { beats, frames, iso, processorSnapshots, startHarness, T0, until, type Harness } from './helpers.ts';

let h: Harness | undefined;
afterEach(async () => {
  await h?.stop();
  h = undefined;
});

const of = (bus: InProcessBus, kind: string) => processorSnapshots(bus).filter((a) => a.kind === kind);
const ack = (a: Alert, by: string, atMs: number): Alert => ({ ...a, state: 'acknowledged', acknowledgedBy: by, acknowledgedAt: iso(atMs), revision: a.revision + 1, updatedAt: iso(atMs) });

describe('processor lifecycle with a controllable clock', () => {
  it('escalates an unacknowledged extreme_brady after 60 s of wall clock and not again once a clinician acknowledged it', async () => {
    const bus = new InProcessBus();
    h = await startHarness({ bus });
    const wall0 = h.clock.now();
    // 20 s normal, then 20 beats at 35 bpm (still going when the frames stop).
    await h.send(frames(beats(T0, [{ rrMs: 800, count: 25 }, { rrMs: 1700, count: 20 }]), 54_000));
    const [onset] = of(bus, 'extreme_brady');
    expect(onset).toMatchObject({ state: 'active', detectedAt: iso(wall0), revision: 1 });
    expect(onset!.escalationLevel).toBeUndefined();

    await h.advance(59_000);
    expect(of(bus, 'extreme_brady').filter((a) => a.escalationLevel !== undefined)).toEqual([]);
    await h.advance(1_000);
    const escalated = of(bus, 'extreme_brady').filter((a) => a.escalationLevel !== undefined);
    expect(escalated.map((a) => [a.id, a.state, a.escalationLevel, a.escalatedAt])).toEqual([[onset!.id, 'active', 1, iso(wall0 + 60_000)]]);

    await h.clinician(ack(escalated[0]!, 'dr-care', wall0 + 70_000));
    await h.advance(200_000);
    expect(of(bus, 'extreme_brady').filter((a) => (a.escalationLevel ?? 0) > 1)).toEqual([]);
  });

  it('keeps escalating a latched (ended, unacknowledged) high-priority alert, and the dashboard shows it active with its end, then acknowledged', async () => {
    const bus = new InProcessBus();
    h = await startHarness({ bus });
    const wall0 = h.clock.now();
    const projection = new AlertProjection({ bus, logger: silentLogger });
    await projection.start();
    try {
      // A 12-beat extreme bradycardia run that ends, then 56 s of normal rhythm (the end is final
      // 30 s after the rate recovered, extreme-brady.ts, and confirmed 10 s later).
      await h.send(frames(beats(T0, [{ rrMs: 800, count: 25 }, { rrMs: 1700, count: 12 }, { rrMs: 800, count: 70 }]), 96_000));
      const ended = of(bus, 'extreme_brady').at(-1)!;
      expect(ended.end).toBeDefined();
      await until('the dashboard to fold the end', () => projection.get(ended.id)?.end !== undefined);
      expect(projection.get(ended.id)).toMatchObject({ state: 'active', end: ended.end });

      await h.advance(60_000);
      const level1 = of(bus, 'extreme_brady').at(-1)!;
      expect(level1).toMatchObject({ id: ended.id, state: 'active', end: ended.end, escalationLevel: 1, escalatedAt: iso(wall0 + 60_000) });

      await h.clinician(ack(level1, 'dr-care', wall0 + 61_000));
      await until('the dashboard to fold the acknowledgement', () => projection.get(ended.id)?.state === 'acknowledged');
      expect(projection.get(ended.id)).toMatchObject({ state: 'acknowledged', acknowledgedBy: 'dr-care', end: ended.end, escalationLevel: 1 });
      const before = of(bus, 'extreme_brady').length;
      await h.advance(200_000);
      expect(of(bus, 'extreme_brady').length).toBe(before);
    } finally {
      await projection.stop();
    }
  });

  it('raises signal_loss when a streaming device is silent for 10 s (onset = end of its last frame) and ends it when frames come back', async () => {
    const bus = new InProcessBus();
    h = await startHarness({ bus });
    const normal = beats(T0, [{ rrMs: 800, count: 100 }]);
    await h.send(frames(normal, 20_000));
    await h.advance(9_000);
    expect(of(bus, 'signal_loss')).toEqual([]);
    await h.advance(1_000);
    const [loss] = of(bus, 'signal_loss');
    expect(loss).toMatchObject({ kind: 'signal_loss', category: 'technical', priority: 'low', state: 'active', onset: iso(T0 + 20_000) });
    expect(loss!.evidence.thresholds).toEqual({ silenceMs: 10_000 });

    // Device time 40 s on: the device is back.
    await h.send(frames(normal, 50_000).filter((f) => f.ts >= T0 + 40_000));
    const all = of(bus, 'signal_loss');
    expect(all.map((a) => [a.id, a.state, a.end, a.resolvedBy])).toEqual([
      [loss!.id, 'active', undefined, undefined],
      [loss!.id, 'resolved', iso(T0 + 40_000), 'pulsebridge-processor'],
    ]);
  });

  it('raises lead_off instead of any physiological alarm for 15 s of electrodes off', async () => {
    const bus = new InProcessBus();
    h = await startHarness({ bus });
    const normal = beats(T0, [{ rrMs: 800, count: 60 }]);
    await h.send(frames(normal, 45_000, { leadOff: [{ startMs: T0 + 5_000, endMs: T0 + 20_000 }] }));
    const snapshots = processorSnapshots(bus);
    expect([...new Set(snapshots.map((a) => a.kind))]).toEqual(['lead_off']);
    expect(snapshots.at(-1)).toMatchObject({ kind: 'lead_off', priority: 'low', onset: iso(T0 + 5_000), end: iso(T0 + 20_000), state: 'resolved' });
  });

  it('raises low_battery at the first frame under 15 % and ends it at the first at 20 % or more', async () => {
    const bus = new InProcessBus();
    h = await startHarness({ bus });
    const level = (tMs: number) => (tMs < T0 + 10_000 ? 16 : tMs < T0 + 30_000 ? 14 : 25);
    await h.send(frames(beats(T0, [{ rrMs: 800, count: 60 }]), 45_000, { battery: level }));
    const battery = of(bus, 'low_battery');
    expect(battery[0]).toMatchObject({ onset: iso(T0 + 10_000), state: 'active', evidence: { batteryPct: 14 } });
    expect(battery.at(-1)).toMatchObject({ onset: iso(T0 + 10_000), end: iso(T0 + 30_000), state: 'resolved', evidence: { batteryPct: 25 } });
  });
});
