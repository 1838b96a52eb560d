/**
 * Simulated devices against the real gateway (mutual TLS, the registry file, the in-process
 * bus): wire formats as the gateway decodes them, commands sent through the registry's command
 * store as the API and CLI do, device clocks as the gateway's clock skew sees them, and devices
 * the gateway refuses (disabled in the registry) while the others run on.
 */
import fs from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { TelemetryRecord } from '../../contracts/telemetry.ts';
import { STREAMS } from '../../contracts/topics.ts';
import { unmonitoredPeriods } from '../../device-sim/report.ts';
import { runSim, type RunSimOptions } from '../../device-sim/run-sim.ts';
import { createLogger } from '../../platform/log.ts';
import { InProcessBus } from '../../platform/bus/index.ts';
import type { DeviceCredentials } from '../../platform/security/index.ts';
import { DeviceRegistry } from '../../platform/registry/index.ts';
import { DEFAULT_CRITERIA_VERSION } from '../../contracts/criteria.ts';
import { FrameDeduplicator } from '../../processor/dedup.ts';
import { StreamRuntime } from '../../processor/stream-runtime.ts';
import { startLifecycleGateway, until, type LifecycleFixture } from '../gateway/lifecycle-fixture.ts';

let bus: InProcessBus;
let fx: LifecycleFixture;
/** The API's or CLI's own connection to the registry file. */
let api: DeviceRegistry;
beforeEach(async () => {
  bus = new InProcessBus();
  fx = await startLifecycleGateway(bus, { pollIntervalMs: 100 });
  api = new DeviceRegistry(fx.registryPath);
});
afterEach(async () => {
  api.close();
  await fx.close();
  await bus.close();
});

/** Registers the devices and returns runSim connection options with their certificates. */
function provision(ids: string[]): RunSimOptions['connect'] {
  const creds = new Map<string, DeviceCredentials>(ids.map((id, i) => [id, fx.addDevice(id, `pat-${i + 1}`)]));
  const first = creds.get(ids[0]!)!;
  return {
    url: `mqtts://localhost:${fx.port}`, ca: fs.readFileSync(first.ca),
    certFor: (id) => fs.readFileSync(creds.get(id)!.cert), keyFor: (id) => fs.readFileSync(creds.get(id)!.key),
  };
}

const records = (deviceId?: string) =>
  bus.read(STREAMS.telemetry).map((m) => JSON.parse(m.value.toString()) as TelemetryRecord).filter((r) => deviceId === undefined || r.deviceId === deviceId);

describe('simulated devices through the real gateway', () => {
  it('a mixed fleet arrives half as JSON v1 and half as binary v2, each device always in its own format', async () => {
    const ids = ['mix-1', 'mix-2', 'mix-3', 'mix-4'];
    const connect = provision(ids);
    const summary = await runSim({ devices: ids, durationMs: 10_000, speed: 'max', t0Ms: Date.now() - 60_000, seed: 7, format: 'mix', connect });
    const byDevice = Object.fromEntries(ids.map((id) => [id, [...new Set(records(id).map((r) => r.format))]]));
    const expected = Object.fromEntries(ids.map((id) => [id, [summary.deviceInfo[id]!.format === 'v2' ? 'binary-v2' : 'json-v1']]));
    expect(byDevice).toEqual(expected);
    expect(Object.values(byDevice).flat().sort()).toEqual(['binary-v2', 'binary-v2', 'json-v1', 'json-v1']);
    expect(records().length).toBe(summary.framesSent);
    expect(records().every((r) => r.frame.ecg?.uV.length === 250)).toBe(true);
  });

  it('obeys a config command (500 ms frames without ECG) and a firmware offer (download, ok, reboot into 2.4.0 with seq from 0), and the processor\'s dedup keeps every post-reboot frame', async () => {
    const id = 'cmd-1';
    const connect = provision([id]);
    const controller = new AbortController();
    const run = runSim({
      devices: [id], speed: 10, seed: 3, connect, signal: controller.signal, fwDownloadBytesPerSec: 100_000, rebootDownMs: 3000,
    });
    let configId = '';
    try {
      await until(() => records(id).length >= 5, 20_000, 'the first frames');
      const config = api.commands.create(id, { type: 'config', config: { frameMs: 500, ecg: false, fs: 250 } }, 'test');
      configId = config.id;
      await until(() => api.commands.get(config.id)?.state === 'ok', 20_000, 'the config result');
      await until(() => records(id).filter((r) => r.frame.durMs === 500).length >= 6, 20_000, 'frames of 500 ms');
      const offer = api.commands.create(id, { type: 'fw_offer', version: '2.4.0', url: 'https://fw.example/pb-2.4.0.bin', sha256: 'ab'.repeat(32), size: 20_000 }, 'test');
      await until(() => api.commands.get(offer.id)?.state === 'ok', 20_000, 'the fw_offer result');
      await until(() => fx.registry.liveness.get(id)?.fw === '2.4.0', 20_000, 'the new firmware in the liveness');
      await until(() => records(id).filter((r, i, all) => i > 0 && r.frame.seq < all[i - 1]!.frame.seq).length === 1 && records(id).at(-1)!.frame.seq >= 4, 20_000, 'frames after the reboot');
    } finally {
      controller.abort();
    }
    const summary = await run;
    expect(api.commands.get(configId)).toMatchObject({ state: 'ok', result: { ok: true } });
    expect(summary.deviceEvents.map((e) => [e.kind, e.ok, e.fw ?? e.settings ?? null])).toEqual([
      ['config', true, { frameMs: 500, ecgFsHz: null }], ['fw_offer', true, '2.4.0'], ['reboot', undefined, '2.4.0'],
    ]);

    const frames = records(id).map((r) => r.frame);
    const rebootAt = frames.findIndex((f, i) => i > 0 && f.seq < frames[i - 1]!.seq);
    const before = frames.slice(0, rebootAt);
    const after = frames.slice(rebootAt);
    // Before the reboot: seq 0, 1, 2, …, frames back to back, first 1000 ms with 250 Hz ECG, then 500 ms without.
    expect(before.map((f) => f.seq)).toEqual(before.map((_, i) => i));
    expect(before.slice(1).every((f, i) => f.ts === before[i]!.ts + before[i]!.durMs)).toBe(true);
    const switchAt = before.findIndex((f) => f.durMs === 500);
    expect(before.map((f) => [f.durMs, f.ecg?.uV.length ?? 0])).toEqual(before.map((_, i) => (i < switchAt ? [1000, 250] : [500, 0])));
    // The beats keep their device times across the change: every known RR is the distance to the previous beat.
    const beats = before.flatMap((f) => f.beats.map((b) => ({ tMs: f.ts + b.off, rr: b.rr })));
    expect(beats.slice(1).filter((b, i) => b.rr > 0 && b.rr !== b.tMs - beats[i]!.tMs)).toEqual([]);
    // After it: seq from 0 again, the device clock ran on through the 3 s the device was off.
    expect(after.map((f) => f.seq)).toEqual(after.map((_, i) => i));
    expect(after[0]!.ts).toBe(before.at(-1)!.ts + before.at(-1)!.durMs + 3000);
    expect(after.every((f) => f.durMs === 500)).toBe(true);
    // seq alone would call the post-reboot frames duplicates; (seq, ts) as the processor keys them does not.
    expect(after.some((f) => before.some((b) => b.seq === f.seq))).toBe(true);
    const dedup = new FrameDeduplicator();
    expect(frames.filter((f) => !dedup.firstSight(id, f.seq, f.ts))).toEqual([]);
    expect(fx.registry.liveness.get(id)).toMatchObject({ fw: '2.4.0', model: 'PB-Sim-1' });
  });

  it('an ECG-only device told to stop its ECG sends frames with neither ECG nor beats, which the processor reads as signal loss, not as an asystole', async () => {
    const id = 'ecg-only-1';
    const connect = provision([id]);
    const controller = new AbortController();
    const run = runSim({ devices: [id], speed: 10, seed: 5, connect, signal: controller.signal, ecgOnly: true });
    try {
      await until(() => records(id).length >= 20, 30_000, 'the first frames');
      const config = api.commands.create(id, { type: 'config', config: { frameMs: 1000, ecg: false, fs: 250 } }, 'test');
      await until(() => api.commands.get(config.id)?.state === 'ok', 20_000, 'the config result');
      await until(() => records(id).filter((r) => !r.frame.ecg).length >= 15, 30_000, '15 frames without ECG');
    } finally {
      controller.abort();
    }
    await run;
    const frames = records(id).map((r) => r.frame);
    const off = frames.findIndex((f) => !f.ecg);
    expect(off).toBeGreaterThanOrEqual(20);
    // A patch without beat detection: no beats with the ECG, and none without it either.
    expect(frames.every((f) => f.beats.length === 0 && f.hr === 0)).toBe(true);
    expect(frames.slice(off).every((f) => !f.ecg)).toBe(true);
    // The same frames through the processor's stream runtime.
    const rt = new StreamRuntime({ patientId: 'pat-1', deviceId: id, criteriaAt: () => DEFAULT_CRITERIA_VERSION, ecgStrips: false });
    const alerts = frames.flatMap((f) => rt.ingest(f, new Date(f.ts + f.durMs).toISOString()).alerts);
    expect(alerts.map((a) => [a.kind, a.revision, a.onset])).toEqual([['signal_loss', 1, new Date(frames[off]!.ts).toISOString()]]);
  });

  it('a device clock 60 s ahead or behind shows as that clock skew at the gateway', async () => {
    const ids = ['ahead', 'behind'];
    const connect = provision(ids);
    const summary = await runSim({ devices: ids, durationMs: 3000, speed: 1, t0Ms: Date.now(), seed: 1, connect, clockOffsetMs: (d) => (d === 'ahead' ? 60_000 : -60_000) });
    await fx.gateway.poll();
    expect(summary.deviceInfo.ahead!.clock).toEqual({ offsetMs: 60_000, driftPpm: 0 });
    // A skew sample is the device clock at the frame end minus the receive time: the offset minus the
    // delivery delay, so at most the offset, and far from zero.
    const skew = (d: string) => fx.registry.liveness.get(d)!.clockSkewMs!;
    expect(skew('ahead')).toBeLessThanOrEqual(60_000);
    expect(skew('ahead')).toBeGreaterThan(30_000);
    expect(skew('behind')).toBeLessThanOrEqual(-60_000);
    expect(skew('behind')).toBeGreaterThan(-90_000);
    // the frames carry device time; the ground truth's run times stay true time
    const ahead = records('ahead').map((r) => r.frame.ts);
    expect(ahead[0]).toBe(summary.t0Ms + 60_000);
  });
});

/** A logger that keeps its lines, parsed. */
function capturingLogger() {
  const lines: Array<{ level: string; msg: string; deviceId?: string }> = [];
  return { lines, logger: createLogger('info', {}, (l) => lines.push(JSON.parse(l) as (typeof lines)[number])) };
}

const REFUSAL = (id: string) => `Gateway refused device ${id}: Connection refused: Not authorized.`;

/**
 * A device the gateway refuses (an operator disabled it: `pulsebridge device disable`) stops
 * alone: the others go on, and the summary says which device was refused and from when, so the
 * report does not score its alarms from then on. Only every device refused at the start fails the run.
 */
describe('a device the gateway refuses during a simulation', () => {
  /** Reconnects soon after the gateway closes a revoked device's connection. */
  const connectFor = (ids: string[]) => ({ ...provision(ids), reconnectPeriodMs: 200 });

  it('disabled mid-run: that device stops with one warning, the other sends to the end, and the summary says which and from when', async () => {
    const connect = connectFor(['stay-1', 'off-2']);
    const { lines, logger } = capturingLogger();
    const durationMs = 40_000;
    const t0Ms = Date.now();
    const run = runSim({ devices: ['stay-1', 'off-2'], durationMs, speed: 10, t0Ms, seed: 2, connect, logger });
    await until(() => records('off-2').length >= 5, 20_000, 'frames of off-2');
    api.setEnabled('off-2', false, 'operator');
    const summary = await run;

    expect(summary).toMatchObject({ aborted: false, durationMs });
    expect(summary.deviceEvents).toEqual([{ deviceId: 'off-2', kind: 'refused', atMs: expect.any(Number), deviceAtMs: expect.any(Number), error: REFUSAL('off-2') }]);
    const refusedAt = summary.deviceEvents[0]!.atMs;
    // Refused from the end of its last acknowledged frame: everything before it reached the gateway.
    expect(refusedAt).toBeGreaterThanOrEqual(t0Ms + 5000);
    expect(records('off-2').filter((r) => r.frame.ts + r.frame.durMs <= refusedAt).length).toBe((refusedAt - t0Ms - 500) / 1000);
    // The other device sent its whole run, well past the refusal.
    const stay = records('stay-1').map((r) => r.frame);
    expect(stay.length).toBe(durationMs / 1000);
    expect(stay.at(-1)!.ts + stay.at(-1)!.durMs).toBe(t0Ms + durationMs);

    expect(lines.filter((l) => l.level === 'warn' || l.level === 'error')).toEqual([
      expect.objectContaining({ level: 'warn', deviceId: 'off-2', msg: `${REFUSAL('off-2')} It stops; the other devices go on.` }),
    ]);
    // The report does not count off-2's alarms due after the refusal as missed.
    expect(unmonitoredPeriods(summary.deviceInfo, summary.deviceEvents, t0Ms + durationMs)).toEqual([{ deviceId: 'off-2', fromMs: refusedAt, toMs: t0Ms + durationMs }]);
  });

  it('disabled before the run: the run goes on without it, refused from its start', async () => {
    const connect = connectFor(['on-1', 'off-2']);
    api.setEnabled('off-2', false, 'operator');
    const { lines, logger } = capturingLogger();
    const t0Ms = Date.now();
    const summary = await runSim({ devices: ['on-1', 'off-2'], durationMs: 5000, speed: 10, t0Ms, connect, logger });
    expect(summary.deviceEvents).toEqual([{ deviceId: 'off-2', kind: 'refused', atMs: t0Ms, deviceAtMs: t0Ms, error: REFUSAL('off-2') }]);
    expect(records('on-1')).toHaveLength(5);
    expect(records('off-2')).toHaveLength(0);
    expect(lines.filter((l) => l.level === 'warn').map((l) => l.deviceId)).toEqual(['off-2']);
  });

  it('every device refused at the start (wrong credentials, all disabled): the run fails with the gateway\'s answer', async () => {
    const connect = connectFor(['off-1', 'off-2']);
    for (const id of ['off-1', 'off-2']) api.setEnabled(id, false, 'operator');
    const { lines, logger } = capturingLogger();
    await expect(runSim({ devices: ['off-1', 'off-2'], durationMs: 5000, speed: 10, connect, logger }))
      .rejects.toMatchObject({ code: 'PB_SIM_FAILED', message: expect.stringMatching(/^Gateway refused device off-[12]: Connection refused: Not authorized\.$/) });
    // No "the other devices go on": there are none.
    expect(lines.filter((l) => l.level === 'warn')).toEqual([]);
  });
});
