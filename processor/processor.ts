/**
 * The stream processor: consumes the telemetry stream, drops duplicate frames, writes heart rate
 * and RR intervals to the time-series store, runs the detectors per patient stream on device
 * time, and publishes alert snapshots to the alerts stream.
 *
 * Per batch: analyse every record, then write the store and publish the alerts, and only then let
 * the bus commit. Analysis changes in-memory state (dedup, detectors), so a failed output is not
 * handed back to the bus for re-delivery (the frames would then look like duplicates): it is
 * retried in place until the store and the bus accept it. A crash before the commit re-delivers
 * the batch to a fresh process; alert ids are deterministic (patient, kind, onset) and store
 * writes are keyed by time, so re-processing is harmless.
 */
import type { Alert, AlertEnvelope } from '../contracts/alert.ts';
import type { TelemetryRecord } from '../contracts/telemetry.ts';
import { STREAMS } from '../contracts/topics.ts';
import type { Bus, ConsumedMessage, Subscription } from '../platform/bus.ts';
import type { Logger } from '../platform/log.ts';
import type { MetricsRegistry } from '../platform/metrics.ts';
import type { HeartRatePoint, RrPoint, VitalsStore } from '../platform/vitals-store.ts';
import { FrameDeduplicator } from './dedup.ts';
import { AsystoleDetector } from './detectors/asystole.ts';
import type { Detector } from './detectors/detector.ts';
import { createExtremeBradyDetector } from './detectors/extreme-brady.ts';
import { createExtremeTachyDetector } from './detectors/extreme-tachy.ts';
import { PatientStream } from './patient-stream.ts';
import { vitalsFromFrame } from './vitals.ts';

export interface ProcessorOptions {
  bus: Bus;
  store: VitalsStore;
  logger: Logger;
  metrics: MetricsRegistry;
  /** Consumer group; processor instances in one group share the partitions. */
  groupId?: string;
  /** Where a group without a committed position starts (default: the beginning of the stream). */
  fromBeginning?: boolean;
  /** Detector set for a new patient stream (default: asystole, extreme brady, extreme tachy). */
  detectorsFor?: (patientId: string) => Detector[];
  now?: () => number;
}

export function defaultDetectors(): Detector[] {
  return [new AsystoleDetector(), createExtremeBradyDetector(), createExtremeTachyDetector()];
}

export interface Processor {
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Analyses one batch of telemetry messages (exposed for tests and the evaluation harness). */
  handleBatch(messages: ConsumedMessage[]): Promise<void>;
}

export function createProcessor(options: ProcessorOptions): Processor {
  const { bus, store, logger, metrics } = options;
  const now = options.now ?? Date.now;
  const detectorsFor = options.detectorsFor ?? (() => defaultDetectors());
  const dedup = new FrameDeduplicator();
  const streams = new Map<string, PatientStream>();
  let subscription: Subscription | undefined;

  const framesProcessed = metrics.counter('pb_processor_frames_total', 'Telemetry frames analysed');
  const duplicates = metrics.counter('pb_processor_duplicate_frames_total', 'Duplicate frames dropped (same device, seq and ts)');
  const lateFrames = metrics.counter('pb_processor_late_frames_total', 'Frames older than the stream watermark: stored, not analysed');
  const invalid = metrics.counter('pb_processor_invalid_records_total', 'Records on the telemetry stream that could not be parsed');
  const alertsPublished = metrics.counter('pb_processor_alert_snapshots_total', 'Alert snapshots published, by kind');

  const streamFor = (patientId: string, deviceId: string) => {
    const key = `${patientId}\n${deviceId}`;
    let s = streams.get(key);
    if (!s) { s = new PatientStream(patientId, deviceId, detectorsFor(patientId)); streams.set(key, s); }
    return s;
  };

  const handleBatch = async (messages: ConsumedMessage[]) => {
    const heartRate: HeartRatePoint[] = [];
    const rr: RrPoint[] = [];
    const alerts: Alert[] = [];
    const nowIso = new Date(now()).toISOString();
    for (const m of messages) {
      let record: TelemetryRecord;
      try {
        record = JSON.parse(m.value.toString('utf8')) as TelemetryRecord;
        if (record.schema !== 'pb.telemetry.v1') throw new Error(`unexpected schema ${String(record.schema)}`);
      } catch (err) {
        // The gateway validated every frame; a bad record here is a bug or a foreign producer.
        // Count it and dead-letter it rather than crash or block the partition.
        invalid.inc();
        const dead = { key: m.key, value: Buffer.from(JSON.stringify({
          schema: 'pb.deadletter.v1', deviceId: 'unknown', topic: STREAMS.telemetry, reason: 'invalid_record',
          detail: (err as Error).message, payloadBase64: m.value.toString('base64'), receivedAt: now(),
        })) };
        await retryInPlace('dead-letter publish', () => bus.publish(STREAMS.deadLetter, [dead]));
        continue;
      }
      const { frame, deviceId, patientId } = record;
      if (!dedup.firstSight(deviceId, frame.seq, frame.ts)) { duplicates.inc(); continue; }
      framesProcessed.inc();
      const points = vitalsFromFrame(record);
      heartRate.push(...points.heartRate);
      rr.push(...points.rr);
      const stream = streamFor(patientId, deviceId);
      if (stream.watermarkMs !== undefined && frame.ts + frame.durMs <= stream.watermarkMs) {
        // Event-time reordering is not implemented yet: a frame from the analysed past is stored
        // but does not re-run detection.
        lateFrames.inc();
        continue;
      }
      alerts.push(...stream.analyse(frame, nowIso));
    }
    if (heartRate.length > 0 || rr.length > 0) await retryInPlace('store write', () => store.write({ heartRate, rr }));
    if (alerts.length > 0) {
      const messages = alerts.map((alert) => {
        const envelope: AlertEnvelope = { schema: 'pb.alert.v1', source: 'processor', alert };
        return { key: alert.patientId, value: Buffer.from(JSON.stringify(envelope)) };
      });
      await retryInPlace('alert publish', () => bus.publish(STREAMS.alerts, messages));
      for (const a of alerts) alertsPublished.inc({ kind: a.kind });
      logger.info('alerts published', { count: alerts.length, kinds: [...new Set(alerts.map((a) => a.kind))] });
    }
  };

  let stopping = false;
  const outputFailures = metrics.counter('pb_processor_output_retries_total', 'Store writes or alert publishes retried, by output');
  /** Retries an output with capped exponential backoff until it succeeds or the processor stops. */
  const retryInPlace = async (what: string, fn: () => Promise<void>) => {
    for (let attempt = 0; ; attempt++) {
      try {
        return await fn();
      } catch (err) {
        if (stopping) throw err;
        outputFailures.inc({ output: what });
        logger.warn(`${what} failed; retrying`, { attempt, err: err as Error });
        await new Promise((r) => setTimeout(r, Math.min(5000, 100 * 2 ** attempt)));
      }
    }
  };

  return {
    handleBatch,
    async start() {
      subscription = await bus.subscribe(STREAMS.telemetry, {
        groupId: options.groupId ?? 'pulsebridge-processor',
        fromBeginning: options.fromBeginning ?? true,
        onBatch: async (batch) => {
          try {
            await handleBatch(batch);
          } catch (err) {
            logger.error('telemetry batch failed; it will be re-delivered', { err: err as Error, size: batch.length });
            throw err;
          }
        },
      });
    },
    async stop() {
      stopping = true;
      await subscription?.stop();
    },
  };
}
