/**
 * The patient streams this processor instance owns, and their partition lifecycle. A stream is
 * one patient-device pair (stream-state.ts streamKey), held as a {@link StreamRuntime}.
 *
 * - A stream is opened on its first frame, or restored from the changelog when a previous owner
 *   wrote one (restart or rebalance); restored alerts are republished, since that owner may have
 *   died between writing the changelog and publishing them.
 * - A partition new to this instance (start, rebalance) first has criteria and the changelog read
 *   up to now, so its streams continue where their previous owner left them; streams of that
 *   partition known to the changelog are opened even if they are silent now (signal loss).
 * - When another instance writes the changelog of a stream held here, the stream moved to it
 *   (rebalance): it is dropped.
 * - Clinician snapshots (ack, resolve) of alerts not tracked here are remembered for streams
 *   restored later.
 */
import type { Alert } from '../contracts/alert.ts';
import { criteriaAt, latestRelearnAt, type AlarmCriteria, type CriteriaRecord, type CriteriaVersion } from '../contracts/criteria.ts';
import type { Logger } from '../platform/log.ts';
import type { MetricsRegistry } from '../platform/metrics.ts';
import type { LifecycleConfig } from './alarm-lifecycle.ts';
import type { ChangelogTable } from './changelog-table.ts';
import type { Clock, TimerHandle } from './clock.ts';
import type { Detector } from './detectors/detector.ts';
import type { ReorderOptions } from './reorder-buffer.ts';
import { StreamRuntime, type StreamRuntimeOptions } from './stream-runtime.ts';
import { streamKey, type StreamStateRecord } from './stream-state.ts';

/** One owned stream with its wall-clock bookkeeping. */
export interface StreamEntry {
  key: string;
  rt: StreamRuntime;
  /** Set once the stream was dropped (taken over, or the processor stopped): writes skip it. */
  dropped: boolean;
  /** Wall-clock time of the latest frame arrival. */
  lastArrivalMs: number;
  /** Gateway clock: `receivedAt` of the latest frame (undefined after a restore), for silence-cause.ts. */
  lastReceivedAtMs?: number;
  silenceTimer?: TimerHandle;
  escalationTimer?: TimerHandle;
  escalationDueMs?: number;
  /** Escalations of restored alerts wait until then (wall clock). */
  notBeforeMs: number;
  lastWrittenFingerprint?: string;
  lastWrittenUntilMs?: number;
}

export interface StreamTableOptions {
  logger: Logger;
  metrics: MetricsRegistry;
  clock: Clock;
  instanceId: string;
  criteria: ChangelogTable<CriteriaRecord>;
  state: ChangelogTable<StreamStateRecord>;
  stateKey: (streamKey: string) => string;
  lifecycle: LifecycleConfig;
  detectorsFor?: (patientId: string, criteria: AlarmCriteria) => Detector[];
  reorder?: ReorderOptions;
  catchUpTimeoutMs: number;
  /** After a restore, escalations wait at least this long (wall clock). */
  restoreEscalationGraceMs: number;
  /** Called when a stream is dropped (its timers must be cleared). */
  onDrop: (entry: StreamEntry) => void;
}

const MAX_REMEMBERED_CLINICIAN = 100_000;

export class StreamTable {
  readonly #o: StreamTableOptions;
  readonly #entries = new Map<string, StreamEntry>();
  readonly #seenPartitions = new Set<number>();
  /** Clinician snapshots of alerts not (yet) tracked here, for streams restored later. */
  readonly #clinicianSnapshots = new Map<string, Alert>();
  readonly #restores;
  readonly #catchUpTimeouts;
  /** True once the changelog is followed (after start): restores and changelog writes happen. */
  started = false;

  constructor(options: StreamTableOptions) {
    this.#o = options;
    this.#restores = options.metrics.counter('pb_processor_stream_restores_total', 'Streams restored from the changelog');
    this.#catchUpTimeouts = options.metrics.counter('pb_processor_catch_up_timeouts_total', 'Criteria/changelog catch-ups that timed out (analysis went on)');
  }

  get(key: string): StreamEntry | undefined {
    return this.#entries.get(key);
  }

  all(): StreamEntry[] {
    return [...this.#entries.values()];
  }

  /** The stream of a frame: the one held, or a new (or restored) one. Restored alerts go to `republish`. */
  streamOf(patientId: string, deviceId: string, republish: Alert[]): StreamEntry {
    const key = streamKey(patientId, deviceId);
    return this.#entries.get(key) ?? this.#open(key, patientId, deviceId, republish);
  }

  /**
   * Takes on the partitions of a batch that are new to this instance: reads criteria and the
   * changelog up to now, then opens the streams of those partitions the changelog knows.
   * Afterwards both are followed continuously; a change that arrives a moment late applies from
   * the next frame. Opened streams are added to `touched`, restored alerts to `republish`.
   */
  async adoptPartitions(partitions: Iterable<number>, republish: Alert[], touched: Set<StreamEntry>): Promise<void> {
    const fresh = [...new Set(partitions)].filter((p) => !this.#seenPartitions.has(p));
    if (this.started && fresh.length > 0) {
      const timeoutMs = this.#o.catchUpTimeoutMs;
      const [s, c] = await Promise.all([this.#o.state.catchUp(timeoutMs), this.#o.criteria.catchUp(timeoutMs)]);
      if (!s || !c) {
        this.#catchUpTimeouts.inc();
        this.#o.logger.warn('criteria or changelog not read up to now in time; analysing with what is known', { changelog: s, criteria: c });
      }
    }
    for (const p of fresh) {
      this.#seenPartitions.add(p);
      if (!this.started) continue;
      for (const [sk, rec] of [...this.#o.state.entries()]) {
        const key = streamKey(rec.patientId, rec.deviceId);
        if (sk !== this.#o.stateKey(key) || rec.partition !== p || this.#entries.has(key)) continue;
        touched.add(this.#open(key, rec.patientId, rec.deviceId, republish));
      }
    }
  }

  /** A changelog record written by another instance for a stream held here: the stream moved (rebalance). */
  onChangelogRecord(sk: string, rec: StreamStateRecord): void {
    const key = streamKey(rec.patientId, rec.deviceId);
    if (sk !== this.#o.stateKey(key)) return;
    const entry = this.#entries.get(key);
    if (entry && rec.owner !== this.#o.instanceId) {
      this.#o.logger.info('stream taken over by another processor instance', { patientId: rec.patientId, deviceId: rec.deviceId, owner: rec.owner });
      this.drop(entry);
    }
  }

  /** Applies a clinician snapshot to the stream tracking the alert; remembers it otherwise. Returns the stream it changed. */
  applyClinician(alert: Alert): StreamEntry | undefined {
    const entry = this.#entries.get(streamKey(alert.patientId, alert.deviceId));
    if (entry?.rt.onClinician(alert)) return entry;
    this.#clinicianSnapshots.delete(alert.id);
    this.#clinicianSnapshots.set(alert.id, alert);
    if (this.#clinicianSnapshots.size > MAX_REMEMBERED_CLINICIAN) this.#clinicianSnapshots.delete(this.#clinicianSnapshots.keys().next().value!);
    return undefined;
  }

  drop(entry: StreamEntry): void {
    entry.dropped = true;
    this.#o.onDrop(entry);
    if (this.#entries.get(entry.key) === entry) this.#entries.delete(entry.key);
  }

  #open(key: string, patientId: string, deviceId: string, republish: Alert[]): StreamEntry {
    const record = this.started ? this.#o.state.get(this.#o.stateKey(key)) : undefined;
    const nowMs = this.#o.clock.now();
    let rt: StreamRuntime;
    if (record) {
      rt = StreamRuntime.restore(this.#runtimeOptions(patientId, deviceId), record);
      this.#restores.inc();
      for (const a of rt.trackedAlerts()) {
        const c = this.#clinicianSnapshots.get(a.id);
        if (c) rt.onClinician(c);
      }
      // The previous owner may have died between writing the changelog and publishing these.
      republish.push(...rt.trackedAlerts());
      this.#o.logger.info('stream restored from the changelog', { patientId, deviceId, from: record.owner, tracked: rt.trackedAlerts().length, analysedUntil: record.analysedUntilMs !== undefined ? new Date(record.analysedUntilMs).toISOString() : null, pending: (record.pending ?? []).map((p) => p.kind) });
    } else {
      rt = new StreamRuntime(this.#runtimeOptions(patientId, deviceId));
    }
    const entry: StreamEntry = { key, rt, dropped: false, lastArrivalMs: nowMs, notBeforeMs: record ? nowMs + this.#o.restoreEscalationGraceMs : 0 };
    this.#entries.set(key, entry);
    return entry;
  }

  #runtimeOptions(patientId: string, deviceId: string): StreamRuntimeOptions {
    const criteria = this.#o.criteria;
    return {
      patientId,
      deviceId,
      criteriaAt: (tsMs: number): CriteriaVersion => criteriaAt(criteria.get(patientId)?.versions ?? [], tsMs),
      relearnAt: (tsMs: number): number => latestRelearnAt(criteria.get(patientId)?.relearns, tsMs),
      lifecycle: this.#o.lifecycle,
      ...(this.#o.detectorsFor ? { detectors: this.#o.detectorsFor } : {}),
      ...(this.#o.reorder ? { reorder: this.#o.reorder } : {}),
    };
  }
}
