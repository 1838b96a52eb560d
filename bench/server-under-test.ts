/**
 * The server side of the gateway benchmark, one fresh process per mode (so one mode's heap, JIT
 * and retained bus records do not colour the next), started with --expose-gc. Driven over IPC by
 * bench/gateway-throughput.ts. Serves either:
 *   - `aedes`: raw aedes, same version and the same mutual TLS (tls.createServer with
 *     requestCert and the same certificates), no authenticate/authorizePublish work — the
 *     ceiling an MQTT broker on this runtime reaches;
 *   - `gateway`: the real gateway from createGateway, wired like production (cli/components.ts:
 *     device registry with its liveness and command stores) on an in-process bus with the SQLite
 *     registry (embedded mode), or on Kafka with the registry on Kafka (production mode).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import v8 from 'node:v8';
import { Aedes } from 'aedes';
import { STREAMS } from '../contracts/topics.ts';
import { createGateway, type Gateway } from '../gateway/gateway.ts';
import type { Bus } from '../platform/bus/index.ts';
import { InProcessBus } from '../platform/bus/index.ts';
import { KafkaBus } from '../platform/bus/index.ts';
import { devPkiPaths } from '../platform/security/index.ts';
import { DeviceRegistry, type Registry } from '../platform/registry/index.ts';
import { BusRegistry } from '../platform/registry/index.ts';
import { silentLogger } from '../platform/log.ts';
import { MetricsRegistry } from '../platform/metrics.ts';
import { serveRpc } from './ipc-rpc.ts';

export type ServerKind = 'aedes' | 'gateway';
export type BusKind = 'memory' | 'kafka';
export interface SetupParams { kind: ServerKind; bus: BusKind; pkiDataDir: string; deviceIds: string[]; kafkaBrokers: string[] }
export interface StopStats { framesAcknowledged: number; framesRejected: number; telemetryRecordsOnBus?: number; deadLetterRecordsOnBus?: number }
export interface MemorySample {
  rssBytes: number;
  heapUsedBytes: number;
  externalBytes: number;
  /** V8 heap used per space (old_space, code_space, …), bytes. */
  spaces: Record<string, number>;
  connected: number;
}

const gc = (globalThis as { gc?: () => void }).gc;

let setup: SetupParams | undefined;
let registry: DeviceRegistry | undefined;
let kafka: KafkaBus | undefined;
let kafkaRegistry: BusRegistry | undefined;
let running: { close(): Promise<void>; connected(): number; stats(): StopStats } | undefined;

function tlsMaterial(pkiDataDir: string) {
  const p = devPkiPaths(pkiDataDir);
  return { cert: fs.readFileSync(p.gatewayCert), key: fs.readFileSync(p.gatewayKey), deviceCa: fs.readFileSync(p.deviceCaCert) };
}

async function startAedes(s: SetupParams): Promise<{ port: number }> {
  // The same aedes settings the gateway writes down explicitly (gateway/gateway.ts), so the
  // baseline differs from the gateway only by the gateway's own work.
  const broker = new Aedes({ drainTimeout: 30_000, concurrency: 100, maxTopicLevels: 8, connectTimeout: 30_000, keepaliveLimit: 0 });
  await broker.listen();
  const material = tlsMaterial(s.pkiDataDir);
  // rejectUnauthorized: true verifies the client certificate in the handshake — the same
  // verification the gateway does (it checks `authorized` in authenticate()).
  const server = tls.createServer({
    cert: material.cert, key: material.key, ca: material.deviceCa, requestCert: true, rejectUnauthorized: true, minVersion: 'TLSv1.2',
  }, (socket) => broker.handle(socket));
  const sockets = new Set<tls.TLSSocket>();
  server.on('secureConnection', (so) => { sockets.add(so); so.on('close', () => sockets.delete(so)); });
  let acked = 0;
  // aedes emits `publish` after it wrote the PUBACK (lib/handlers/publish.js); count device frames.
  broker.on('publish', (packet, client) => { if (client && packet.topic.endsWith('/telemetry')) acked++; });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  running = {
    connected: () => broker.connectedClients,
    stats: () => ({ framesAcknowledged: acked, framesRejected: 0 }),
    close: async () => {
      await new Promise<void>((resolve) => { server.close(() => resolve()); for (const so of sockets) so.destroy(); });
      await new Promise<void>((resolve) => broker.close(() => resolve()));
    },
  };
  return { port: (server.address() as { port: number }).port };
}

/** Assigned an hour back: the benchmark's frames are stamped up to a minute in the past. Idempotent. */
async function assignBenchDevices(r: Registry, deviceIds: readonly string[]): Promise<void> {
  const fromMs = Date.now() - 3_600_000;
  for (const [i, id] of deviceIds.entries()) {
    const patientId = `bench-patient-${String(i).padStart(4, '0')}`;
    if (r.get(id)?.patientId !== patientId) await r.add(id, patientId, 'bench', fromMs);
  }
}

/** The embedded registry, in a scratch folder that goes with the process however it ends. */
async function openScratchRegistry(deviceIds: readonly string[]): Promise<DeviceRegistry> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pb-bench-registry-'));
  const scratch = new DeviceRegistry(path.join(dir, 'registry.sqlite'));
  process.on('exit', () => {
    try { scratch.close(); } catch { /* already closed */ }
    fs.rmSync(dir, { recursive: true, force: true });
  });
  await assignBenchDevices(scratch, deviceIds);
  return scratch;
}

async function startGateway(s: SetupParams): Promise<{ port: number }> {
  let bus: Bus;
  let deviceRegistry: Registry;
  let memoryBus: InProcessBus | undefined;
  if (s.bus === 'kafka') {
    if (!kafka) {
      kafka = new KafkaBus({ brokers: s.kafkaBrokers, clientId: 'pulsebridge-bench', logger: silentLogger });
      // The partition counts the e2e pipeline test uses; idempotent when the topics exist.
      await kafka.ensureStreams([{ name: STREAMS.telemetry, partitions: 6 }, { name: STREAMS.deadLetter, partitions: 1 }]);
      kafkaRegistry = await BusRegistry.open({ bus: kafka, logger: silentLogger });
      await assignBenchDevices(kafkaRegistry, s.deviceIds);
    }
    bus = kafka;
    deviceRegistry = kafkaRegistry!;
  } else {
    registry ??= await openScratchRegistry(s.deviceIds);
    deviceRegistry = registry;
    // A fresh in-process bus per run: it keeps every record in memory (platform/bus/memory.ts).
    memoryBus = new InProcessBus();
    bus = memoryBus;
  }
  const metrics = new MetricsRegistry();
  const gateway: Gateway = await createGateway({
    bus, registry: deviceRegistry, liveness: deviceRegistry.liveness, commands: deviceRegistry.commands, gatewayId: 'bench', logger: silentLogger, metrics,
    tls: tlsMaterial(s.pkiDataDir),
    // Throughput run: the contract's 20 frames/s per device would cap the run at devices × 20/s.
    rateLimit: false,
  });
  const { port } = await gateway.listen(0, '127.0.0.1');
  const counter = (name: string) => metrics.counter(name, '');
  running = {
    connected: () => gateway.connectedDevices,
    stats: () => {
      let rejected = 0;
      for (const series of counter('pb_gateway_frames_rejected_total').series.values()) rejected += series.value;
      return {
        framesAcknowledged: counter('pb_gateway_frames_acknowledged_total').get(),
        framesRejected: rejected,
        ...(memoryBus ? { telemetryRecordsOnBus: memoryBus.read(STREAMS.telemetry).length, deadLetterRecordsOnBus: memoryBus.read(STREAMS.deadLetter).length } : {}),
      };
    },
    close: () => gateway.close(),
  };
  return { port };
}

serveRpc({
  async start(p: SetupParams) {
    if (running) throw new Error('a server is already running');
    setup = p;
    return p.kind === 'aedes' ? startAedes(p) : startGateway(p);
  },
  cpu() {
    const c = process.cpuUsage();
    return { tMs: performance.now(), userUs: c.user, systemUs: c.system };
  },
  connected() {
    return running?.connected() ?? 0;
  },
  memory(): MemorySample {
    if (!gc) throw new Error('start with --expose-gc');
    // Twice: the first full collection may only schedule finalisers whose memory the second frees.
    gc();
    gc();
    const m = process.memoryUsage();
    const spaces = Object.fromEntries(v8.getHeapSpaceStatistics().map((sp) => [sp.space_name, sp.space_used_size]));
    return { rssBytes: m.rss, heapUsedBytes: m.heapUsed, externalBytes: m.external, spaces, connected: running?.connected() ?? 0 };
  },
  async stop(): Promise<StopStats> {
    if (!running) throw new Error('no server is running');
    const stats = running.stats();
    await running.close();
    running = undefined;
    return stats;
  },
  async shutdown() {
    await running?.close();
    running = undefined;
    await kafka?.close();
    registry?.close();
    registry = undefined;
    return { kind: setup?.kind };
  },
});
