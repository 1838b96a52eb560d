/**
 * No acknowledged frame lost, none duplicated downstream, across a gateway crash (issue 3):
 * the gateway runs as its own process (`pulsebridge gateway` on Apache Kafka) and is killed with
 * SIGKILL while a device publishes at QoS 1; a new gateway process takes over the port, the
 * device reconnects and resends what was not acknowledged. The processor (consuming Kafka)
 * must analyse every (device, seq) exactly once.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { TelemetryFrame, TelemetryRecord } from '../../contracts/telemetry.ts';
import { STREAMS } from '../../contracts/topics.ts';
import { SimulatedDevice, SinusRhythm, buildFrames, sinusBeats } from '../../device-sim/index.ts';
import { KafkaBus } from '../../platform/bus/index.ts';
import { ensureDevPki, issueDeviceCertificate } from '../../platform/security/index.ts';
import { BusRegistry } from '../../platform/registry/index.ts';
import { silentLogger } from '../../platform/log.ts';
import { MetricsRegistry } from '../../platform/metrics.ts';
import { SqliteVitalsStore } from '../../platform/store/index.ts';
import { createProcessor } from '../../processor/processor.ts';
import { makeTempDir } from '../helpers/gateway-fixture.ts';
import { freePort, sleep } from '../helpers/wait.ts';
import { kafkaAvailable, kafkaBrokers, requireService } from '../helpers/services.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');

async function waitForPort(port: number, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => { s.destroy(); resolve(true); });
      s.on('error', () => resolve(false));
    });
    if (ok) return;
    await sleep(100);
  }
  throw new Error(`gateway did not listen on ${port}`);
}

const kafka = await requireService('kafka', kafkaAvailable);

describe.runIf(kafka)('gateway killed with SIGKILL mid-stream (real Kafka)', () => {
  const runId = randomUUID().slice(0, 8);
  const deviceId = `crash-${runId}`;
  const patientId = `crash-pat-${runId}`;
  const dataDir = makeTempDir('pb-crash-');
  const children: ChildProcess[] = [];

  afterAll(() => {
    for (const c of children) c.kill('SIGKILL');
  });

  it('delivers every frame the device sent exactly once downstream', async () => {
    ensureDevPki(dataDir);
    // A gateway on Kafka reads the registry from the bus (no shared file).
    const registryBus = new KafkaBus({ brokers: kafkaBrokers, clientId: `crash-registry-${runId}`, logger: silentLogger });
    const registry = await BusRegistry.open({ bus: registryBus, logger: silentLogger });
    await registry.add(deviceId, patientId, 'test', Date.now() - 3_600_000);
    await registry.close();
    await registryBus.close();
    const creds = issueDeviceCertificate(dataDir, deviceId);
    const port = await freePort();
    const startGatewayProcess = () => {
      const child = spawn(path.join(ROOT, 'bin/pulsebridge'), ['gateway'], {
        env: { ...process.env, PULSEBRIDGE_DATA_DIR: dataDir, PULSEBRIDGE_BUS: 'kafka', KAFKA_BROKERS: kafkaBrokers.join(','),
          PULSEBRIDGE_MQTT_PORT: String(port), PULSEBRIDGE_LOG_LEVEL: 'warn' },
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      child.stderr!.on('data', () => {});
      children.push(child);
      return child;
    };

    // Downstream: a processor on Kafka (its own group) with an in-memory store.
    const bus = new KafkaBus({ brokers: kafkaBrokers, clientId: `crash-test-${runId}` });
    const metrics = new MetricsRegistry();
    const store = new SqliteVitalsStore(':memory:');
    const processor = createProcessor({ bus, store, logger: silentLogger, metrics, groupId: `crash-proc-${runId}`, fromBeginning: false });
    await processor.start();
    // And the raw bus: which (device, seq) arrived, duplicates included.
    const onBus: number[] = [];
    const raw = await bus.subscribe(STREAMS.telemetry, { groupId: `crash-raw-${runId}`, fromBeginning: false, onBatch: async (batch) => {
      for (const m of batch) {
        const r = JSON.parse(m.value.toString()) as TelemetryRecord;
        if (r.deviceId === deviceId) onBus.push(r.frame.seq);
      }
    } });

    let gateway = startGatewayProcess();
    await waitForPort(port);

    const t0 = Date.now() - 200_000;
    const frames: TelemetryFrame[] = [...buildFrames(sinusBeats(new SinusRhythm({ seed: 7 }), t0), { t0Ms: t0, durationMs: 150_000, frameMs: 1000, battery: 90 })];
    const device = new SimulatedDevice({ deviceId, maxFramesPerSecond: 15, maxInFlight: 16,
      connection: { url: `mqtts://localhost:${port}`, ca: fs.readFileSync(creds.ca), cert: fs.readFileSync(creds.cert), key: fs.readFileSync(creds.key), reconnectPeriodMs: 300 } });
    await device.start();
    const sending = (async () => { for (const f of frames) await device.send(f); await device.flush(); })();

    while (device.ackedCount < 40) await sleep(20);
    gateway.kill('SIGKILL');
    await new Promise((r) => gateway.once('exit', r));
    const ackedAtCrash = device.ackedCount;
    await sleep(500);
    gateway = startGatewayProcess();
    await sending;
    await device.stop();

    const sentSeqs = frames.map((f) => f.seq);
    // Count this patient's frames only (other tests may stream to the same Kafka topic meanwhile):
    // each analysed frame with a known RR leaves one heart-rate point at its end, a duplicate would leave two.
    const expectedPoints = frames.filter((f) => !f.leadOff && f.beats.some((b) => b.rr > 0)).length;
    const storedPointTimes = async () => (await store.queryHeartRate(patientId, 0, Number.MAX_SAFE_INTEGER)).map((p) => p.timeMs);
    const deadline = Date.now() + 60_000;
    while ((await storedPointTimes()).length < expectedPoints && Date.now() < deadline) await sleep(200);
    await sleep(1000); // anything late (a duplicate) would show up now
    await raw.stop();
    await processor.stop();
    await bus.close();

    expect(ackedAtCrash).toBeLessThan(frames.length); // the crash really was mid-stream
    expect(device.connectCount).toBeGreaterThanOrEqual(2);
    expect(new Set(onBus)).toEqual(new Set(sentSeqs));
    const times = await storedPointTimes();
    expect(times.length).toBe(expectedPoints);
    expect(new Set(times).size).toBe(times.length);
    console.log(`gateway crash: ${frames.length} frames sent, ${ackedAtCrash} acknowledged before SIGKILL, ${onBus.length - new Set(onBus).size} duplicates on the bus dropped downstream`);
  });
});
