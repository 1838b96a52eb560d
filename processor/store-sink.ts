/**
 * Writes the time series (heart rate, RR) from the telemetry stream to the vitals store, in its
 * OWN consumer groups (also the points of ECG-derived beats from STREAMS.derivedVitals and the
 * ECG strips from STREAMS.ecgStrips, which only the detection side can make), so the store never blocks detection (issue 13: with InfluxDB down the
 * detection consumer kept retrying the store write in place, no alert left the processor for
 * the whole outage, and every stream then looked silent: a signal_loss flood).
 *
 * While the store is down this consumer retries its batch in place and commits nothing; the
 * frames wait on the bus (Kafka: the log; embedded: the in-process log), and the consumer
 * catches up from its committed position once the store answers again, also after a crash or a
 * restart. Points are idempotent (InfluxDB: one value per series and timestamp; SQLite: INSERT OR
 * REPLACE), so a re-read batch or a resent frame overwrites its own points: nothing is doubled
 * and no deduplication state is needed here. The frame's seq is part of a point's key
 * (vitals-store.ts FrameSeq), so another frame at the same device time — a clock stepped back by
 * whole frames — does not overwrite them.
 */
import type { EcgStrip } from '../contracts/ecg-strip.ts';
import type { Beat, TelemetryRecord } from '../contracts/telemetry.ts';
import { STREAMS } from '../contracts/topics.ts';
import type { Bus, ConsumedMessage, Subscription } from '../platform/bus/index.ts';
import type { Logger } from '../platform/log.ts';
import type { MetricsRegistry } from '../platform/metrics.ts';
import type { HeartRatePoint, RrPoint, VitalsStore } from '../platform/store/index.ts';
import { vitalsFromFrame } from './vitals.ts';

/** A batch of points of ECG-derived beats (STREAMS.derivedVitals). */
export interface DerivedVitalsRecord {
  schema: 'pb.derived-vitals.v1';
  points: { heartRate: HeartRatePoint[]; rr: RrPoint[] };
  /**
   * The derived beat frames themselves, with or without beats, in device-time order per stream:
   * the board's live heart rate (dashboard-api/live-vitals.ts) needs to know up to when the beats
   * are final, so that a silence shows. Optional: records of earlier processors lack it.
   */
  frames?: DerivedBeatFrame[];
}

/** One frame of ECG-derived beats (processor/ecg-beats.ts): device time [ts, ts + durMs), its beats. */
export interface DerivedBeatFrame {
  patientId: string;
  deviceId: string;
  ts: number;
  durMs: number;
  beats: Beat[];
}

export interface StoreSinkOptions {
  bus: Bus;
  store: VitalsStore;
  logger: Logger;
  metrics: MetricsRegistry;
  /** Consumer group of the sink (the processor uses `<its group>-store`; `-derived` and `-strips` are appended for the other two streams). */
  groupId: string;
  fromBeginning: boolean;
  /** Longest wait between two attempts of a failed write, ms. Default 5000. */
  maxBackoffMs?: number;
}

export interface StoreSink {
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Resolves once no batch is being written (tests). */
  settled(): Promise<void>;
  /** The store is failing right now (since when, wall clock), for health reports. */
  readonly failingSinceMs: number | undefined;
}

export function createStoreSink(o: StoreSinkOptions): StoreSink {
  const points = o.metrics.counter('pb_processor_store_points_total', 'Points written to the vitals store, by kind');
  const retries = o.metrics.counter('pb_processor_output_retries_total', 'Store writes or alert publishes retried, by output');
  const failing = o.metrics.gauge('pb_processor_store_failing', '1 while writes to the vitals store fail (points wait on the bus)');
  const maxBackoffMs = o.maxBackoffMs ?? 5000;
  const subscriptions: Subscription[] = [];
  let stopping = false;
  let failingSinceMs: number | undefined;
  let inFlight: Promise<void> = Promise.resolve();

  const write = (heartRate: HeartRatePoint[], rr: RrPoint[]) => retry(async () => {
    await o.store.write({ heartRate, rr });
    points.inc({ kind: 'heart_rate' }, heartRate.length);
    points.inc({ kind: 'rr' }, rr.length);
  });

  const retry = async (fn: () => Promise<void>) => {
    for (let attempt = 0; ; attempt++) {
      try {
        await fn();
        if (failingSinceMs !== undefined) {
          o.logger.info('vitals store writes again; catching up from the bus', { failedForMs: Date.now() - failingSinceMs });
          failingSinceMs = undefined;
          failing.set({}, 0);
        }
        return;
      } catch (err) {
        // Stopping: give the batch back uncommitted; the next consumer re-reads it.
        if (stopping) throw err;
        if (failingSinceMs === undefined) {
          failingSinceMs = Date.now();
          failing.set({}, 1);
          o.logger.error('vitals store write failed; points wait on the bus and are retried (detection goes on)', { err: err as Error });
        } else {
          o.logger.warn('vitals store write failed; retrying', { attempt, err: err as Error });
        }
        retries.inc({ output: 'store write' });
        await new Promise((r) => setTimeout(r, Math.min(maxBackoffMs, 100 * 2 ** attempt)));
      }
    }
  };

  /** Tracks the batch in flight (for settled()) while `fn` writes it. */
  const tracked = (fn: (batch: ConsumedMessage[]) => Promise<void>) => (batch: ConsumedMessage[]) => {
    const run = fn(batch);
    inFlight = Promise.all([inFlight, run.catch(() => {})]).then(() => {});
    return run;
  };
  const parse = <T>(m: ConsumedMessage): T | undefined => {
    try {
      return JSON.parse(m.value.toString('utf8')) as T;
    } catch {
      return undefined; // the detection consumer dead-letters unreadable telemetry
    }
  };

  const onTelemetry = tracked(async (batch) => {
    const heartRate: HeartRatePoint[] = [];
    const rr: RrPoint[] = [];
    for (const m of batch) {
      const record = parse<TelemetryRecord>(m);
      if (record?.schema !== 'pb.telemetry.v1' || !record.frame) continue;
      const v = vitalsFromFrame(record);
      heartRate.push(...v.heartRate);
      rr.push(...v.rr);
    }
    if (heartRate.length > 0 || rr.length > 0) await write(heartRate, rr);
  });

  const onDerived = tracked(async (batch) => {
    const heartRate: HeartRatePoint[] = [];
    const rr: RrPoint[] = [];
    for (const m of batch) {
      const record = parse<DerivedVitalsRecord>(m);
      if (record?.schema !== 'pb.derived-vitals.v1') continue;
      heartRate.push(...record.points.heartRate);
      rr.push(...record.points.rr);
    }
    if (heartRate.length > 0 || rr.length > 0) await write(heartRate, rr);
  });

  const onStrips = tracked(async (batch) => {
    const strips = batch.map((m) => parse<EcgStrip>(m)).filter((s): s is EcgStrip => typeof s?.alertId === 'string');
    if (strips.length > 0) await retry(() => o.store.writeEcgStrips(strips));
  });

  return {
    get failingSinceMs() { return failingSinceMs; },
    async start() {
      subscriptions.push(await o.bus.subscribe(STREAMS.telemetry, { groupId: o.groupId, fromBeginning: o.fromBeginning, onBatch: onTelemetry }));
      subscriptions.push(await o.bus.subscribe(STREAMS.derivedVitals, { groupId: `${o.groupId}-derived`, fromBeginning: o.fromBeginning, onBatch: onDerived }));
      subscriptions.push(await o.bus.subscribe(STREAMS.ecgStrips, { groupId: `${o.groupId}-strips`, fromBeginning: o.fromBeginning, onBatch: onStrips }));
    },
    async stop() {
      stopping = true;
      await Promise.all(subscriptions.map((s) => s.stop()));
    },
    async settled() {
      for (;;) {
        const current = inFlight;
        await current;
        await new Promise((r) => setImmediate(r));
        if (current === inFlight) return;
      }
    },
  };
}
