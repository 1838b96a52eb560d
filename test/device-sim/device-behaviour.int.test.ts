/**
 * Simulated devices' behaviour beyond telemetry, against a real MQTT broker: scheduled network
 * drops with resend, scheduled reboots (seq restarts, device time runs on), and device clocks
 * with an offset and a drift (frames in device time, ground truth in true time).
 */
import { describe, expect, it } from 'vitest';
import type { TelemetryFrame } from '../../contracts/telemetry.ts';
import { DeviceClock } from '../../device-sim/device-clock.ts';
import { runSim } from '../../device-sim/run-sim.ts';
import { clinicalBasicsScenario } from '../../device-sim/scenario.ts';
import { startLocalBroker, type LocalBroker } from './helpers/local-broker.ts';

const T0 = 1_764_064_800_000;
const framesOf = (b: LocalBroker, list: 'telemetry' | 'telemetrySeen' = 'telemetry') => b[list].map((m) => JSON.parse(m.payload.toString()) as TelemetryFrame);
/** Consecutive repeats removed (the status is republished with the battery now and then). */
const compress = <T>(xs: T[]) => xs.filter((x, i) => i === 0 || x !== xs[i - 1]);
const onlineOf = (b: LocalBroker) => b.statuses.map((s) => (JSON.parse(s.payload.toString()) as { online: boolean; fw?: string }));

describe('simulated device behaviour', () => {
  it('drops its connection every 10 s of device time and stays down for 2 s; frames sent meanwhile are resent and every frame arrives once acknowledged', async () => {
    const broker = await startLocalBroker();
    const connects: number[] = [];
    broker.broker.on('client', () => connects.push(Date.now()));
    try {
      const handedOver: number[] = [];
      const summary = await runSim({
        devices: ['d1'], durationMs: 40_000, speed: 20, t0Ms: T0, ecgFsHz: null, seed: 1, connect: { url: broker.url, reconnectPeriodMs: 20 },
        disconnects: { everyMs: 10_000, downMs: 2000 },
        onFrame: (_id, f) => handedOver.push(f.seq),
      });
      expect(handedOver).toEqual(Array.from({ length: 40 }, (_, i) => i));
      expect([...new Set(framesOf(broker).map((f) => f.seq))].sort((a, b) => a - b)).toEqual(Array.from({ length: 40 }, (_, i) => i));
      expect(summary.deviceEvents.map((e) => [e.kind, e.atMs - T0, e.downMs])).toEqual([
        ['disconnect', 10_000, 2000], ['disconnect', 20_000, 2000], ['disconnect', 30_000, 2000], ['disconnect', 40_000, 2000],
      ]);
      expect([summary.framesSent, summary.framesAcked]).toEqual([40, 40]);
      // the first connection and one per drop (the last drop, at the very end, reconnects before the final flush)
      expect(connects.length).toBe(5);
      // online, then the Last Will of each drop and online again after each reconnect
      expect(compress(onlineOf(broker).map((s) => s.online)).slice(0, 8)).toEqual([true, false, true, false, true, false, true, false]);
    } finally {
      await broker.close();
    }
  });

  it('reboots every 15 s of device time: offline, off for 3 s (nothing recorded), back online with seq from 0 and its clock running on', async () => {
    const broker = await startLocalBroker();
    try {
      const summary = await runSim({
        devices: ['d1'], durationMs: 40_000, speed: 'max', t0Ms: T0, ecgFsHz: null, seed: 1, connect: { url: broker.url },
        reboots: { everyMs: 15_000, downMs: 3000 },
      });
      const frames = framesOf(broker);
      const at = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);
      expect(frames.map((f) => [f.seq, (f.ts - T0) / 1000])).toEqual([
        ...at(0, 15).map((s) => [s, s]),
        ...at(18, 30).map((s) => [s - 18, s]),
        ...at(33, 40).map((s) => [s - 33, s]),
      ]);
      expect(summary.deviceEvents.map((e) => [e.kind, e.atMs - T0, e.downMs, e.fw])).toEqual([['reboot', 15_000, 3000, '2.3.1-sim'], ['reboot', 30_000, 3000, '2.3.1-sim']]);
      expect(compress(onlineOf(broker).map((s) => s.online))).toEqual([true, false, true, false, true, false]);
    } finally {
      await broker.close();
    }
  });

  it('stamps frames with a device clock 2 s behind and 500 ppm fast; the ground truth stays in true time and records the clock', async () => {
    const broker = await startLocalBroker();
    try {
      const scenario = clinicalBasicsScenario({ normalMs: 20_000, bradyMs: 12_000, tachyMs: 12_000, asystoleMs: 5000, repeat: false });
      const durationMs = 60_000;
      const summary = await runSim({
        devices: ['slow', 'true'], scenario, durationMs, speed: 'max', t0Ms: T0, ecgFsHz: null, seed: 5, connect: { url: broker.url },
        clockOffsetMs: (id) => (id === 'slow' ? -2000 : 0), clockDriftPpm: (id) => (id === 'slow' ? 500 : 0),
      });
      expect(summary.deviceInfo).toEqual({ slow: { format: 'v1', clock: { offsetMs: -2000, driftPpm: 500 } }, true: { format: 'v1', clock: { offsetMs: 0, driftPpm: 0 } } });
      const clock = new DeviceClock(T0, { offsetMs: -2000, driftPpm: 500 });
      const frames = broker.telemetry.filter((m) => m.deviceId === 'slow').map((m) => JSON.parse(m.payload.toString()) as TelemetryFrame);
      // back to back in device time from the device's own start (device 0 has no phase shift)
      expect(frames.map((f) => f.ts)).toEqual(frames.map((_, i) => T0 - 2000 + i * 1000));
      // …until the device clock reaches the true end of the run: 60 s × 1.0005 + the offset
      expect(frames.at(-1)!.ts + 1000).toBeGreaterThanOrEqual(Math.ceil(clock.toDevice(T0 + durationMs)));
      // the brady episode's onset, seen in device time in the frames, is reported in true time
      const beats = frames.flatMap((f) => f.beats.map((b) => ({ tMs: f.ts + b.off, rr: b.rr })));
      const firstSlow = beats.find((b) => b.rr > 1500 && b.rr < 3000)!;
      const brady = summary.episodes.find((e) => e.deviceId === 'slow' && e.kind === 'extreme_brady')!;
      expect(brady.onsetMs).toBe(Math.round(clock.toTrue(firstSlow.tMs)));
      expect(brady.onsetMs - firstSlow.tMs).toBe(2000 - Math.round((firstSlow.tMs - (T0 - 2000)) * (1 - 1 / 1.0005)));
    } finally {
      await broker.close();
    }
  });
});
