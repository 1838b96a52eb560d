/**
 * The process under test of bench/abuse-memory.ts (started with --expose-gc, driven over IPC):
 * either the real gateway on an in-process bus (mqtt) or the real dashboard API with a filled
 * SQLite store and alerts (http), in embedded mode, as `pulsebridge demo` runs them.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import v8 from 'node:v8';
import { alertId, DEFAULT_PRIORITY, type Alert } from '../contracts/alert.ts';
import { STREAMS } from '../contracts/topics.ts';
import { JsonlAuditSink } from '../dashboard-api/audit.ts';
import { createDevTokenVerifier } from '../dashboard-api/auth.ts';
import { openDevIssuer } from '../dashboard-api/dev-issuer.ts';
import { registryPatientDirectory } from '../dashboard-api/patient-directory.ts';
import { deviceRoutes } from '../dashboard-api/routes-devices.ts';
import { createDashboardApi } from '../dashboard-api/server.ts';
import { createGateway } from '../gateway/gateway.ts';
import { InProcessBus } from '../platform/bus/index.ts';
import { silentLogger } from '../platform/log.ts';
import { MetricsRegistry } from '../platform/metrics.ts';
import { DeviceRegistry } from '../platform/registry/index.ts';
import { ensureDevPki, issueDeviceCertificate } from '../platform/security/index.ts';
import { SqliteVitalsStore } from '../platform/store/index.ts';
import { serveRpc } from './ipc-rpc.ts';

export interface MemoryReading { rssMiB: number; peakRssMiB: number; heapUsedMiB: number; externalMiB: number }

const MiB = 1024 * 1024;
const round = (bytes: number) => Math.round((bytes / MiB) * 10) / 10;

function memory(): MemoryReading {
  const m = process.memoryUsage();
  const hwm = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync('/proc/self/status', 'utf8'));
  return { rssMiB: round(m.rss), peakRssMiB: hwm ? round(Number(hwm[1]) * 1024) : Number.NaN, heapUsedMiB: round(m.heapUsed), externalMiB: round(m.external + m.arrayBuffers) };
}

const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'pb-abuse-mem-'));
const bus = new InProcessBus();
let stop: (() => Promise<void>) | undefined;

serveRpc({
  async mqtt(params: { maxPacketBytes?: number }) {
    const pki = ensureDevPki(dataDir);
    const registry = new DeviceRegistry(path.join(dataDir, 'registry.sqlite'));
    registry.add('dev-big', 'pat-big', 'bench', Date.now() - 3_600_000);
    const creds = issueDeviceCertificate(dataDir, 'dev-big');
    const gateway = await createGateway({
      bus, registry, logger: silentLogger, metrics: new MetricsRegistry(), rateLimit: false,
      tls: { cert: fs.readFileSync(pki.gatewayCert), key: fs.readFileSync(pki.gatewayKey), deviceCa: fs.readFileSync(pki.deviceCaCert) },
      ...(params.maxPacketBytes !== undefined ? { maxPacketBytes: params.maxPacketBytes } : {}),
    });
    const { port } = await gateway.listen(0, '127.0.0.1');
    stop = async () => { await gateway.close(); registry.close(); };
    return { port, creds };
  },
  async http(params: { patients: number; pointsPerPatient: number; maxConcurrentRequests?: number }) {
    const registry = new DeviceRegistry(path.join(dataDir, 'registry.sqlite'));
    const store = new SqliteVitalsStore(path.join(dataDir, 'vitals.sqlite'));
    const t0 = Date.now() - params.pointsPerPatient * 1000;
    const alerts: Alert[] = [];
    for (let p = 0; p < params.patients; p++) {
      const patientId = `p${p}`;
      registry.add(`dev-${p}`, patientId, 'bench', t0 - 60_000);
      const heartRate = Array.from({ length: params.pointsPerPatient }, (_, i) => ({ patientId, deviceId: `dev-${p}`, timeMs: t0 + i * 1000, hrBpm: 60 + (i % 40) }));
      await store.write({ heartRate, rr: [] });
      for (let k = 0; k < 10; k++) {
        const onset = t0 + k * 60_000;
        alerts.push({ id: alertId(patientId, 'tachy', onset), patientId, deviceId: `dev-${p}`, kind: 'tachy', category: 'physiological', priority: DEFAULT_PRIORITY.tachy,
          state: 'active', onset: new Date(onset).toISOString(), detectedAt: new Date(onset + 1000).toISOString(), evidence: { hrBpm: 130 }, revision: 0, updatedAt: new Date(onset + 1000).toISOString() } as Alert);
      }
    }
    await bus.publish(STREAMS.alerts, alerts.map((a) => ({ key: a.patientId, value: Buffer.from(JSON.stringify({ schema: 'pb.alert.v1', source: 'processor', alert: a })) })));
    const issuer = await openDevIssuer({ dataDir });
    const api = createDashboardApi({
      bus, vitalsStore: store, patients: registryPatientDirectory(registry), auth: createDevTokenVerifier(issuer),
      audit: new JsonlAuditSink({ dataDir }), logger: silentLogger, metrics: new MetricsRegistry(), heartbeatIntervalMs: 600_000,
      ...(params.maxConcurrentRequests !== undefined ? { maxConcurrentRequests: params.maxConcurrentRequests } : {}),
      routeModules: [deviceRoutes({ directory: registry, liveness: registry.liveness, commands: registry.commands })],
    });
    const { url } = await api.listen(0, '127.0.0.1');
    const token = await issuer.issueToken({ sub: 'bench-admin', role: 'admin', patients: [], ttlSeconds: 3600 });
    stop = async () => { await api.close(); await store.close(); registry.close(); };
    return { url, token, from: t0, to: t0 + params.pointsPerPatient * 1000 };
  },
  memory: () => memory(),
  gc() {
    const gc = (globalThis as { gc?: () => void }).gc;
    if (!gc) throw new Error('start with --expose-gc');
    gc();
    gc();
    return memory();
  },
  /** V8 heap statistics after a full GC, per space (MiB): where retained memory lives. */
  spaces: () => Object.fromEntries(v8.getHeapSpaceStatistics().map((s) => [s.space_name, round(s.space_used_size)])),
  deadLetters: () => bus.read(STREAMS.deadLetter).length,
  snapshot(params: { file: string }) { return v8.writeHeapSnapshot(params.file); },
  async stop() { await stop?.(); fs.rmSync(dataDir, { recursive: true, force: true }); },
});
