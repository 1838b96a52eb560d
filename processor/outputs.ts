/**
 * Everything the detection side of the processor writes, in the order that keeps a crash safe:
 * each touched stream's changelog record, then the alert snapshots — the changelog always knows
 * what was published. Analysis has already changed in-memory state (dedup, detectors), so a
 * failed write is not handed back to the bus for re-delivery (the frames would then look like
 * duplicates): it is retried in place until the bus accepts it. The vitals store is written by
 * its own consumer (store-sink.ts), so a store outage never holds alerts back.
 */
import type { Alert, AlertEnvelope } from '../contracts/alert.ts';
import type { EcgStrip } from '../contracts/ecg-strip.ts';
import type { DerivedBeatFrame, DerivedVitalsRecord } from './store-sink.ts';
import type { DeadLetterRecord } from '../contracts/telemetry.ts';
import { STREAMS } from '../contracts/topics.ts';
import type { Bus, BusMessage, ConsumedMessage } from '../platform/bus/index.ts';
import type { Logger } from '../platform/log.ts';
import type { MetricsRegistry } from '../platform/metrics.ts';
import type { Clock } from './clock.ts';
import { STATE_WRITE_INTERVAL_MS } from './stream-state.ts';
import type { StreamEntry } from './stream-table.ts';

export interface ProcessorOutputsOptions {
  bus: Bus;
  logger: Logger;
  metrics: MetricsRegistry;
  clock: Clock;
  instanceId: string;
  /** Changelog key of a stream key (prefixed with the consumer group). */
  stateKey: (streamKey: string) => string;
  /** True once the processor stops: retries give up. */
  stopping: () => boolean;
}

export class ProcessorOutputs {
  readonly #o: ProcessorOutputsOptions;
  readonly #alertsPublished;
  readonly #stateWrites;
  readonly #retries;
  readonly #ecgStrips;

  constructor(options: ProcessorOutputsOptions) {
    this.#o = options;
    const m = options.metrics;
    this.#alertsPublished = m.counter('pb_processor_alert_snapshots_total', 'Alert snapshots published, by kind');
    this.#stateWrites = m.counter('pb_processor_state_writes_total', 'Changelog records written (processor state per stream)');
    this.#retries = m.counter('pb_processor_output_retries_total', 'Store writes or alert publishes retried, by output');
    this.#ecgStrips = m.counter('pb_processor_ecg_strips_total', 'ECG strips around alarms stored and published');
  }

  /**
   * ECG strips around alarms (processor/ecg-strips.ts): published (STREAMS.ecgStrips) for the
   * EHR exporter and for the store sink, which stores them for the dashboard in its own consumer
   * group — a store outage never holds detection back. Published before the batch's changelog
   * records (stream-state.ts), so a strip whose alarm is raised late (AF: its onset is ≥ 30 s back,
   * the strip is complete at once) reaches the bus just before its alert; its consumers wait for it.
   */
  async writeEcgStrips(strips: EcgStrip[]): Promise<void> {
    if (strips.length === 0) return;
    await this.#retry('ECG strip publish', () => this.#o.bus.publish(STREAMS.ecgStrips, strips.map((s) => ({ key: s.patientId, value: Buffer.from(JSON.stringify(s)) }))));
    this.#ecgStrips.inc({}, strips.length);
  }

  /**
   * Heart-rate and RR points of beats the processor detected in the ECG of a device that sends
   * none (processor/ecg-beats.ts), and the frames they came in: the store sink and the board
   * cannot derive them from the telemetry record, so they travel on STREAMS.derivedVitals.
   */
  async publishDerivedVitals(points: DerivedVitalsRecord['points'], frames: DerivedBeatFrame[]): Promise<void> {
    if (frames.length === 0) return;
    const key = frames[0]!.patientId;
    const record: DerivedVitalsRecord = { schema: 'pb.derived-vitals.v1', points, frames };
    await this.#retry('derived vitals publish', () => this.#o.bus.publish(STREAMS.derivedVitals, [{ key, value: Buffer.from(JSON.stringify(record)) }]));
  }

  /**
   * A telemetry record that could not be parsed: the gateway validated every frame, so this is a
   * bug or a foreign producer. It goes to the dead-letter stream rather than crash or block the partition.
   */
  async deadLetterInvalidRecord(m: ConsumedMessage, err: Error): Promise<void> {
    const record: DeadLetterRecord = {
      schema: 'pb.deadletter.v1', deviceId: 'unknown', topic: STREAMS.telemetry, reason: 'invalid_record',
      detail: err.message, payloadBase64: m.value.toString('base64'), receivedAt: this.#o.clock.now(),
      // `pulsebridge deadletter replay` puts it back where it was read, with its key.
      source: 'processor', stream: m.stream, key: m.key,
    };
    const dead = { key: m.key, value: Buffer.from(JSON.stringify(record)) };
    await this.#retry('dead-letter publish', () => this.#o.bus.publish(STREAMS.deadLetter, [dead]));
  }

  /**
   * The changelog records of the touched streams that changed (or whose analysis moved on by
   * STATE_WRITE_INTERVAL_MS), then the alert snapshots. `withChangelog` is false before the
   * processor started (tests that drive batches directly).
   */
  async writeStreams(touched: Iterable<StreamEntry>, alerts: Alert[], withChangelog: boolean): Promise<void> {
    if (withChangelog) await this.#writeChangelog(touched);
    if (alerts.length > 0) await this.#publishAlerts(alerts);
  }

  /** A stream's changelog record as a message of STREAMS.processorState (stream-state.ts). */
  #stateMessage(e: StreamEntry, options: { handover?: boolean } = {}): BusMessage {
    const { instanceId, clock, stateKey } = this.#o;
    return { key: stateKey(e.key), value: Buffer.from(JSON.stringify(e.rt.record(instanceId, clock.now(), options))) };
  }

  async #writeChangelog(touched: Iterable<StreamEntry>): Promise<void> {
    const records: BusMessage[] = [];
    for (const e of new Set(touched)) {
      if (e.dropped) continue;
      const fingerprint = e.rt.contentFingerprint();
      const until = e.rt.analysedUntilMs;
      const moved = until !== undefined && (e.lastWrittenUntilMs === undefined || until - e.lastWrittenUntilMs >= STATE_WRITE_INTERVAL_MS);
      if (fingerprint === e.lastWrittenFingerprint && !moved) continue;
      records.push(this.#stateMessage(e));
      e.lastWrittenFingerprint = fingerprint;
      if (until !== undefined) e.lastWrittenUntilMs = until;
    }
    if (records.length === 0) return;
    await this.#retry('state write', () => this.#o.bus.publish(STREAMS.processorState, records));
    this.#stateWrites.inc({}, records.length);
  }

  async #publishAlerts(alerts: Alert[]): Promise<void> {
    const messages = alerts.map((alert) => {
      const envelope: AlertEnvelope = { schema: 'pb.alert.v1', source: 'processor', alert };
      // The header names the instance that published it (diagnostics with several processors).
      return { key: alert.patientId, value: Buffer.from(JSON.stringify(envelope)), headers: { 'pb-processor': this.#o.instanceId } };
    });
    await this.#retry('alert publish', () => this.#o.bus.publish(STREAMS.alerts, messages));
    for (const a of alerts) this.#alertsPublished.inc({ kind: a.kind });
    this.#o.logger.info('alerts published', { count: alerts.length, kinds: [...new Set(alerts.map((a) => a.kind))] });
  }

  /**
   * The last records of a graceful stop (StreamRuntime.record `handover`: what a successor needs to
   * go on exactly, processor.ts `stop`). Not retried: a stop must end, and without them the
   * successor resumes from the latest regular records, as after a crash. Only streams of the
   * telemetry partitions this processor still holds (`assigned`): a stream whose partition went to
   * another instance in a rebalance may still be held here until that instance writes its record,
   * and a record from here would make that instance drop its newer state. Returns how many, and
   * their size (for the stop's log: a hand-over record is 4–12 kB with ECG).
   */
  async writeHandover(entries: Iterable<StreamEntry>, assigned: readonly number[]): Promise<{ streams: number; bytes: number }> {
    const records: BusMessage[] = [];
    for (const e of entries) {
      if (e.dropped || e.rt.analysedUntilMs === undefined || e.rt.partition === undefined || !assigned.includes(e.rt.partition)) continue;
      records.push(this.#stateMessage(e, { handover: true }));
    }
    if (records.length === 0) return { streams: 0, bytes: 0 };
    await this.#o.bus.publish(STREAMS.processorState, records);
    this.#stateWrites.inc({}, records.length);
    return { streams: records.length, bytes: records.reduce((sum, r) => sum + r.value.length, 0) };
  }

  /** Retries an output with capped exponential backoff until it succeeds or the processor stops. */
  async #retry(what: string, fn: () => Promise<void>): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await fn();
      } catch (err) {
        if (this.#o.stopping()) throw err;
        this.#retries.inc({ output: what });
        this.#o.logger.warn(`${what} failed; retrying`, { attempt, err: err as Error });
        await new Promise((r) => setTimeout(r, Math.min(5000, 100 * 2 ** attempt)));
      }
    }
  }
}
