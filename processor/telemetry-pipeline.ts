/**
 * One telemetry batch, top down: parse each record (dead-letter what cannot be parsed), take on
 * partitions new to this instance, then per frame drop duplicates and let the patient stream
 * analyse it; finally write the outputs (changelog, alerts — in that order, see outputs.ts) and
 * re-arm the streams' timers. The bus commits the batch only after this resolves. The vitals
 * points are written by the store sink's own consumer of the same stream (store-sink.ts).
 */
import type { Alert } from '../contracts/alert.ts';
import type { EcgStrip } from '../contracts/ecg-strip.ts';
import type { TelemetryRecord } from '../contracts/telemetry.ts';
import type { ConsumedMessage } from '../platform/bus/index.ts';
import type { Logger } from '../platform/log.ts';
import type { MetricsRegistry } from '../platform/metrics.ts';
import type { HeartRatePoint, RrPoint } from '../platform/store/index.ts';
import type { Clock } from './clock.ts';
import { FrameDeduplicator } from './dedup.ts';
import type { ProcessorOutputs } from './outputs.ts';
import type { DerivedBeatFrame } from './store-sink.ts';
import type { StreamEntry, StreamTable } from './stream-table.ts';
import type { StreamTimers } from './stream-timers.ts';
import { vitalsFromFrame } from './vitals.ts';

export interface TelemetryPipelineOptions {
  streams: StreamTable;
  outputs: ProcessorOutputs;
  timers: StreamTimers;
  clock: Clock;
  metrics: MetricsRegistry;
  /** Where device faults found in the telemetry are logged (optional: tests without it log nothing). */
  logger?: Logger;
}

export class TelemetryPipeline {
  readonly #o: TelemetryPipelineOptions;
  readonly #dedup = new FrameDeduplicator();
  readonly #framesProcessed;
  readonly #duplicates;
  readonly #lateFrames;
  readonly #replayedFrames;
  readonly #invalid;
  readonly #droppedLateBeats;
  readonly #firmwareOutages;

  constructor(options: TelemetryPipelineOptions) {
    this.#o = options;
    const m = options.metrics;
    this.#framesProcessed = m.counter('pb_processor_frames_total', 'Telemetry frames analysed');
    this.#duplicates = m.counter('pb_processor_duplicate_frames_total', 'Duplicate frames dropped (same device, seq and ts)');
    this.#lateFrames = m.counter('pb_processor_late_frames_total', 'Frames older than the stream watermark: stored, not analysed');
    this.#replayedFrames = m.counter('pb_processor_replayed_frames_total', 'Frames re-analysed after a restore (detector state only)');
    this.#invalid = m.counter('pb_processor_invalid_records_total', 'Records on the telemetry stream that could not be parsed');
    this.#droppedLateBeats = m.counter('pb_processor_ecg_beats_dropped_total', 'Beats derived from the ECG found after their device time had gone to the detectors, so dropped (should stay 0)');
    this.#firmwareOutages = m.counter('pb_processor_firmware_beat_outages_total', 'Firmware beat output found failing (no beats while the ECG showed the patient\'s QRS complexes): beats taken from the ECG instead');
  }

  async analyse(messages: ConsumedMessage[]): Promise<void> {
    const { streams, outputs, timers } = this.#o;
    const alerts: Alert[] = [];
    const touched = new Set<StreamEntry>();
    const nowIso = new Date(this.#o.clock.now()).toISOString();
    const parsed = await this.#parse(messages);
    await streams.adoptPartitions(parsed.map((p) => p.m.partition), alerts, touched);

    const derived: { heartRate: HeartRatePoint[]; rr: RrPoint[] } = { heartRate: [], rr: [] };
    const derivedFrames: DerivedBeatFrame[] = [];
    const strips: EcgStrip[] = [];
    for (const { m, record } of parsed) {
      const { frame, deviceId, patientId } = record;
      if (!this.#dedup.firstSight(deviceId, frame.seq, frame.ts)) { this.#duplicates.inc(); continue; }
      this.#framesProcessed.inc();
      const entry = streams.streamOf(patientId, deviceId, alerts);
      entry.rt.partition = m.partition;
      entry.lastArrivalMs = this.#o.clock.now();
      entry.lastReceivedAtMs = record.receivedAt;
      timers.arrived(entry);
      touched.add(entry);
      const result = entry.rt.ingest(frame, nowIso);
      if (result.late) this.#lateFrames.inc();
      if (result.replayed) this.#replayedFrames.inc();
      if (result.droppedLateBeats > 0) this.#droppedLateBeats.inc({}, result.droppedLateBeats);
      for (const o of result.firmwareOutages) {
        this.#firmwareOutages.inc();
        // A device fault for its owners (no alarm condition of its own: the patient is monitored from the ECG meanwhile).
        this.#o.logger?.warn('device firmware sends no beats while its ECG shows the patient\'s QRS complexes: beats detected in the ECG until it sends beats again', {
          patientId, deviceId, lastFirmwareBeat: new Date(o.lastFirmwareBeatMs).toISOString(), detectedAt: new Date(o.detectedAtMs).toISOString(),
        });
      }
      alerts.push(...result.alerts);
      strips.push(...result.strips);
      // Beats detected in the ECG of a device that sends none are stored like firmware beats.
      // They travel through the bus to the store sink, which cannot derive them itself.
      for (const f of result.ecgBeatFrames) {
        const points = vitalsFromFrame({ ...record, frame: f }, { keyBySeq: false });
        derived.heartRate.push(...points.heartRate);
        derived.rr.push(...points.rr);
        derivedFrames.push({ patientId, deviceId, ts: f.ts, durMs: f.durMs, beats: f.beats });
      }
    }
    // Finished strips before the changelog records that no longer hold them (stream-state.ts):
    // a crash in between re-publishes a strip rather than losing it.
    await Promise.all([outputs.publishDerivedVitals(derived, derivedFrames), outputs.writeEcgStrips(strips)]);
    await outputs.writeStreams(touched, alerts, streams.started);
    for (const e of touched) timers.sync(e);
  }

  async #parse(messages: ConsumedMessage[]): Promise<{ m: ConsumedMessage; record: TelemetryRecord }[]> {
    const parsed: { m: ConsumedMessage; record: TelemetryRecord }[] = [];
    for (const m of messages) {
      try {
        const record = JSON.parse(m.value.toString('utf8')) as TelemetryRecord;
        if (record.schema !== 'pb.telemetry.v1') throw new Error(`unexpected schema ${String(record.schema)}`);
        parsed.push({ m, record });
      } catch (err) {
        this.#invalid.inc();
        await this.#o.outputs.deadLetterInvalidRecord(m, err as Error);
      }
    }
    return parsed;
  }
}
