/**
 * `pulsebridge sim replay` of MIT-BIH record 100 at maximum speed, as a separate process through
 * the real CLI, into a gateway (mutual TLS) + processor + store: the heart-rate points in the
 * store match the rate computed here, independently, from the record's reference beats.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, startProcessor, type Running } from '../../cli/components.ts';
import { readWfdbAnnotations, isBeatCode } from '../../device-sim/index.ts';
import { InProcessBus } from '../../platform/bus/index.ts';
import { loadConfig } from '../../platform/config.ts';
import { ensureDevPki, issueDeviceCertificate } from '../../platform/security/index.ts';
import { DeviceRegistry } from '../../platform/registry/index.ts';
import { createLogger, silentLogger } from '../../platform/log.ts';
import { MetricsRegistry } from '../../platform/metrics.ts';
import { SqliteVitalsStore } from '../../platform/store/index.ts';
import { makeTempDir } from '../helpers/gateway-fixture.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const RECORD = path.resolve(ROOT, '../shared/data/ecg/mitdb/100');
const MITDB_FS_HZ = 360;

function runCli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(path.join(ROOT, 'bin/pulsebridge'), args, { env: { ...process.env, PULSEBRIDGE_LOG_LEVEL: 'warn' } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('sim replay of mitdb/100 at maximum speed', () => {
  const dataDir = makeTempDir('pb-replay-');
  const bus = new InProcessBus();
  const store = new SqliteVitalsStore(':memory:');
  const running: Running[] = [];
  let registry: DeviceRegistry;
  let port: number;

  beforeAll(async () => {
    ensureDevPki(dataDir);
    const config = loadConfig({ PULSEBRIDGE_DATA_DIR: dataDir, PULSEBRIDGE_MQTT_PORT: '0' });
    registry = new DeviceRegistry(config.registryPath);
    registry.add('replay-100', 'patient-100', 'test', Date.now() - 2 * 3_600_000);
    issueDeviceCertificate(dataDir, 'replay-100');
    registry.add('replay-103', 'patient-103', 'test', Date.now() - 2 * 3_600_000);
    issueDeviceCertificate(dataDir, 'replay-103');
    const ctx = { config, bus, logger: process.env.DEBUG_E2E ? createLogger('debug') : silentLogger, metrics: new MetricsRegistry() };
    running.push(await startProcessor(ctx, store));
    const gateway = await startGateway(ctx, registry);
    running.push(gateway);
    port = gateway.port;
  });

  afterAll(async () => {
    for (const r of running.reverse()) await r.stop();
    await store.close();
    await bus.close();
    registry.close();
  });

  it('stores heart-rate points equal to the rate computed from the reference beats', async () => {
    const result = await runCli(['sim', 'replay', '--record', RECORD, '--device', 'replay-100', '--speed', 'max',
      '--data-dir', dataDir, '--url', `mqtts://localhost:${port}`]);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const first = JSON.parse(result.stdout.split('\n')[0]!) as { record: string; device: string; t0: number };
    expect(first).toEqual({ record: RECORD, device: 'replay-100', t0: expect.any(Number) });

    // Independent expectation: reference beats → device time → 1 s windows from t0 →
    // 60000 / mean RR of the beats in each window (RR = time since the previous beat).
    const beatsMs = (await readWfdbAnnotations(`${RECORD}.atr`))
      .filter((a) => isBeatCode(a.code))
      .map((a) => first.t0 + Math.round((a.sample * 1000) / MITDB_FS_HZ));
    expect(beatsMs).toHaveLength(2273); // MIT-BIH record 100: 2273 annotated beats
    const windows = new Map<number, number[]>();
    beatsMs.forEach((t, i) => {
      if (i === 0) return;
      const k = Math.floor((t - first.t0) / 1000);
      windows.set(k, [...(windows.get(k) ?? []), t - beatsMs[i - 1]!]);
    });
    // The last frame ends with the record (650,000 samples at 360 Hz: 1,805,556 ms), its point there.
    const endMs = first.t0 + Math.round((650_000 * 1000) / MITDB_FS_HZ);
    const expected = [...windows.entries()].map(([k, rr]) => ({
      timeMs: Math.min(first.t0 + (k + 1) * 1000, endMs),
      hrBpm: 60000 / (rr.reduce((a, b) => a + b, 0) / rr.length),
    }));

    let stored = await store.queryHeartRate('patient-100', first.t0, first.t0 + 3_600_000);
    for (let i = 0; i < 100 && stored.length < expected.length; i++) {
      await new Promise((r) => setTimeout(r, 100));
      stored = await store.queryHeartRate('patient-100', first.t0, first.t0 + 3_600_000);
    }
    expect(expected.length).toBeGreaterThan(1800); // ~30 min of 1 s frames
    expect(stored.map((p) => p.timeMs)).toEqual(expected.map((p) => p.timeMs));
    stored.forEach((p, i) => expect(Math.abs(p.hrBpm - expected[i]!.hrBpm)).toBeLessThanOrEqual(0.05 + 1e-9));
    const meanBpm = stored.reduce((s, p) => s + p.hrBpm, 0) / stored.length;
    expect(meanBpm).toBeGreaterThan(70); // record 100 is sinus rhythm around 75 bpm
    expect(meanBpm).toBeLessThan(80);
  });

  it('replays several records at once, one device each, every frame acknowledged, and prints the time each took', async () => {
    const record103 = path.resolve(ROOT, '../shared/data/ecg/mitdb/103');
    const result = await runCli(['sim', 'replay', '--record', `${RECORD},${record103}`, '--device', 'replay-100,replay-103', '--speed', 'max',
      '--frame-ms', '2000', '--data-dir', dataDir, '--url', `mqtts://localhost:${port}`]);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const lines = result.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.filter((l) => 't0' in l).map((l) => l.device).sort()).toEqual(['replay-100', 'replay-103']);
    const summaries = lines.filter((l) => 'replayed' in l);
    // ~30 min each in 2 s frames: 903 frames (the last one partial).
    expect(summaries).toEqual([
      { replayed: RECORD, device: 'replay-100', frames: 903, acked: 903, deviceHours: 0.5, wallSeconds: expect.any(Number), speedup: expect.any(Number) },
      { replayed: record103, device: 'replay-103', frames: 903, acked: 903, deviceHours: 0.5, wallSeconds: expect.any(Number), speedup: expect.any(Number) },
      { replayed: '2 records', frames: 1806, acked: 1806, deviceHours: 1, wallSeconds: expect.any(Number), speedup: expect.any(Number) },
    ]);
  });

  it('keeps the contract rate limit for devices unless the gateway is configured otherwise', () => {
    expect(loadConfig({}).gateway.rateLimit).toEqual({ framesPerSecond: 20, burstFrames: 3600 });
    expect(loadConfig({ PULSEBRIDGE_GATEWAY_FRAMES_PER_S: '5000' }).gateway.rateLimit.framesPerSecond).toBe(5000);
    expect(() => loadConfig({ PULSEBRIDGE_GATEWAY_FRAMES_PER_S: '0' })).toThrow('PULSEBRIDGE_GATEWAY_FRAMES_PER_S');
  });
});
