/**
 * Writes the time series (heart rate, RR) from the telemetry stream to the vitals store, in its
 * OWN consumer group, so the store never blocks detection (issue 13: with InfluxDB down the
 * detection consumer kept retrying the store write in place, no alert left the processor for
 * the whole outage, and every stream then looked silent: a signal_loss flood).
 *
 * While the store is down this consumer retries its batch in place and commits nothing; the
 * frames wait on the bus (Kafka: the log; embedded: the in-process log), and the consumer
 * catches up from its committed position once the store answers again, also after a crash or a
 * restart. Points are idempotent (InfluxDB: one value per series and timestamp; SQLite: INSERT OR
 * REPLACE), so a re-read batch or a resent frame overwrites its own points: nothing is doubled
 * and no deduplication state is needed here.
 */
import type { TelemetryRecord } from '../contracts/telemetry.ts';
import { STREAMS } from '../contracts/topics.ts';
import type { Bus, ConsumedMessage, Subscription } from '../platform/bus/index.ts';
import type { Logger } from '../platform/log.ts';
import type { MetricsRegistry } from '../platform/metrics.ts';
import type { HeartRatePoint, RrPoint, VitalsStore } from '../platform/store/index.ts';
import { vitalsFromFrame } from './vitals.ts';

export interface StoreSinkOptions {
  bus: Bus;
  store: VitalsStore;
  logger: Logger;
  metrics: MetricsRegistry;
  /** Consumer group of the sink (the processor uses `<its group>-store`). */
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
  let subscription: Subscription | undefined;
  let stopping = false;
  let failingSinceMs: number | undefined;
  let inFlight: Promise<void> = Promise.resolve();

  const write = async (heartRate: HeartRatePoint[], rr: RrPoint[]) => {
    for (let attempt = 0; ; attempt++) {
      try {
        await o.store.write({ heartRate, rr });
        if (failingSinceMs !== undefined) {
          o.logger.info('vitals store writes again; catching up from the bus', { failedForMs: Date.now() - failingSinceMs });
          failingSinceMs = undefined;
          failing.set({}, 0);
        }
        points.inc({ kind: 'heart_rate' }, heartRate.length);
        points.inc({ kind: 'rr' }, rr.length);
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

  const onBatch = (batch: ConsumedMessage[]) => {
    const run = (async () => {
      const heartRate: HeartRatePoint[] = [];
      const rr: RrPoint[] = [];
      for (const m of batch) {
        let record: TelemetryRecord;
        try {
          record = JSON.parse(m.value.toString('utf8')) as TelemetryRecord;
        } catch {
          continue; // the detection consumer dead-letters it
        }
        if (record?.schema !== 'pb.telemetry.v1' || !record.frame) continue;
        const v = vitalsFromFrame(record);
        heartRate.push(...v.heartRate);
        rr.push(...v.rr);
      }
      if (heartRate.length > 0 || rr.length > 0) await write(heartRate, rr);
    })();
    inFlight = run.catch(() => {});
    return run;
  };

  return {
    get failingSinceMs() { return failingSinceMs; },
    async start() {
      subscription = await o.bus.subscribe(STREAMS.telemetry, { groupId: o.groupId, fromBeginning: o.fromBeginning, onBatch });
    },
    async stop() {
      stopping = true;
      await subscription?.stop();
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
