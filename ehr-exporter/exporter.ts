/**
 * The EHR exporter: a consumer of the alerts stream (never on the detection path) that records
 * every alert in the EHR as FHIR R4 (fhir-and-alarms.md §2):
 * - physiological alerts → the rhythm Observation (observation.ts), created on first sight;
 * - technical alerts → a Communication `notification` (communication.ts), or skipped by option.
 *
 * Idempotence: every write is a conditional create keyed on the business identifier
 * (identifier.ts), so a re-delivered or replayed snapshot finds the resource made the first time.
 *
 * End update: when a snapshot carries `end` and the Observation already exists, the exporter
 * rewrites the detection-owned fields (effectivePeriod, value, interpretation, component) of the
 * stored resource and PUTs it with `If-Match` on the version it just read (§3 "Updates"). Why not
 * the conditional update `PUT [base]/Observation?identifier=…` that @medplum/fhir-router also
 * routes: it is a blind last-writer-wins overwrite, it creates when nothing matches, and on
 * medplum's repository the search and the write are not atomic. The read comes for free: the
 * conditional create answers 200 with the matching resource (we ask `Prefer: return=representation`);
 * a server that returns no body is asked with a search. On a version conflict it reads again
 * (bounded). A server that reports no version (no meta.versionId, no ETag) gets a plain PUT.
 * Only a still-`preliminary` Observation is updated: once a clinician set it to final,
 * amended, corrected or entered-in-error, the EHR owns it, as clinicians own acknowledgement in
 * mergeAlert (contracts/alert.ts). Everything else the EHR added to the resource is kept.
 *
 * Batches: the bus commits a batch only when this handler resolves, i.e. after every snapshot in
 * it was exported or dead-lettered. Rejections that will not change on retry (4xx, multiple
 * matches, a snapshot that does not parse or map) go to STREAMS.deadLetter with the reason.
 * Failures that will (server unavailable after the client's retries, refused credentials,
 * repeated version conflicts) reject the batch, which the bus offers again; conditional create
 * makes the already-exported part harmless, and dead letters are only published once a batch
 * completes so a re-delivery does not publish them twice.
 */
import { z } from 'zod';
import type { Alert, AlertEnvelope } from '../contracts/alert.ts';
import { ALERT_KINDS } from '../contracts/alert.ts';
import type { DeadLetterRecord } from '../contracts/telemetry.ts';
import { STREAMS } from '../contracts/topics.ts';
import type { Bus, BusMessage, ConsumedMessage, Subscription } from '../platform/bus/index.ts';
import { PulsebridgeError } from '../platform/errors.ts';
import type { Logger } from '../platform/log.ts';
import type { MetricsRegistry } from '../platform/metrics.ts';
import { alertToCommunication } from './communication.ts';
import type { FhirClient, Stored } from './fhir-client.ts';
import type { Communication, Identifier, Observation } from './fhir-types.ts';
import { alertToObservation, isPhysiologicalKind } from './observation.ts';
import { describeZodIssues } from '../platform/zod-issues.ts';

export interface EhrExporterOptions {
  bus: Bus;
  fhir: FhirClient;
  /** System URI of our business identifiers (config PULSEBRIDGE_FHIR_IDENTIFIER_SYSTEM). */
  identifierSystem: string;
  logger: Logger;
  metrics: MetricsRegistry;
  /** Consumer group. Default `ehr-exporter`. */
  groupId?: string;
  /**
   * Where a group without a committed position starts. Default true: the first deployment exports
   * the alerts the stream still holds; conditional create makes that harmless if they already exist.
   */
  fromBeginning?: boolean;
  /** Technical alerts: Communication `notification` (default, §2.5) or not exported at all. */
  technicalAlerts?: 'communication' | 'skip';
  /** Alerts exported in parallel within a batch (snapshots of one alert stay in order). Default 4. */
  concurrency?: number;
  /** Read-and-PUT rounds after If-Match version conflicts before the batch is retried. Default 3. */
  maxUpdateAttempts?: number;
  now?: () => number;
}

export interface EhrExporter {
  start(): Promise<void>;
  /** Stops consuming; an export in progress is aborted and its batch left uncommitted. */
  stop(): Promise<void>;
  /** Exports one batch of alert-stream messages (exposed for tests). Rejects if the batch must be re-delivered. */
  handleBatch(messages: ConsumedMessage[]): Promise<void>;
}

/** What a snapshot export did. */
export type ExportResult = 'created' | 'existing' | 'updated' | 'unchanged' | 'skipped' | 'clinician_owned';

const isoTime = z.string().refine((s) => Number.isFinite(Date.parse(s)), 'must be an ISO 8601 time');
/** The fields the mapping reads; other fields pass through untouched. */
const envelopeSchema = z.looseObject({
  schema: z.literal('pb.alert.v1'),
  source: z.enum(['processor', 'clinician']),
  alert: z.looseObject({
    id: z.string().min(1),
    patientId: z.string().min(1),
    deviceId: z.string().min(1),
    kind: z.enum(ALERT_KINDS),
    priority: z.enum(['high', 'medium', 'low']),
    onset: isoTime,
    end: isoTime.optional(),
    detectedAt: isoTime,
    evidence: z.looseObject({ hrBpm: z.number().optional(), gapMs: z.number().optional() }),
  }),
});

/** Detection-owned fields of the rhythm Observation: the only ones the end update rewrites. */
const DETECTION_FIELDS = ['effectivePeriod', 'valueCodeableConcept', 'interpretation', 'component'] as const;

interface DeadLetter {
  message: ConsumedMessage;
  deviceId: string;
  reason: string;
  detail: string;
  code?: string;
}

/** Rejections that re-delivery cannot fix: dead-letter them with a stable reason. */
const DEAD_LETTER_REASON: Partial<Record<string, string>> = {
  PB_FHIR_REJECTED: 'fhir_rejected',
  PB_FHIR_MULTIPLE_MATCHES: 'fhir_multiple_matches',
};

/** Key-sorted JSON, so two equal resources compare equal whatever order the server wrote keys in. */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) : v,
  );
}

/**
 * Creates the exporter; `start()` subscribes to STREAMS.alerts with consumer group `ehr-exporter`.
 * It does not create streams (platform/adapters.ts openBus does).
 */
export function createEhrExporter(options: EhrExporterOptions): EhrExporter {
  const { bus, fhir, identifierSystem, logger, metrics } = options;
  const technicalAlerts = options.technicalAlerts ?? 'communication';
  const concurrency = Math.max(1, options.concurrency ?? 4);
  const maxUpdateAttempts = Math.max(1, options.maxUpdateAttempts ?? 3);
  const now = options.now ?? Date.now;

  const exports = metrics.counter('pb_ehr_exports_total', 'Alert snapshots handled by the EHR exporter, by resource type and result');
  const deadLetters = metrics.counter('pb_ehr_dead_letters_total', 'Alert snapshots sent to the dead-letter stream, by reason');
  const batchFailures = metrics.counter('pb_ehr_batch_failures_total', 'Batches handed back to the bus for re-delivery');
  const versionConflicts = metrics.counter('pb_ehr_version_conflicts_total', 'If-Match version conflicts on the end update');

  let subscription: Subscription | undefined;
  let controller = new AbortController();

  /** The stored Observation and its version, from the create answer or else a search. */
  const currentObservation = async (identifier: Identifier, signal: AbortSignal): Promise<{ resource: Stored<Observation>; versionId: string | undefined }> => {
    const found = await fhir.searchByIdentifier<Observation>('Observation', identifier, { signal });
    const only = found[0];
    if (found.length > 1) {
      throw new PulsebridgeError('PB_FHIR_MULTIPLE_MATCHES', `${found.length} Observations carry identifier ${identifier.value}`, { details: { identifier } });
    }
    if (!only) {
      // The create just answered "exists": a search that misses it is a server inconsistency; retry the batch later.
      throw new PulsebridgeError('PB_FHIR_UNAVAILABLE', `Observation ${identifier.value} exists but the identifier search does not find it`, { details: { identifier } });
    }
    return { resource: only, versionId: only.meta?.versionId };
  };

  /** A mapped snapshot, ready to write. Mapping is pure: its errors are the snapshot's fault. */
  type Plan =
    | { kind: 'observation'; alert: Alert; resource: Observation }
    | { kind: 'communication'; alert: Alert; resource: Communication }
    | { kind: 'skip'; alert: Alert };

  const plan = (alert: Alert): Plan => {
    if (isPhysiologicalKind(alert.kind)) return { kind: 'observation', alert, resource: alertToObservation(alert, { identifierSystem }) };
    if (technicalAlerts === 'skip') return { kind: 'skip', alert };
    return { kind: 'communication', alert, resource: alertToCommunication(alert, { identifierSystem }) };
  };

  const exportObservation = async (alert: Alert, observation: Observation, signal: AbortSignal): Promise<ExportResult> => {
    const identifier = observation.identifier[0]!;
    for (let attempt = 1; ; attempt++) {
      const created = await fhir.createIfNoneExist(observation, identifier, { signal });
      if (created.outcome === 'created' || alert.end === undefined) return created.outcome;
      const current = created.resource ? { resource: created.resource, versionId: created.versionId } : await currentObservation(identifier, signal);
      if (current.resource.status !== 'preliminary') return 'clinician_owned';
      const same = DETECTION_FIELDS.every((f) => canonical(current.resource[f]) === canonical(observation[f]));
      if (same) return 'unchanged';
      const next: Stored<Observation> = { ...current.resource };
      for (const f of DETECTION_FIELDS) {
        if (observation[f] === undefined) delete next[f];
        else (next as unknown as Record<string, unknown>)[f] = observation[f];
      }
      try {
        await fhir.update(next, { signal, ifMatchVersionId: current.versionId });
        return 'updated';
      } catch (err) {
        if (!(err instanceof PulsebridgeError && err.code === 'PB_FHIR_VERSION_CONFLICT') || attempt >= maxUpdateAttempts) throw err;
        versionConflicts.inc();
        logger.debug('version conflict on end update; reading again', { alertId: alert.id, attempt });
      }
    }
  };

  const execute = async (p: Plan, signal: AbortSignal): Promise<{ resourceType: string; result: ExportResult }> => {
    switch (p.kind) {
      case 'observation':
        return { resourceType: 'Observation', result: await exportObservation(p.alert, p.resource, signal) };
      case 'communication':
        return { resourceType: 'Communication', result: (await fhir.createIfNoneExist(p.resource, p.resource.identifier[0]!, { signal })).outcome };
      case 'skip':
        return { resourceType: 'Communication', result: 'skipped' };
    }
  };

  const handleBatch = async (messages: ConsumedMessage[]): Promise<void> => {
    const signal = controller.signal;
    const dead: DeadLetter[] = [];
    /** Snapshots grouped by alert id, in stream order, so an alert's create precedes its end update. */
    const byAlert = new Map<string, { message: ConsumedMessage; alert: Alert }[]>();
    for (const message of messages) {
      let json: unknown;
      try {
        json = JSON.parse(message.value.toString('utf8'));
      } catch (err) {
        dead.push({ message, deviceId: 'unknown', reason: 'invalid_json', detail: (err as Error).message });
        continue;
      }
      const parsed = envelopeSchema.safeParse(json);
      if (!parsed.success) {
        const deviceId = (json as { alert?: { deviceId?: unknown } } | null)?.alert?.deviceId;
        const detail = describeZodIssues(parsed.error);
        dead.push({ message, deviceId: typeof deviceId === 'string' ? deviceId : 'unknown', reason: 'schema', detail });
        continue;
      }
      const alert = (json as AlertEnvelope).alert;
      const list = byAlert.get(alert.id) ?? [];
      list.push({ message, alert });
      byAlert.set(alert.id, list);
    }

    const groups = [...byAlert.values()];
    let failure: unknown;
    const counts: Record<string, number> = {};
    const worker = async () => {
      for (let group = groups.shift(); group && failure === undefined; group = groups.shift()) {
        for (const { message, alert } of group) {
          if (failure !== undefined) return;
          let planned: Plan;
          try {
            planned = plan(alert);
          } catch (err) {
            dead.push({ message, deviceId: alert.deviceId, reason: 'mapping_failed', detail: (err as Error).message });
            logger.warn('alert not exported: it does not map to FHIR; dead-lettered', { alertId: alert.id, kind: alert.kind, err: err as Error });
            continue;
          }
          try {
            const { resourceType, result } = await execute(planned, signal);
            exports.inc({ resource: resourceType, result });
            counts[result] = (counts[result] ?? 0) + 1;
          } catch (err) {
            // Anything not known to be permanent (unavailable, credentials, repeated version
            // conflicts, an unexpected error) fails the batch: nothing is lost, the bus re-delivers.
            const reason = err instanceof PulsebridgeError ? DEAD_LETTER_REASON[err.code] : undefined;
            if (reason) {
              dead.push({ message, deviceId: alert.deviceId, reason, detail: (err as Error).message, code: err instanceof PulsebridgeError ? err.code : undefined });
              logger.warn('alert not exported; dead-lettered', { alertId: alert.id, kind: alert.kind, reason, err: err as Error });
            } else {
              failure ??= err;
            }
          }
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, groups.length) }, worker));

    if (failure !== undefined) {
      batchFailures.inc();
      logger.error('EHR export failed; the batch will be re-delivered', { messages: messages.length, err: failure as Error });
      throw failure;
    }
    if (dead.length > 0) {
      const records: BusMessage[] = dead.map((d) => {
        const record: DeadLetterRecord = {
          schema: 'pb.deadletter.v1',
          deviceId: d.deviceId,
          topic: STREAMS.alerts,
          reason: d.reason,
          detail: d.detail,
          payloadBase64: d.message.value.toString('base64'),
          receivedAt: now(),
        };
        const headers: Record<string, string> = { 'pb-source-stream': d.message.stream, 'pb-source-offset': d.message.offset };
        if (d.code) headers['pb-error-code'] = d.code;
        return { key: d.deviceId, value: Buffer.from(JSON.stringify(record)), headers };
      });
      // If this publish fails the batch is re-delivered and re-exported (idempotently).
      await bus.publish(STREAMS.deadLetter, records);
      for (const d of dead) deadLetters.inc({ reason: d.reason });
    }
    if (messages.length > 0) logger.info('EHR export batch done', { messages: messages.length, ...counts, deadLettered: dead.length });
  };

  return {
    handleBatch,
    async start() {
      if (subscription) return;
      controller = new AbortController();
      subscription = await bus.subscribe(STREAMS.alerts, {
        groupId: options.groupId ?? 'ehr-exporter',
        fromBeginning: options.fromBeginning ?? true,
        onBatch: handleBatch,
      });
    },
    async stop() {
      const s = subscription;
      subscription = undefined;
      if (!s) return;
      // Ask the consumer loop to end first, then abort the export in flight so it ends promptly.
      const stopped = s.stop();
      controller.abort(new PulsebridgeError('PB_FHIR_UNAVAILABLE', 'EHR exporter stopping'));
      await stopped;
    },
  };
}
