/**
 * The stream processor: consumes the telemetry stream, drops duplicate frames, writes heart rate
 * and RR intervals to the time-series store, reorders each patient-device stream on device time,
 * runs the detectors and technical monitors chosen by the patient's criteria, and publishes the
 * alarm lifecycle (alarm-lifecycle.ts) as alert snapshots on the alerts stream.
 *
 * Streams it reads besides telemetry, each with its own consumer group per instance:
 * - STREAMS.criteria (per-patient alarm criteria, contracts/criteria.ts);
 * - STREAMS.processorState (its changelog of open episodes, stream-state.ts: restart safety);
 * - STREAMS.alerts (clinician acknowledgements and resolutions, which stop escalation).
 * Before analysing frames of a partition it was not assigned before, it makes sure the first two
 * are read up to now (changelog-table.ts barrier), so criteria apply and open episodes continue.
 *
 * Per batch: analyse every record, then write the store, the changelog and the alerts (in that
 * order), and only then let the bus commit. Analysis changes in-memory state (dedup, detectors),
 * so a failed output is not handed back to the bus for re-delivery (the frames would then look
 * like duplicates): it is retried in place until the store and the bus accept it. A crash before
 * the commit re-delivers the batch to a fresh process, which restores the stream from the
 * changelog (written before the alerts, so it knows every alert published) and re-analyses the
 * re-delivered frames without publishing what was already published.
 *
 * Wall-clock duties (injected {@link Clock}): signal loss (no frame of a stream for
 * `signal_loss.silenceMs`, default 10 s) and escalation of unacknowledged high-priority alerts.
 * Timer work runs under the same lock as batches, so the state never changes under a batch.
 */
import { randomUUID } from 'node:crypto';
import type { Alert, AlertEnvelope } from '../contracts/alert.ts';
import { criteriaAt, criteriaRecordSchema, type AlarmCriteria, type CriteriaRecord, type CriteriaVersion } from '../contracts/criteria.ts';
import type { TelemetryRecord } from '../contracts/telemetry.ts';
import { STREAMS } from '../contracts/topics.ts';
import type { Bus, BusMessage, ConsumedMessage, Subscription } from '../platform/bus/index.ts';
import type { Logger } from '../platform/log.ts';
import type { MetricsRegistry } from '../platform/metrics.ts';
import type { HeartRatePoint, RrPoint, VitalsStore } from '../platform/store/index.ts';
import { LIFECYCLE_DEFAULTS, type LifecycleConfig } from './alarm-lifecycle.ts';
import { ChangelogTable } from './changelog-table.ts';
import { systemClock, type Clock, type TimerHandle } from './clock.ts';
import { FrameDeduplicator } from './dedup.ts';
import { detectorsForCriteria } from './detector-set.ts';
import type { Detector } from './detectors/detector.ts';
import type { ReorderOptions } from './reorder-buffer.ts';
import { StreamRuntime, type StreamRuntimeOptions } from './stream-runtime.ts';
import { parseStreamState, STATE_WRITE_INTERVAL_MS, streamKey, type StreamStateRecord } from './stream-state.ts';
import { vitalsFromFrame } from './vitals.ts';

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
  /** How long to wait for the criteria and changelog streams to be read up to now, ms. Default 30 000. */
  catchUpTimeoutMs?: number;
  /**
   * After restoring a stream, escalations wait at least this long (wall clock), so
   * acknowledgements given while no processor ran are read from the alerts stream first. Default 5000.
   */
  restoreEscalationGraceMs?: number;
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

interface Entry {
  key: string;
  rt: StreamRuntime;
  /** Wall-clock time of the latest frame arrival. */
  lastArrivalMs: number;
  silenceTimer?: TimerHandle;
  escalationTimer?: TimerHandle;
  escalationDueMs?: number;
  /** Escalations of restored alerts wait until then (wall clock). */
  notBeforeMs: number;
  lastWrittenFingerprint?: string;
  lastWrittenUntilMs?: number;
}

/** Serializes async work (batches, timers, acknowledgements). */
class Lock {
  #tail: Promise<void> = Promise.resolve();
  run<T>(fn: () => Promise<T>): Promise<T> {
    const result = this.#tail.then(fn);
    this.#tail = result.then(() => {}, () => {});
    return result;
  }
  async settled(): Promise<void> {
    for (;;) {
      const tail = this.#tail;
      await tail;
      // Let timer callbacks that were just fired enqueue their work.
      await new Promise((r) => setImmediate(r));
      if (tail === this.#tail) return;
    }
  }
}

const MAX_REMEMBERED_CLINICIAN = 100_000;

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
  const lifecycle: LifecycleConfig = { ...LIFECYCLE_DEFAULTS, ...options.lifecycle };
  const catchUpTimeoutMs = options.catchUpTimeoutMs ?? 30_000;
  const graceMs = options.restoreEscalationGraceMs ?? 5000;
  const dedup = new FrameDeduplicator();
  const entries = new Map<string, Entry>();
  const seenPartitions = new Set<number>();
  /** Clinician snapshots of alerts not (yet) tracked here, for streams restored later. */
  const clinicianSnapshots = new Map<string, Alert>();
  const lock = new Lock();
  let telemetrySub: Subscription | undefined;
  let alertsSub: Subscription | undefined;
  let started = false;
  let stopping = false;

  const criteria = new ChangelogTable<CriteriaRecord>({
    bus, stream: STREAMS.criteria, groupId: `pulsebridge-processor-criteria-${instanceId}`, logger,
    parse: (_key, value) => criteriaRecordSchema.safeParse(value).data,
  });
  const state = new ChangelogTable<StreamStateRecord>({
    bus, stream: STREAMS.processorState, groupId: `pulsebridge-processor-state-${instanceId}`, logger,
    parse: (_key, value) => parseStreamState(value),
  });

  const framesProcessed = metrics.counter('pb_processor_frames_total', 'Telemetry frames analysed');
  const duplicates = metrics.counter('pb_processor_duplicate_frames_total', 'Duplicate frames dropped (same device, seq and ts)');
  const lateFrames = metrics.counter('pb_processor_late_frames_total', 'Frames older than the stream watermark: stored, not analysed');
  const replayedFrames = metrics.counter('pb_processor_replayed_frames_total', 'Frames re-analysed after a restore (detector state only)');
  const invalid = metrics.counter('pb_processor_invalid_records_total', 'Records on the telemetry stream that could not be parsed');
  const alertsPublished = metrics.counter('pb_processor_alert_snapshots_total', 'Alert snapshots published, by kind');
  const stateWrites = metrics.counter('pb_processor_state_writes_total', 'Changelog records written (processor state per stream)');
  const restores = metrics.counter('pb_processor_stream_restores_total', 'Streams restored from the changelog');
  const catchUpTimeouts = metrics.counter('pb_processor_catch_up_timeouts_total', 'Criteria/changelog catch-ups that timed out (analysis went on)');
  const outputFailures = metrics.counter('pb_processor_output_retries_total', 'Store writes or alert publishes retried, by output');
  const clinicianUpdates = metrics.counter('pb_processor_clinician_snapshots_total', 'Clinician snapshots (ack, resolve) read from the alerts stream');

  const isoNow = () => new Date(clock.now()).toISOString();
  const criteriaFor = (patientId: string) => (tsMs: number): CriteriaVersion => criteriaAt(criteria.get(patientId)?.versions ?? [], tsMs);

  const runtimeOptions = (patientId: string, deviceId: string): StreamRuntimeOptions => ({
    patientId,
    deviceId,
    criteriaAt: criteriaFor(patientId),
    lifecycle,
    ...(options.detectorsFor ? { detectors: options.detectorsFor } : {}),
    ...(options.reorder ? { reorder: options.reorder } : {}),
  });

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

  // ---- streams ------------------------------------------------------------------------------

  /** Creates (or restores from the changelog) a stream; restored alerts are added to `republish`. */
  const openStream = (key: string, patientId: string, deviceId: string, republish: Alert[]): Entry => {
    const record = started ? state.get(stateKey(key)) : undefined;
    const nowMs = clock.now();
    let rt: StreamRuntime;
    if (record) {
      rt = StreamRuntime.restore(runtimeOptions(patientId, deviceId), record);
      restores.inc();
      for (const a of rt.trackedAlerts()) {
        const c = clinicianSnapshots.get(a.id);
        if (c) rt.onClinician(c);
      }
      // The previous owner may have died between writing the changelog and publishing these.
      republish.push(...rt.trackedAlerts());
      logger.info('stream restored from the changelog', { patientId, deviceId, from: record.owner, tracked: rt.trackedAlerts().length });
    } else {
      rt = new StreamRuntime(runtimeOptions(patientId, deviceId));
    }
    const entry: Entry = { key, rt, lastArrivalMs: nowMs, notBeforeMs: record ? nowMs + graceMs : 0 };
    entries.set(key, entry);
    return entry;
  };

  const dropStream = (entry: Entry) => {
    if (entry.silenceTimer) clock.clearTimeout(entry.silenceTimer);
    if (entry.escalationTimer) clock.clearTimeout(entry.escalationTimer);
    entries.delete(entry.key);
  };

  const armSilence = (entry: Entry) => {
    if (entry.silenceTimer || entry.rt.signalLossOpen || stopping) return;
    const dueMs = entry.lastArrivalMs + entry.rt.silenceMs;
    entry.silenceTimer = clock.setTimeout(() => {
      entry.silenceTimer = undefined;
      void lock.run(() => onSilence(entry)).catch((err: unknown) => logger.error('signal-loss handling failed', { err: err as Error }));
    }, dueMs - clock.now());
  };

  const onSilence = async (entry: Entry) => {
    if (entries.get(entry.key) !== entry || stopping) return;
    const silenceMs = entry.rt.silenceMs;
    if (clock.now() - entry.lastArrivalMs < silenceMs) return armSilence(entry);
    const alerts = entry.rt.onSilence(isoNow(), silenceMs);
    await writeOutputs([entry], alerts);
    syncEscalation(entry);
  };

  const syncEscalation = (entry: Entry) => {
    if (stopping) return;
    let due = entry.rt.nextEscalationDueMs();
    if (due !== undefined) due = Math.max(due, entry.notBeforeMs);
    if (due === entry.escalationDueMs && (due === undefined || entry.escalationTimer)) return;
    if (entry.escalationTimer) clock.clearTimeout(entry.escalationTimer);
    entry.escalationTimer = undefined;
    entry.escalationDueMs = due;
    if (due === undefined) return;
    entry.escalationTimer = clock.setTimeout(() => {
      entry.escalationTimer = undefined;
      entry.escalationDueMs = undefined;
      void lock.run(() => onEscalation(entry)).catch((err: unknown) => logger.error('escalation failed', { err: err as Error }));
    }, due - clock.now());
  };

  const onEscalation = async (entry: Entry) => {
    if (entries.get(entry.key) !== entry || stopping) return;
    const alerts = entry.rt.escalate(clock.now());
    if (alerts.length > 0) logger.warn('unacknowledged high-priority alert escalated', { ids: alerts.map((a) => a.id), levels: alerts.map((a) => a.escalationLevel) });
    await writeOutputs([entry], alerts);
    syncEscalation(entry);
  };

  /** Changelog records (when changed), then alert snapshots: the changelog always knows what was published. */
  const writeOutputs = async (touched: Iterable<Entry>, alerts: Alert[]) => {
    if (started) {
      const records: BusMessage[] = [];
      for (const e of new Set(touched)) {
        if (entries.get(e.key) !== e) continue;
        const fingerprint = e.rt.contentFingerprint();
        const until = e.rt.analysedUntilMs;
        const moved = until !== undefined && (e.lastWrittenUntilMs === undefined || until - e.lastWrittenUntilMs >= STATE_WRITE_INTERVAL_MS);
        if (fingerprint === e.lastWrittenFingerprint && !moved) continue;
        records.push({ key: stateKey(e.key), value: Buffer.from(JSON.stringify(e.rt.record(instanceId, clock.now()))) });
        e.lastWrittenFingerprint = fingerprint;
        if (until !== undefined) e.lastWrittenUntilMs = until;
      }
      if (records.length > 0) {
        await retryInPlace('state write', () => bus.publish(STREAMS.processorState, records));
        stateWrites.inc({}, records.length);
      }
    }
    if (alerts.length > 0) {
      const messages = alerts.map((alert) => {
        const envelope: AlertEnvelope = { schema: 'pb.alert.v1', source: 'processor', alert };
        // The header names the instance that published it (diagnostics with several processors).
        return { key: alert.patientId, value: Buffer.from(JSON.stringify(envelope)), headers: { 'pb-processor': instanceId } };
      });
      await retryInPlace('alert publish', () => bus.publish(STREAMS.alerts, messages));
      for (const a of alerts) alertsPublished.inc({ kind: a.kind });
      logger.info('alerts published', { count: alerts.length, kinds: [...new Set(alerts.map((a) => a.kind))] });
    }
  };

  // ---- telemetry ---------------------------------------------------------------------------

  const handleBatch = (messages: ConsumedMessage[]) => lock.run(async () => {
    const heartRate: HeartRatePoint[] = [];
    const rr: RrPoint[] = [];
    const alerts: Alert[] = [];
    const touched = new Set<Entry>();
    const nowIso = isoNow();
    const parsed: { m: ConsumedMessage; record: TelemetryRecord }[] = [];
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
          detail: (err as Error).message, payloadBase64: m.value.toString('base64'), receivedAt: clock.now(),
        })) };
        await retryInPlace('dead-letter publish', () => bus.publish(STREAMS.deadLetter, [dead]));
        continue;
      }
      parsed.push({ m, record });
    }

    // A partition new to this instance (start, rebalance): read criteria and the changelog up to
    // now first, so its streams continue where their previous owner left them. Afterwards both
    // are followed continuously; a change that arrives a moment late applies from the next frame.
    const newPartitions = [...new Set(parsed.map((p) => p.m.partition))].filter((p) => !seenPartitions.has(p));
    if (started && newPartitions.length > 0) {
      const [s, c] = await Promise.all([state.catchUp(catchUpTimeoutMs), criteria.catchUp(catchUpTimeoutMs)]);
      if (!s || !c) {
        catchUpTimeouts.inc();
        logger.warn('criteria or changelog not read up to now in time; analysing with what is known', { changelog: s, criteria: c });
      }
    }
    for (const p of newPartitions) {
      seenPartitions.add(p);
      if (!started) continue;
      // Streams of this partition that were known before (they may be silent now): watch them.
      for (const [sk, rec] of [...state.entries()]) {
        const key = streamKey(rec.patientId, rec.deviceId);
        if (sk !== stateKey(key) || rec.partition !== p || entries.has(key)) continue;
        const entry = openStream(key, rec.patientId, rec.deviceId, alerts);
        touched.add(entry);
      }
    }

    for (const { m, record } of parsed) {
      const { frame, deviceId, patientId } = record;
      if (!dedup.firstSight(deviceId, frame.seq, frame.ts)) { duplicates.inc(); continue; }
      framesProcessed.inc();
      const points = vitalsFromFrame(record);
      heartRate.push(...points.heartRate);
      rr.push(...points.rr);
      const key = streamKey(patientId, deviceId);
      const entry = entries.get(key) ?? openStream(key, patientId, deviceId, alerts);
      entry.rt.partition = m.partition;
      entry.lastArrivalMs = clock.now();
      touched.add(entry);
      const result = entry.rt.ingest(frame, nowIso);
      if (result.late) lateFrames.inc();
      if (result.replayed) replayedFrames.inc();
      alerts.push(...result.alerts);
    }
    if (heartRate.length > 0 || rr.length > 0) await retryInPlace('store write', () => store.write({ heartRate, rr }));
    await writeOutputs(touched, alerts);
    for (const e of touched) {
      armSilence(e);
      syncEscalation(e);
    }
  });

  // ---- clinicians -------------------------------------------------------------------------

  const handleAlerts = (messages: ConsumedMessage[]) => lock.run(async () => {
    const touched = new Set<Entry>();
    for (const m of messages) {
      let envelope: AlertEnvelope;
      try {
        envelope = JSON.parse(m.value.toString('utf8')) as AlertEnvelope;
      } catch {
        continue;
      }
      if (envelope?.schema !== 'pb.alert.v1' || envelope.source !== 'clinician' || typeof envelope.alert?.id !== 'string') continue;
      const alert = envelope.alert;
      clinicianUpdates.inc();
      const entry = entries.get(streamKey(alert.patientId, alert.deviceId));
      if (entry?.rt.onClinician(alert)) {
        touched.add(entry);
        continue;
      }
      clinicianSnapshots.delete(alert.id);
      clinicianSnapshots.set(alert.id, alert);
      if (clinicianSnapshots.size > MAX_REMEMBERED_CLINICIAN) clinicianSnapshots.delete(clinicianSnapshots.keys().next().value!);
    }
    if (touched.size === 0) return;
    await writeOutputs(touched, []);
    for (const e of touched) syncEscalation(e);
  });

  return {
    handleBatch,
    settled: () => lock.settled(),
    async start() {
      await bus.ensureStreams([
        { name: STREAMS.criteria, partitions: 1, compacted: true },
        { name: STREAMS.processorState, partitions: 1, compacted: true },
      ]);
      const criteriaRecords = metrics.counter('pb_processor_criteria_records_total', 'Per-patient criteria records read');
      criteria.onChange(() => criteriaRecords.inc());
      await Promise.all([criteria.start(), state.start()]);
      // Another instance wrote a stream we hold: the stream moved to it (rebalance). Let go.
      state.onChange((sk, rec) => {
        const key = streamKey(rec.patientId, rec.deviceId);
        if (sk !== stateKey(key)) return;
        const entry = entries.get(key);
        if (entry && rec.owner !== instanceId) {
          logger.info('stream taken over by another processor instance', { patientId: rec.patientId, deviceId: rec.deviceId, owner: rec.owner });
          dropStream(entry);
        }
      });
      started = true;
      alertsSub = await bus.subscribe(STREAMS.alerts, {
        groupId: `pulsebridge-processor-alerts-${instanceId}`,
        fromBeginning: true,
        onBatch: handleAlerts,
      });
      telemetrySub = await bus.subscribe(STREAMS.telemetry, {
        groupId,
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
      await telemetrySub?.stop();
      await alertsSub?.stop();
      for (const e of [...entries.values()]) dropStream(e);
      await Promise.all([criteria.stop(), state.stop()]);
    },
  };
}
