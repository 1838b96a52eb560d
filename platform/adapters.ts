/**
 * Chooses the adapter for each port from the configuration (house-style.md "Ports and
 * adapters"): in-process bus or Kafka; SQLite or InfluxDB.
 */
import type { Bus, StreamSpec } from './bus/index.ts';
import { InProcessBus } from './bus/index.ts';
import { KafkaBus } from './bus/index.ts';
import type { PulsebridgeConfig } from './config.ts';
import type { Logger } from './log.ts';
import type { VitalsStore } from './store/index.ts';
import { SqliteVitalsStore } from './store/index.ts';
import { InfluxVitalsStore } from './store/index.ts';
import { STREAMS } from '../contracts/topics.ts';
import { DeviceRegistry, type Registry } from './registry/index.ts';
import { BusDeviceLivenessStore, BusRegistry, type DeviceLivenessStore } from './registry/index.ts';

/** Default partitions of the telemetry stream (PULSEBRIDGE_TELEMETRY_PARTITIONS). */
export const DEFAULT_TELEMETRY_PARTITIONS = 6;

/**
 * Partitions per stream when Pulsebridge creates them. Telemetry: configurable, the most
 * processor instances that can share the work. Alerts: one, so its offset is a total order (event ids).
 */
export const streamPartitions = (telemetryPartitions = DEFAULT_TELEMETRY_PARTITIONS): StreamSpec[] => [
  { name: STREAMS.telemetry, partitions: telemetryPartitions },
  { name: STREAMS.alerts, partitions: 1 },
  { name: STREAMS.deadLetter, partitions: 1 },
  // Keyed by patient like telemetry; one strip per alert (contracts/ecg-strip.ts).
  { name: STREAMS.ecgStrips, partitions: 6 },
  // Written by the processor, read by its store sink and the board (dashboard-api/live-vitals.ts),
  // which may start first.
  { name: STREAMS.derivedVitals, partitions: 6 },
  { name: STREAMS.ehrRetry, partitions: 6 },
  // Compacted: only the latest record per key matters (criteria per patient, state per stream).
  { name: STREAMS.criteria, partitions: 1, compacted: true },
  { name: STREAMS.processorState, partitions: 1, compacted: true },
  { name: STREAMS.processorHeartbeats, partitions: 1, compacted: true },
];

export const STREAM_PARTITIONS: StreamSpec[] = streamPartitions();

/** Messages each in-process stream keeps once every consumer has read them (about a day of a few devices). */
export const EMBEDDED_RETAINED_MESSAGES = 100_000;

/**
 * Opens the bus and ensures every stream of {@link streamPartitions}. On Kafka with
 * `streams.createTopics` false (PULSEBRIDGE_KAFKA_CREATE_TOPICS=false) it, and every later
 * ensureStreams of the component, creates nothing: a missing topic fails the start with its name and
 * the kafka-topics.sh line that creates it (PB_CONFIG_INVALID).
 */
export async function openBus(config: Pick<PulsebridgeConfig, 'bus'> & { streams?: Partial<PulsebridgeConfig['streams']> } & Partial<Pick<PulsebridgeConfig, 'kafkaConsumer'>>, logger: Logger): Promise<Bus> {
  const sessionTimeoutMs = config.kafkaConsumer?.sessionTimeoutMs;
  const bus: Bus = config.bus.kind === 'kafka'
    ? new KafkaBus({
      brokers: [...config.bus.brokers], clientId: config.bus.clientId, logger: logger.child({ component: 'kafka' }),
      createStreams: config.streams?.createTopics ?? true,
      // TLS and SASL (KAFKA_SSL*, KAFKA_SASL_*): absent for PLAINTEXT.
      ...(config.bus.security ? { security: config.bus.security } : {}),
      // Kafka's advice: heartbeat at most a third of the session timeout; a tenth reacts faster to a rebalance.
      ...(sessionTimeoutMs ? { consumer: { sessionTimeoutMs, heartbeatIntervalMs: Math.min(3_000, Math.round(sessionTimeoutMs / 10)) } } : {}),
    })
    // Embedded: keep the newest consumed messages only, or a long-running demo grows without bound
    // (10 devices at 1 frame/s is ~0.9 GB a day). Unconsumed messages are never dropped.
    : new InProcessBus({ maxRetainedMessages: EMBEDDED_RETAINED_MESSAGES });
  try {
    await bus.ensureStreams(streamPartitions(config.streams?.telemetryPartitions));
  } catch (err) {
    await bus.close().catch(() => {});
    throw err;
  }
  return bus;
}

/**
 * Opens the vitals store. InfluxDB that cannot be reached at start (refused, timed out, 5xx) does
 * not stop the component: the processor must alert through a store outage, also one that began
 * before it started (the time series wait on the bus: the store sink commits only what InfluxDB
 * accepted), and the API serves everything but the series. The database is then made sure of in
 * the background until InfluxDB answers ({@link ensureDatabaseLater}). A refusal that no waiting
 * mends — 401/403 (credentials), 4xx — still fails the start with its reason.
 */
export async function openVitalsStore(config: Pick<PulsebridgeConfig, 'store'>, logger?: Logger, options: OpenVitalsStoreOptions = {}): Promise<VitalsStore> {
  const s = config.store;
  const retry = options.retry ?? {};
  // The retention (PULSEBRIDGE_VITALS_RETENTION_DAYS): each store says at open which is in force.
  const retention = { ...(s.retentionDays !== undefined ? { retentionDays: s.retentionDays } : {}), ...(logger ? { logger: logger.child({ component: 'vitals-store' }) } : {}) };
  if (s.kind === 'sqlite') return new SqliteVitalsStore(s.path, { ...retention, prune: options.role !== 'reader' });
  const store = new InfluxVitalsStore({ url: s.url, database: s.database, token: s.token, username: s.username, password: s.password, ...retention });
  try {
    await store.init();
    return store;
  } catch (err) {
    if (!logger || !storeUnreachable(err)) throw err;
    logger.warn('InfluxDB cannot be reached at start: running without it until it answers (time series wait on the bus; alerts are not held back)', { url: s.url, err: err as Error });
    void ensureDatabaseLater(store, logger, retry);
    return store;
  }
}

export interface OpenVitalsStoreOptions {
  /**
   * `writer` (default: the processor, the demo's shared store) enforces the retention on embedded
   * SQLite (deletes at open and hourly); `reader` (the dashboard API in its own process) opens the
   * same file without pruning it: one process deleting is enough. InfluxDB enforces its retention
   * itself, whichever opens it.
   */
  role?: 'writer' | 'reader';
  retry?: StoreRetry;
}

/** Retry timing of {@link ensureDatabaseLater} (tests shorten it). */
export interface StoreRetry {
  firstDelayMs?: number;
  maxDelayMs?: number;
}

/** No answer, or an answer that says "later" (5xx): waiting may mend it. */
function storeUnreachable(err: unknown): boolean {
  const cause = (err as { cause?: { statusCode?: unknown } } | undefined)?.cause;
  const status = cause?.statusCode;
  return typeof status === 'number' ? status >= 500 : true;
}

/** Retries the store's start-up (the database) with backoff until it succeeds or the store is closed. */
async function ensureDatabaseLater(store: InfluxVitalsStore, logger: Logger, retry: StoreRetry): Promise<void> {
  let delayMs = retry.firstDelayMs ?? 1000;
  for (;;) {
    await new Promise((resolve) => setTimeout(resolve, delayMs).unref());
    if (store.closed) return;
    try {
      await store.init();
      logger.info('InfluxDB answers: the vitals store is ready');
      return;
    } catch (err) {
      if (store.closed) return;
      if (!storeUnreachable(err)) {
        logger.error('InfluxDB answers but refuses the vitals store: time series are not stored until this is fixed', { err: err as Error });
        return;
      }
      delayMs = Math.min(delayMs * 2, retry.maxDelayMs ?? 30_000);
    }
  }
}

/**
 * The device registry follows the bus: on Kafka it lives on the bus (shared by every instance on
 * every host); embedded, it is the SQLite file in the data folder (shared with the CLI).
 * `auditTrail: false` (on Kafka): the instance does not hold the audit trail in memory (gateways).
 */
export async function openRegistry(config: Pick<PulsebridgeConfig, 'bus' | 'registryPath'>, bus: Bus, logger: Logger, options: { auditTrail?: boolean } = {}): Promise<Registry> {
  if (config.bus.kind === 'kafka') {
    return BusRegistry.open({ bus, logger: logger.child({ component: 'registry' }), ...(options.auditTrail === false ? { keepAuditTrail: false } : {}) });
  }
  return new DeviceRegistry(config.registryPath);
}

/**
 * Device liveness only, for a reader that needs nothing else of the registry (the processor tells
 * device silence from infrastructure gaps with it): on Kafka the compacted liveness stream
 * folded into memory, embedded the SQLite registry file.
 */
export async function openLivenessReader(config: Pick<PulsebridgeConfig, 'bus' | 'registryPath'>, bus: Bus, logger: Logger): Promise<{ liveness: Pick<DeviceLivenessStore, 'get'>; close(): Promise<void> }> {
  if (config.bus.kind === 'kafka') {
    const liveness = await BusDeviceLivenessStore.open({ bus, logger: logger.child({ component: 'liveness' }) });
    return { liveness, close: () => liveness.close() };
  }
  const registry = new DeviceRegistry(config.registryPath);
  return { liveness: registry.liveness, close: async () => { await registry.close(); } };
}

/**
 * Opens the registry for one short task (a CLI command), with its own bus connection on Kafka,
 * and closes both afterwards.
 */
export async function withRegistry<T>(config: Pick<PulsebridgeConfig, 'bus' | 'registryPath'>, logger: Logger, fn: (registry: Registry) => Promise<T>): Promise<T> {
  const bus = config.bus.kind === 'kafka' ? await openBus(config, logger) : undefined;
  try {
    const registry = bus ? await openRegistry(config, bus, logger) : new DeviceRegistry(config.registryPath);
    try {
      return await fn(registry);
    } finally {
      await registry.close();
    }
  } finally {
    await bus?.close();
  }
}
