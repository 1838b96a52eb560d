/**
 * The stream processor: consumes the telemetry stream, drops duplicate frames, reorders each
 * patient-device stream on device time,
 * runs the detectors and technical monitors chosen by the patient's criteria, and publishes the
 * alarm lifecycle (alarm-lifecycle.ts) as alert snapshots on the alerts stream.
 *
 * Streams it reads besides telemetry, each with its own consumer group per instance:
 * - STREAMS.criteria (per-patient alarm criteria, contracts/criteria.ts);
 * - STREAMS.processorState (its changelog of open episodes, stream-state.ts: restart safety);
 * - STREAMS.alerts (clinician acknowledgements and resolutions, which stop escalation).
 * Before analysing frames of a partition it was not assigned before, it makes sure the first two
 * are read up to now (changelog-table.ts catch-up: the streams' end offsets), so criteria apply and open episodes continue.
 *
 * Per batch: analyse every record, then write the changelog and the alerts (in that order), and
 * only then let the bus commit. Heart rate and RR intervals go to the time-series store through a
 * second consumer of the telemetry stream (store-sink.ts, group `<group>-store`), so a store
 * outage never holds detection back; its points wait on the bus. A crash before the commit re-delivers the batch to a
 * fresh process, which restores the stream from the changelog (written before the alerts, so it
 * knows every alert published) and re-analyses the re-delivered frames without publishing what
 * was already published.
 *
 * The parts, each with one job, read in the order data flows:
 * - telemetry-pipeline.ts — one telemetry batch: parse, dedup, vitals, analysis, outputs;
 * - stream-table.ts — the patient streams owned here and the partition lifecycle (open, restore
 *   from the changelog, catch up on new partitions, let go of streams taken over);
 * - stream-timers.ts — wall-clock duties per stream: signal loss (or, when the gateways' liveness
 *   says the silence is the infrastructure's, one operator alarm: silence-cause.ts,
 *   infrastructure-gap.ts) and escalation;
 * - outputs.ts — changelog and alert writes, retried in place;
 * - store-sink.ts — vitals points to the store, in its own consumer group;
 * - lock.ts — batches, timers and clinician snapshots run one at a time.
 * This file wires them and owns the subscriptions.
 */
import { randomUUID } from 'node:crypto';
import type { AlertEnvelope } from '../contracts/alert.ts';
import type { AlarmCriteria, CriteriaRecord } from '../contracts/criteria.ts';
import { criteriaRecordReader } from './criteria-read.ts';
import { STREAMS } from '../contracts/topics.ts';
import type { Bus, ConsumedMessage, Subscription } from '../platform/bus/index.ts';
import { PulsebridgeError } from '../platform/errors.ts';
import type { Logger } from '../platform/log.ts';
import type { MetricsRegistry } from '../platform/metrics.ts';
import type { VitalsStore } from '../platform/store/index.ts';
import { LIFECYCLE_DEFAULTS, type LifecycleConfig } from './alarm-lifecycle.ts';
import { ChangelogTable } from './changelog-table.ts';
import { systemClock, type Clock } from './clock.ts';
import { detectorsForCriteria } from './detector-set.ts';
import type { Detector } from './detectors/detector.ts';
import { Lock } from './lock.ts';
import { ProcessorOutputs } from './outputs.ts';
import type { ReorderOptions } from './reorder-buffer.ts';
import { parseStreamState, type StreamStateRecord } from './stream-state.ts';
import { StreamTable, type StreamEntry } from './stream-table.ts';
import { StreamTimers } from './stream-timers.ts';
import { TelemetryPipeline } from './telemetry-pipeline.ts';
import { InfrastructureGap } from './infrastructure-gap.ts';
import { ProcessorHeartbeats } from './heartbeat.ts';
import type { UpstreamLiveness } from './silence-cause.ts';
import { createStoreSink } from './store-sink.ts';

export interface ProcessorOptions {
  bus: Bus;
  store: VitalsStore;
  logger: Logger;
  metrics: MetricsRegistry;
  /** Consumer group of the telemetry stream; processor instances in one group share the partitions. */
  groupId?: string;
  /** Where a group without a committed position starts (default: the beginning of the stream). */
  fromBeginning?: boolean;
  /**
   * Physiological detectors of a patient for given criteria (default: detector-set.ts, every
   * enabled kind with its criteria parameters). Called again when the patient's criteria change.
   */
  detectorsFor?: (patientId: string, criteria: AlarmCriteria) => Detector[];
  /** Wall clock and timers (default: the system clock). */
  clock?: Clock;
  /** Wall clock only (older option; `clock` wins). */
  now?: () => number;
  /** Lifecycle numbers (defaults: alarm-lifecycle.ts LIFECYCLE_DEFAULTS). */
  lifecycle?: Partial<LifecycleConfig>;
  /** Reordering tolerance (defaults: reorder-buffer.ts, 5 s of device time). */
  reorder?: ReorderOptions;
  /** This instance's id in the changelog (default: random). */
  instanceId?: string;
  /**
   * How long a graceful stop waits for the batch in progress (one whose outputs are being retried
   * while the bus is down holds on) before it stops without the hand-over records, ms. Default 10 000.
   */
  handoverWaitMs?: number;
  /** How long to wait for the criteria and changelog streams to be read up to now, ms. Default 30 000. */
  catchUpTimeoutMs?: number;
  /**
   * After restoring a stream, escalations wait at least this long (wall clock), so
   * acknowledgements given while no processor ran are read from the alerts stream first. Default 5000.
   */
  restoreEscalationGraceMs?: number;
  /**
   * The gateways' liveness (the registry's DeviceLivenessStore: the bus fold on Kafka, SQLite
   * embedded). With it, a silence caused by the bus, a gateway or lag raises one operator alarm
   * instead of patient signal-loss alarms (silence-cause.ts). Without it every silence is the device's.
   */
  upstream?: UpstreamLiveness;
}

/** The default physiological detector set (fhir-and-alarms.md §5 defaults, every kind). */
export function defaultDetectors(): Detector[] {
  return detectorsForCriteria();
}

export interface Processor {
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Analyses one batch of telemetry messages (exposed for tests and the evaluation harness). */
  handleBatch(messages: ConsumedMessage[]): Promise<void>;
  /** Resolves once no batch, timer or acknowledgement work is in progress or queued (tests). */
  settled(): Promise<void>;
}

export function createProcessor(options: ProcessorOptions): Processor {
  const { bus, store, logger, metrics } = options;
  const clock: Clock = options.clock ?? (options.now ? { ...systemClock, now: options.now } : systemClock);
  const instanceId = options.instanceId ?? randomUUID();
  const groupId = options.groupId ?? 'pulsebridge-processor';
  /**
   * Changelog key of a stream: prefixed with the telemetry consumer group, so independent
   * processor deployments (groups) reading the same telemetry never take each other's state.
   */
  const stateKey = (key: string) => `${groupId}\n${key}`;
  const lock = new Lock();
  let stopping = false;
  const isStopping = () => stopping;

  const criteria = new ChangelogTable<CriteriaRecord>({
    // Groups of this instance alone (its instance id): deleted when it stops.
    bus, stream: STREAMS.criteria, groupId: `pulsebridge-processor-criteria-${instanceId}`, ephemeralGroup: true, logger,
    // Fields of a newer version's criteria are dropped with a warning (rolling deploys).
    parse: criteriaRecordReader(logger),
  });
  const state = new ChangelogTable<StreamStateRecord>({
    bus, stream: STREAMS.processorState, groupId: `pulsebridge-processor-state-${instanceId}`, ephemeralGroup: true, logger,
    parse: (_key, value) => parseStreamState(value),
  });

  const outputs = new ProcessorOutputs({ bus, logger, metrics, clock, instanceId, stateKey, stopping: isStopping });
  const sink = createStoreSink({ bus, store, logger, metrics, groupId: `${groupId}-store`, fromBeginning: options.fromBeginning ?? true });
  const gap = new InfrastructureGap({ bus, logger, metrics, clock, instanceId });
  const heartbeats = new ProcessorHeartbeats({ bus, clock, logger, instanceId, groupId });
  // `streams` is created below; timers only need to know whether the changelog is written.
  const timers = new StreamTimers({ clock, lock, logger, outputs, withChangelog: () => streams.started, stopping: isStopping,
    ...(options.upstream ? { upstream: options.upstream, gap } : {}) });
  const streams = new StreamTable({
    logger, metrics, clock, instanceId, criteria, state, stateKey,
    lifecycle: { ...LIFECYCLE_DEFAULTS, ...options.lifecycle },
    ...(options.detectorsFor ? { detectorsFor: options.detectorsFor } : {}),
    ...(options.reorder ? { reorder: options.reorder } : {}),
    catchUpTimeoutMs: options.catchUpTimeoutMs ?? 30_000,
    restoreEscalationGraceMs: options.restoreEscalationGraceMs ?? 5000,
    onDrop: (entry) => timers.clear(entry),
  });
  const pipeline = new TelemetryPipeline({ streams, outputs, timers, clock, metrics, logger });
  const clinicianUpdates = metrics.counter('pb_processor_clinician_snapshots_total', 'Clinician snapshots (ack, resolve) read from the alerts stream');

  const handleBatch = (messages: ConsumedMessage[]) => lock.run(() => {
    // After the hand-over records (stop) a batch analysed here would move the streams past them.
    if (stopping) throw new PulsebridgeError('PB_PROCESSOR_STOPPING', 'the processor is stopping: the batch is left to its successor');
    return pipeline.analyse(messages);
  });

  /** Acknowledgements and resolutions stop escalation; they reach the stream tracking the alert. */
  const handleClinicianSnapshots = (messages: ConsumedMessage[]) => lock.run(async () => {
    const touched = new Set<StreamEntry>();
    for (const m of messages) {
      let envelope: AlertEnvelope;
      try {
        envelope = JSON.parse(m.value.toString('utf8')) as AlertEnvelope;
      } catch {
        continue;
      }
      if (envelope?.schema !== 'pb.alert.v1' || envelope.source !== 'clinician' || typeof envelope.alert?.id !== 'string') continue;
      clinicianUpdates.inc();
      const entry = streams.applyClinician(envelope.alert);
      if (entry) touched.add(entry);
    }
    if (touched.size === 0) return;
    await outputs.writeStreams(touched, [], streams.started);
    for (const e of touched) timers.syncEscalation(e);
  });

  let telemetrySub: Subscription | undefined;
  let alertsSub: Subscription | undefined;
  return {
    handleBatch,
    async settled() {
      await lock.settled();
      await sink.settled();
      await gap.flushed();
    },
    async start() {
      await bus.ensureStreams([
        { name: STREAMS.criteria, partitions: 1, compacted: true },
        { name: STREAMS.processorState, partitions: 1, compacted: true },
        { name: STREAMS.ecgStrips, partitions: 6 },
        { name: STREAMS.operatorAlarms, partitions: 1, compacted: true },
        { name: STREAMS.processorHeartbeats, partitions: 1, compacted: true },
        { name: STREAMS.derivedVitals, partitions: 6 },
      ]);
      const criteriaRecords = metrics.counter('pb_processor_criteria_records_total', 'Per-patient criteria records read');
      criteria.onChange(() => criteriaRecords.inc());
      await Promise.all([criteria.start(), state.start()]);
      state.onChange((sk, rec) => streams.onChangelogRecord(sk, rec));
      streams.started = true;
      alertsSub = await bus.subscribe(STREAMS.alerts, {
        groupId: `pulsebridge-processor-alerts-${instanceId}`,
        ephemeralGroup: true,
        fromBeginning: true,
        onBatch: handleClinicianSnapshots,
      });
      await sink.start();
      telemetrySub = await bus.subscribe(STREAMS.telemetry, {
        groupId,
        fromBeginning: options.fromBeginning ?? true,
        onBatch: async (batch) => {
          try {
            await handleBatch(batch);
          } catch (err) {
            if (!stopping) logger.error('telemetry batch failed; it will be re-delivered', { err: err as Error, size: batch.length });
            throw err;
          }
        },
      });
      // Only now: evaluating alarms is what the heartbeat says.
      heartbeats.start();
    },
    async stop() {
      // A graceful stop (SIGTERM: a rolling deploy, a scale-in) hands every stream over exactly.
      // Under the batch lock, so no batch is half analysed: each stream's record is written once
      // more with what a successor needs even where nothing is pending (the beat a silence counts
      // from, an ECG-only stream's beat source, the AF detector's inputs: StreamRuntime.record
      // `handover`), and batches are refused from then on (the bus keeps them for the successor),
      // all before this processor leaves the consumer group. Without it a successor resumes from
      // the latest regular records, as after a crash (e.g. an ECG-only asystole restarted in its
      // first 2 s was missed: EVALUATION.md §3 "Restarts during a silence").
      let timer: NodeJS.Timeout | undefined;
      const handedOver = lock.run(async () => {
        // The wait below bounds getting the lock, not the writing: once it is ours the records are
        // written (the bus rejects a publish it cannot make). A bound on the writing could give up
        // while records are still on their way, and a successor could then read one after it had
        // gone on past it. (At 1,000 ECG-only devices: 497 streams, 9.0 MB, 1.4 s under load, bench:e2e.)
        clearTimeout(timer);
        if (!stopping && streams.started) {
          try {
            const assigned = telemetrySub?.assignedPartitions?.() ?? [];
            const startedMs = Date.now();
            const written = await outputs.writeHandover(streams.all(), assigned);
            logger.info('streams handed over', { ...written, partitions: assigned, ms: Date.now() - startedMs });
          } catch (err) {
            logger.warn('hand-over records not written; a successor resumes from the latest records', { err: err as Error });
          }
        }
        stopping = true;
      });
      // A batch whose outputs are being retried (the bus down) holds the lock until the processor
      // stops: after a while stop without the hand-over rather than wait for ever.
      const handoverWaitMs = options.handoverWaitMs ?? 10_000;
      const gaveUp = new Promise<void>((resolve) => {
        timer = setTimeout(() => {
          if (!stopping) logger.warn('no hand-over: a batch still holds the processor; stopping without it', { waitedMs: handoverWaitMs });
          stopping = true;
          resolve();
        }, handoverWaitMs);
      });
      await Promise.race([handedOver, gaveUp]);
      clearTimeout(timer);
      heartbeats.stop();
      await telemetrySub?.stop();
      await sink.stop();
      await alertsSub?.stop();
      for (const e of streams.all()) streams.drop(e);
      await Promise.all([criteria.stop(), state.stop()]);
    },
  };
}
