/**
 * Reassigning a device from patient A to patient B at device time T (issue 3): through the real
 * gateway, processor and store, frames before T are A's and frames from T on are B's, in the
 * time-series store and in the alerts, even when the device sends them all after the change.
 */
import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, startProcessor, type Running } from '../../cli/components.ts';
import type { AlertEnvelope } from '../../contracts/alert.ts';
import { STREAMS } from '../../contracts/topics.ts';
import { runSim, scenarioFromPhases } from '../../device-sim/index.ts';
import { InProcessBus } from '../../platform/bus/index.ts';
import { loadConfig } from '../../platform/config.ts';
import { ensureDevPki, issueDeviceCertificate } from '../../platform/security/index.ts';
import { DeviceRegistry } from '../../platform/registry/index.ts';
import { silentLogger } from '../../platform/log.ts';
import { MetricsRegistry } from '../../platform/metrics.ts';
import { SqliteVitalsStore } from '../../platform/store/index.ts';
import { makeTempDir } from '../helpers/gateway-fixture.ts';

describe('reassigning a device from patient A to patient B at T', () => {
  const dataDir = makeTempDir('pb-reassign-');
  const bus = new InProcessBus();
  const store = new SqliteVitalsStore(':memory:');
  const running: Running[] = [];
  let registry: DeviceRegistry;
  let t0: number;
  let T: number;
  let endMs: number;
  let bradyOnsetMs: number;

  beforeAll(async () => {
    ensureDevPki(dataDir);
    const config = loadConfig({ PULSEBRIDGE_DATA_DIR: dataDir, PULSEBRIDGE_MQTT_PORT: '0' });
    registry = new DeviceRegistry(config.registryPath);
    t0 = Date.now() - 120_000;
    T = t0 + 30_000;
    registry.add('dev-r', 'pat-a', 'test', t0 - 60_000);
    // The change is made before the device sends anything: every frame is routed by its own time.
    registry.assign('dev-r', 'pat-b', T, 'test');
    const creds = issueDeviceCertificate(dataDir, 'dev-r');
    const metrics = new MetricsRegistry();
    const ctx = { config, bus, logger: silentLogger, metrics };
    running.push(await startProcessor(ctx, store));
    const gateway = await startGateway(ctx, registry);
    running.push(gateway);
    // 30 s normal (patient A), then for patient B: 15 s normal, 20 s extreme bradycardia, 15 s normal.
    const summary = await runSim({
      devices: ['dev-r'],
      scenario: scenarioFromPhases('reassign', [{ kind: 'normal', durationMs: 45_000 }, { kind: 'extreme_brady', durationMs: 20_000 }, { kind: 'normal', durationMs: 15_000 }]),
      durationMs: 80_000, speed: 'max', t0Ms: t0, seed: 3, ecgFsHz: null,
      connect: { url: `mqtts://localhost:${gateway.port}`, ca: fs.readFileSync(creds.ca), certFor: () => fs.readFileSync(creds.cert), keyFor: () => fs.readFileSync(creds.key) },
    });
    expect(summary.framesAcked).toBe(80);
    bradyOnsetMs = summary.episodes.find((e) => e.kind === 'extreme_brady')!.onsetMs;
    endMs = t0 + 80_000;
    const analysed = metrics.counter('pb_processor_frames_total', '');
    for (let i = 0; i < 200 && analysed.get() < 80; i++) await new Promise((r) => setTimeout(r, 50));
  });

  afterAll(async () => {
    for (const r of running.reverse()) await r.stop();
    await store.close();
    await bus.close();
    registry.close();
  });

  it('stores frames before T under A and frames from T on under B', async () => {
    const a = await store.queryHeartRate('pat-a', t0 - 60_000, endMs + 60_000);
    const b = await store.queryHeartRate('pat-b', t0 - 60_000, endMs + 60_000);
    // Heart-rate points are stamped at frame end: A's last frame ends at T, B's first one at T + 1 s.
    expect(a.length).toBeGreaterThanOrEqual(28);
    expect(Math.max(...a.map((p) => p.timeMs))).toBeLessThanOrEqual(T);
    // B's 50 frames, less those of the bradycardia without a beat (no rate computed for them).
    expect(b.length).toBeGreaterThanOrEqual(35);
    expect(Math.min(...b.map((p) => p.timeMs))).toBeGreaterThan(T);
    const rrA = await store.queryRr('pat-a', t0 - 60_000, endMs + 60_000);
    const rrB = await store.queryRr('pat-b', t0 - 60_000, endMs + 60_000);
    expect(Math.max(...rrA.map((p) => p.timeMs))).toBeLessThan(T);
    expect(Math.min(...rrB.map((p) => p.timeMs))).toBeGreaterThanOrEqual(T);
  });

  it('raises the episode after T for B only', () => {
    const alerts = bus.read(STREAMS.alerts).map((m) => (JSON.parse(m.value.toString()) as AlertEnvelope).alert);
    const physiological = alerts.filter((a) => a.category === 'physiological');
    expect(physiological.filter((a) => a.patientId === 'pat-a')).toEqual([]);
    const brady = physiological.filter((a) => a.kind === 'extreme_brady');
    expect(brady.length).toBeGreaterThan(0);
    for (const alert of brady) expect(alert).toMatchObject({ patientId: 'pat-b', deviceId: 'dev-r', onset: new Date(bradyOnsetMs).toISOString() });
  });
});
