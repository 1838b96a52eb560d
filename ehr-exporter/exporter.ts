/**
 * The EHR exporter: a consumer of the alerts stream (never on the detection path) that records
 * every alert in the EHR as FHIR R4 (fhir-and-alarms.md §2, issue 11):
 * - a raised physiological alert → one transaction Bundle (bundle.ts): Device, ECG strip,
 *   heart-rate Observation and the rhythm Observation with derivedFrom, all conditional creates;
 * - later snapshots (end, acknowledge, resolve, escalation) → the rhythm Observation is read,
 *   its detection fields and our annotations rewritten, and PUT with `If-Match` on the version read;
 *   a 412 reads again (bounded). Only a still-`preliminary` Observation is changed: once a clinician
 *   set it final, amended or entered-in-error, the EHR owns it. An older snapshot never rolls back
 *   a newer one (the alert revision travels in an extension, its `updatedAt` in another); with
 *   `evidenceUpdateIntervalMs`, a snapshot that only brings new evidence is not written within
 *   that interval of the one the record holds;
 * - technical alerts → Device + Communication `notification` (§2.5), and once the condition ended
 *   a second Communication, the end notice, `inResponseTo` the first (communication.ts: why not an
 *   update), and when a clinician resolved it a resolution notice likewise; or skipped by option.
 * Patients are found by MRN and Devices by their identifier (identity.ts); our ids never become FHIR ids.
 *
 * Failures, by whom they concern:
 * - one message (4xx, several matches, a snapshot that does not parse or map): dead-letter
 *   stream with the reason and the server's OperationOutcome; the rest of the batch goes on.
 *   A 403 is one message's too, after `maxForbiddenAttempts` tries (reason `fhir_forbidden`): the
 *   EHR accepted our token and refuses this request, typically a resource type our SMART scopes do
 *   not cover (a technical alarm's Communication). Pausing for it would hold every other patient's
 *   alerts behind one message no retry can fix; dead-lettered, it is replayed once the EHR grants
 *   the scope. If the EHR forbids everything, everything is dead-lettered, each with the reason:
 *   visible in pb_ehr_dead_letters_total{reason="fhir_forbidden"} and the log, and replayable;
 * - every message (EHR down or slow, 401 after a fresh token, a refused token request, repeated
 *   version conflicts): export **pauses**. The snapshot is retried with capped backoff until it
 *   goes through; /healthz, the metrics and the log say so, and the batch is not committed, so
 *   nothing is lost and nothing is dead-lettered for it. It resumes by itself;
 * - one patient (no Patient with the MRN in the EHR yet): the snapshot or strip is parked on
 *   STREAMS.ehrRetry (keyed by patient, with a not-before time) and the batch goes on, so other
 *   patients are not held up; the retry consumer tries it again with backoff (capped at
 *   `parkBackoff.maxDelayMs`) until the EHR knows the patient. Listed under `unknownPatients` in
 *   the health report and counted in a metric; never dead-lettered.
 * Dead letters are published once the batch is done, so a re-delivery does not publish them twice.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { z } from 'zod';
import type { Alert, AlertEnvelope } from '../contracts/alert.ts';
import { ALERT_KINDS } from '../contracts/alert.ts';
import type { EcgStrip } from '../contracts/ecg-strip.ts';
import type { DeadLetterRecord, TelemetryRecord } from '../contracts/telemetry.ts';
import { STREAMS } from '../contracts/topics.ts';
import type { Bus, BusMessage, ConsumedMessage, Subscription } from '../platform/bus/index.ts';
import { PulsebridgeError } from '../platform/errors.ts';
import type { Logger } from '../platform/log.ts';
import { InFlightLimit } from '../platform/in-flight-limit.ts';
import type { MetricsRegistry } from '../platform/metrics.ts';
import { describeZodIssues } from '../platform/zod-issues.ts';
import { ehrAuditRecorder, type EhrAuditOptions, type EhrDisclosure } from './audit.ts';
import { backoffDelayMs, sleep } from './backoff.ts';
import {
  ALERT_REVISION_EXTENSION,
  ALERT_UPDATED_AT_EXTENSION,
  alertBundle,
  alertIdIdentifier,
  hrSummaryBundle,
  alertObservation,
  ecgIdentifier,
  NOTE_PREFIX,
  revisionOf,
  revisionTimeOf,
  stripBundle,
  technicalBundle,
} from './bundle.ts';
import { StripInbox } from './ecg-strips.ts';
import { HrSummaries, type HrWindow } from './hr-summaries.ts';
import { isForbidden, type FhirClient, type FhirRequestOptions, type Stored } from './fhir-client.ts';
import type { Bundle, FhirResource, Identifier, Observation } from './fhir-types.ts';
import { alertEffectiveMs, createFutureDatedCheck, type ExportTime, type FutureDatedCheck } from './future-dated.ts';
import type { PatientResolver } from './identity.ts';
import { isPhysiologicalKind, rhythmObservationIdentifier } from './observation.ts';

export interface EhrExporterOptions {
  bus: Bus;
  fhir: FhirClient;
  /** Finds `Patient/{EHR id}` by MRN (identity.ts). */
  patients: PatientResolver;
  /** System URI of our business identifiers (config PULSEBRIDGE_FHIR_IDENTIFIER_SYSTEM). */
  identifierSystem: string;
  /** System URI of Device identifiers (config PULSEBRIDGE_EHR_DEVICE_SYSTEM). Default `urn:pulsebridge:device`. */
  deviceSystem?: string;
  logger: Logger;
  metrics: MetricsRegistry;
  /** Consumer group of the alerts stream. Default `ehr-exporter`; the strips use `<groupId>-strips`. */
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
  /**
   * At most one evidence-only update of a rhythm Observation per this many ms of the snapshots'
   * `updatedAt` (config PULSEBRIDGE_FHIR_EVIDENCE_UPDATE_MIN): a snapshot that would change only
   * the evidence (the rate components) of an Observation written from a snapshot less than this
   * older is not written (result `held`); the end, acknowledgement, escalation, resolution and a
   * VT class always are, and each write carries the whole current state. A held snapshot is not
   * dropped: the latest one is written once the interval has passed (trailing send, see `pending`
   * in createEhrExporter) unless a later write superseded it. Default 300 000 (5 min, as the
   * config); 0: every change is written. EHR walk: a 7 min tachycardia made 41 PUTs, 41 versions of the Observation.
   */
  evidenceUpdateIntervalMs?: number;
  /** How long `stop()` may spend writing the held updates still waiting for their trailing send, ms. Default 5 000. */
  flushOnStopMs?: number;
  /** Read-and-PUT rounds after If-Match version conflicts before the export pauses and retries. Default 3. */
  maxUpdateAttempts?: number;
  /** Tries of a message the EHR answers 403 before it is dead-lettered as `fhir_forbidden`. Default 3. */
  maxForbiddenAttempts?: number;
  /** How long a raised alert waits for its ECG strip after `detectedAt`, ms. Default 20 000; 0 = never wait. */
  ecgWaitMs?: number;
  /**
   * How long a strip waits for its alert's Bundle to take it before it is written on its own, ms.
   * Default 2 000: a strip comes ≥ 8 s of device time after its alert's onset, so an exporter that
   * keeps up is already waiting for it; a longer wait would hold up the strips behind it.
   */
  stripGraceMs?: number;
  /** Backoff between retries while paused (EHR down). Default 500 ms doubling to 30 s. */
  pauseBackoff?: { baseDelayMs: number; maxDelayMs: number };
  /**
   * Periodic heart-rate summaries (hr-summaries.ts) from the telemetry stream: window length, ms.
   * Default 0 = off (config PULSEBRIDGE_EHR_HR_SUMMARY_MIN).
   */
  hrSummaryWindowMs?: number;
  /** Delay before a parked message (unknown patient) is tried again. Default 2 s doubling to 5 min. */
  parkBackoff?: { baseDelayMs: number; maxDelayMs: number };
  /**
   * The PHI audit trail (ehr-exporter/audit.ts): one entry per alert snapshot, strip or HR summary
   * written to the EHR or dead-lettered. Without it nothing is audited (tests).
   */
  audit?: EhrAuditOptions;
  /** Counts and warns about exports dated ahead of now (future-dated.ts); shared with the HL7 exporter in one process. Default: its own. */
  futureDated?: FutureDatedCheck;
  now?: () => number;
  random?: () => number;
}

/**
 * The exporter's consumers, each paused on its own: alert snapshots (parked ones included), ECG
 * strips written on their own, and HR summaries. Each holds its own batch uncommitted while paused.
 */
export type Lane = 'alerts' | 'strips' | 'hr-summaries';

/** What /healthz shows about the export. */
export interface ExportHealth {
  /**
   * `paused` while any lane is; else `degraded` while the EHR leaves a request unanswered longer
   * than the request timeout (fhir-client.ts StalledRequest: from its first timeout on, not only
   * once its attempts are used up and the lane pauses, ~50 s later: EHR walk).
   */
  status: 'ok' | 'paused' | 'degraded';
  /**
   * Why it is paused: `<lane>: <the last error that affects every message>`, of the lane paused
   * longest; or why it is degraded: the request the EHR has not answered (no query values).
   */
  reason?: string;
  /** When the EHR stopped answering (degraded; ISO 8601). */
  degradedSince?: string;
  /** When that lane's pause began (ISO 8601). */
  pausedSince?: string;
  /** Every paused lane with its own reason and start. */
  pausedLanes?: Partial<Record<Lane, { reason: string; pausedSince: string }>>;
  /**
   * How many patients' alerts wait because the EHR has no Patient with their MRN. A count: /healthz
   * needs no token, so it names no patient (session 33's security review); the warning logged when a
   * patient's alerts start waiting names them.
   */
  unknownPatientCount: number;
  lastExportAt?: string;
  /** Strips parked, waiting for their alert's Bundle. */
  stripsWaiting: number;
  /**
   * Exports since start dated more than 5 min ahead of the exporter's clock (a device clock running
   * ahead; sent unchanged, future-dated.ts). Present once there was one.
   */
  futureDatedExports?: number;
}

export interface EhrExporter {
  start(): Promise<void>;
  /** Stops consuming; an export in progress is aborted and its batch left uncommitted. */
  stop(): Promise<void>;
  /** Exports one batch of alert-stream messages (exposed for tests). Rejects only when stopped. */
  handleBatch(messages: ConsumedMessage[]): Promise<void>;
  /** Handles one batch of ECG-strip messages (exposed for tests). */
  handleStrips(messages: ConsumedMessage[]): Promise<void>;
  /** Handles one batch of parked messages from STREAMS.ehrRetry (exposed for tests). */
  handleRetries(messages: ConsumedMessage[]): Promise<void>;
  /** Handles one batch of telemetry for the HR summaries (exposed for tests). */
  handleTelemetry(messages: ConsumedMessage[]): Promise<void>;
  health(): ExportHealth;
  /** The streams whose messages it must deliver, with its consumer group on each (what is undelivered: cli/demo.ts). */
  readonly deliveries: readonly { stream: string; groupId: string }[];
}

/** What a snapshot export did. */
export type ExportResult = 'created' | 'existing' | 'updated' | 'unchanged' | 'held' | 'stale' | 'skipped' | 'clinician_owned' | 'strip_attached';

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
    revision: z.number().int(),
    evidence: z.looseObject({ hrBpm: z.number().optional(), gapMs: z.number().optional() }),
  }),
});

const stripSchema = z.looseObject({
  schema: z.literal('pb.ecg-strip.v1'),
  alertId: z.string().min(1),
  patientId: z.string().min(1),
  deviceId: z.string().min(1),
  startMs: z.number().finite(),
  fsHz: z.number().positive(),
  uV: z.array(z.number().nullable()),
  leadOff: z.array(z.tuple([z.number().int(), z.number().int()])),
});

/** Fields of the rhythm Observation that Pulsebridge owns and rewrites on update. */
const OWNED_FIELDS = ['effectivePeriod', 'valueCodeableConcept', 'interpretation', 'component'] as const;
/** Our extensions on the rhythm Observation (bundle.ts): the revision written and its time. */
const OUR_EXTENSIONS: ReadonlySet<string> = new Set([ALERT_REVISION_EXTENSION, ALERT_UPDATED_AT_EXTENSION]);

/**
 * The rhythm Observation without what evidence updates change (the rate components and our
 * revision extensions): two Observations equal here differ in evidence only.
 */
function withoutEvidence(o: Observation): string {
  return canonical({ ...o, component: undefined, extension: (o.extension ?? []).filter((e) => !OUR_EXTENSIONS.has(e.url)) });
}

/** Strip batches handled at once: at least the strips stream's partitions (platform/adapters.ts: 6). */
const STRIP_PARTITIONS_AT_ONCE = 16;

interface DeadLetter {
  message: ConsumedMessage;
  deviceId: string;
  reason: string;
  detail: string;
  code?: string;
  operationOutcome?: unknown;
}

/**
 * A consumed record's JSON when it is valid for `schema`; otherwise undefined, with a dead letter
 * (reason `invalid_json` or `schema`) added to `dead`. `deviceIdOf` names the device when it can.
 */
function parseRecord(
  message: ConsumedMessage,
  schema: { safeParse(value: unknown): { success: true } | { success: false; error: Parameters<typeof describeZodIssues>[0] } },
  dead: DeadLetter[],
  deviceIdOf: (json: unknown) => unknown = () => undefined,
): unknown {
  let json: unknown;
  try {
    json = JSON.parse(message.value.toString('utf8'));
  } catch (err) {
    dead.push({ message, deviceId: 'unknown', reason: 'invalid_json', detail: (err as Error).message });
    return undefined;
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) {
    const deviceId = deviceIdOf(json);
    dead.push({ message, deviceId: typeof deviceId === 'string' ? deviceId : 'unknown', reason: 'schema', detail: describeZodIssues(parsed.error) });
    return undefined;
  }
  return json;
}

/**
 * A pause reason for /healthz (no token needed) and the pause log line: the error without the
 * EHR's own words. A FHIR error ends with the server's OperationOutcome text (fhir-client.ts
 * `details.outcome`), which the EHR writes and may fill with what it holds about the patient
 * (names, dates); the values we sent are elided from it, not those. The full text goes to the
 * debug log. The HL7 exporter does the same with the engine's free text.
 */
export function withoutEhrText(err: unknown): string {
  const message = (err as Error).message ?? String(err);
  const outcome = (err as PulsebridgeError).details?.outcome;
  if (typeof outcome !== 'string' || outcome === '' || !message.endsWith(outcome)) return message;
  return `${message.slice(0, message.length - outcome.length)}(the EHR's answer text is logged at debug level)`;
}

/**
 * The error of a dead letter (or a skipped HR summary) for its warning line: code and message
 * without the EHR's own words ({@link withoutEhrText}); those stay in the dead letter's
 * OperationOutcome and the debug line logged beside it.
 */
function ehrErrorForLog(err: unknown): { message: string; code?: string } {
  const code = (err as PulsebridgeError).code;
  return { message: withoutEhrText(err), ...(typeof code === 'string' ? { code } : {}) };
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

const transactionCreated = (response: Bundle, index: number) => (response.entry?.[index]?.response?.status ?? '').startsWith('201');

/**
 * The resource types written (created, found existing or updated) by the export running in this
 * async context: what its audit entry says was sent. Carried by the context rather than by every
 * call from the batch down to the FHIR client; searches are not counted.
 */
const writtenTypes = new AsyncLocalStorage<Set<string>>();

/** `inner`, noting the resource types of every write that succeeds in {@link writtenTypes}. */
function notingWrites(inner: FhirClient): FhirClient {
  const note = (types: (string | undefined)[]) => {
    const set = writtenTypes.getStore();
    for (const t of types) if (set && t) set.add(t);
  };
  return {
    async createIfNoneExist<T extends FhirResource>(resource: T, identifier: Identifier, options?: FhirRequestOptions) {
      const result = await inner.createIfNoneExist(resource, identifier, options);
      note([resource.resourceType]);
      return result;
    },
    searchByIdentifier: (resourceType, identifier, options) => inner.searchByIdentifier(resourceType, identifier, options),
    async update<T extends FhirResource>(resource: Stored<T>, options?: FhirRequestOptions & { ifMatchVersionId?: string }) {
      const result = await inner.update(resource, options);
      note([resource.resourceType]);
      return result;
    },
    async transaction(bundle: Bundle, options?: FhirRequestOptions) {
      const response = await inner.transaction(bundle, options);
      note((bundle.entry ?? []).map((e) => e.resource?.resourceType));
      return response;
    },
  };
}

/** Runs `work`, adding the resource types it writes to `written` (also when it then fails). */
const noting = <T>(written: Set<string>, work: () => Promise<T>): Promise<T> => writtenTypes.run(written, work);

/**
 * Creates the exporter; `start()` subscribes to STREAMS.alerts and STREAMS.ecgStrips.
 * It does not create streams (platform/adapters.ts openBus does).
 */
export function createEhrExporter(options: EhrExporterOptions): EhrExporter {
  const { bus, patients, identifierSystem, logger, metrics } = options;
  const fhir = notingWrites(options.fhir);
  const deviceSystem = options.deviceSystem ?? 'urn:pulsebridge:device';
  const technicalAlerts = options.technicalAlerts ?? 'communication';
  const concurrency = Math.max(1, options.concurrency ?? 4);
  const maxUpdateAttempts = Math.max(1, options.maxUpdateAttempts ?? 3);
  const evidenceUpdateIntervalMs = options.evidenceUpdateIntervalMs ?? 300_000;
  const maxForbiddenAttempts = Math.max(1, options.maxForbiddenAttempts ?? 3);
  const ecgWaitMs = options.ecgWaitMs ?? 20_000;
  const stripGraceMs = options.stripGraceMs ?? 2_000;
  const pausePolicy = { maxAttempts: Number.POSITIVE_INFINITY, baseDelayMs: 500, maxDelayMs: 30_000, ...options.pauseBackoff };
  const parkPolicy = { baseDelayMs: 2_000, maxDelayMs: 300_000, ...options.parkBackoff };
  const now = options.now ?? Date.now;
  const random = options.random ?? Math.random;
  const groupId = options.groupId ?? 'ehr-exporter';
  const inbox = new StripInbox(now);
  const hrWindowMs = options.hrSummaryWindowMs ?? 0;
  const summaries = hrWindowMs > 0 ? new HrSummaries(hrWindowMs) : undefined;
  const audit = ehrAuditRecorder(options.audit, { logger, metrics, now });
  const futureDated = options.futureDated ?? createFutureDatedCheck({ logger, metrics, now });
  /**
   * One audit entry for what reached the EHR (written, or refused by it: both were sent), after the
   * future-date check of what it carried. `written` empty and accepted: nothing was sent (the
   * EHR already had it unchanged, or a clinician owns it): no entry.
   */
  const disclosed = async (d: Omit<EhrDisclosure, 'action'>, time: Omit<ExportTime, 'protocol' | 'deviceId' | 'patientId'>) => {
    if (d.outcome === 'accepted' && !(d.resourceTypes?.length)) return;
    if (d.outcome !== 'dead_lettered') futureDated.check({ protocol: 'fhir', deviceId: d.deviceId ?? 'unknown', patientId: d.patientId, ...time });
    await audit({ action: 'ehr.fhir.send', ...d });
  };
  /** The audit fields of a dead letter: refused with the EHR's HTTP status, or dead-lettered by us. */
  const deadLetterAudit = (err: unknown, written: string[]) => {
    const status = (err as PulsebridgeError).details?.status;
    return {
      ...(typeof status === 'number' ? { outcome: 'refused' as const, status } : { outcome: 'dead_lettered' as const }),
      ...(written.length > 0 ? { resourceTypes: written } : {}),
    };
  };

  const exports = metrics.counter('pb_ehr_exports_total', 'Alert snapshots handled by the EHR exporter, by resource type and result');
  const deadLetters = metrics.counter('pb_ehr_dead_letters_total', 'Alert snapshots sent to the dead-letter stream, by reason');
  const versionConflicts = metrics.counter('pb_ehr_version_conflicts_total', 'If-Match version conflicts on updates');
  const pausedGauge = metrics.gauge('pb_ehr_export_paused', '1 while the export is paused by a failure that affects every message');
  const pauses = metrics.counter('pb_ehr_pauses_total', 'Times the export paused, by error code');
  const retries = metrics.counter('pb_ehr_retries_total', 'Retries while paused or waiting for a patient, by error code');
  const unknownGauge = metrics.gauge('pb_ehr_unknown_patients', 'Patients whose alerts wait for their MRN to appear in the EHR');
  const summaryCounter = metrics.counter('pb_ehr_hr_summaries_total', 'Periodic HR summaries, by result (created, existing, partial_skipped, unknown_patient, rejected)');
  const parkedCounter = metrics.counter('pb_ehr_parked_total', 'Messages parked on the retry stream because the EHR does not know the patient, by source stream');
  pausedGauge.set({}, 0);
  unknownGauge.set({}, 0);

  const state: { lastExportAt?: number } = {};
  /** Paused lanes, each with the exports in it that are waiting out a failure (see untilDone). */
  const paused = new Map<Lane, { since: number; code: string; reason: string; waiting: number }>();
  const unknownPatients = new Map<string, string>();

  let subscriptions: Subscription[] = [];
  let controller = new AbortController();

  // ---- health ------------------------------------------------------------------------------

  /*
   * A lane is paused while any export in it waits out a failure that concerns every message, and
   * only that export's own success (or end) counts: a strip or another alert going through says
   * nothing about the export that is stuck, and its batch stays uncommitted until that one is
   * done. One "paused" and one "resumed" log line per lane per episode, however many rounds.
   */
  /** An export in `lane` failed for every message: the first one pauses the lane, later rounds update the reason. */
  const waitingOut = (lane: Lane, code: string, reason: string, firstRound: boolean) => {
    const lanePause = paused.get(lane);
    if (lanePause) {
      Object.assign(lanePause, { code, reason });
      if (firstRound) lanePause.waiting++;
      return;
    }
    paused.set(lane, { since: now(), code, reason, waiting: 1 });
    pausedGauge.set({}, 1);
    pauses.inc({ code });
    logger.error('EHR export paused: the EHR cannot take any message; retrying until it can', { lane, code, reason });
  };
  const doneWaiting = (lane: Lane, resumed: boolean) => {
    const lanePause = paused.get(lane)!;
    if (--lanePause.waiting > 0) return;
    paused.delete(lane);
    if (paused.size === 0) pausedGauge.set({}, 0);
    if (resumed) logger.info('EHR export resumed', { lane, pausedForMs: now() - lanePause.since, after: lanePause.code });
  };
  const succeeded = (patientId?: string) => {
    state.lastExportAt = now();
    if (patientId !== undefined && unknownPatients.delete(patientId)) {
      unknownGauge.set({}, unknownPatients.size);
      logger.info('the EHR now knows the patient; their alerts go through', { patientId });
    }
  };
  const patientUnknown = (patientId: string, reason: string) => {
    if (!unknownPatients.has(patientId)) logger.warn('alerts of a patient wait: the EHR has no Patient with their MRN; retrying', { patientId, reason });
    unknownPatients.set(patientId, reason);
    unknownGauge.set({}, unknownPatients.size);
  };

  /**
   * Runs `work` until it succeeds, the failure is the message's own or the patient's (thrown to
   * the caller, who dead-letters or parks it), or the exporter stops (thrown). Failures that
   * concern every message wait and retry: that is the pause of `lane`.
   */
  const untilDone = async <T>(lane: Lane, patientId: string, signal: AbortSignal, work: () => Promise<T>): Promise<T> => {
    let waiting = false;
    try {
      for (let round = 1; ; round++) {
        try {
          const result = await work();
          succeeded(patientId);
          return result;
        } catch (err) {
          if (signal.aborted) throw err;
          const code = err instanceof PulsebridgeError ? err.code : 'PB_INTERNAL';
          // A 403 is tried again a few times (the EHR may be granting the scope right now), alone,
          // without pausing the others; then the caller dead-letters it.
          const forbiddenRetry = isForbidden(err) && round < maxForbiddenAttempts;
          if (DEAD_LETTER_REASON[code] && !forbiddenRetry) throw err;
          if (code === 'PB_EHR_PATIENT_UNKNOWN') {
            patientUnknown(patientId, (err as Error).message);
            throw err; // the caller parks it
          }
          if (!forbiddenRetry) {
            logger.debug('EHR export waits: the EHR\'s answer', { lane, code, reason: (err as Error).message });
            waitingOut(lane, code, withoutEhrText(err), !waiting);
            waiting = true;
          }
          retries.inc({ code });
          try {
            await sleep(backoffDelayMs(round, pausePolicy, random) + pausePolicy.baseDelayMs / 2, signal);
          } catch {
            throw err;
          }
        }
      }
    } finally {
      // Stopping is no resumption; a message dead-lettered or parked after the wait ends it as a success does.
      if (waiting) doneWaiting(lane, !signal.aborted);
    }
  };

  // ---- physiological alerts ----------------------------------------------------------------

  const findRhythm = async (alert: Alert, signal: AbortSignal): Promise<Stored<Observation> | undefined> => {
    const identifier = rhythmObservationIdentifier(alert, identifierSystem);
    const found = await fhir.searchByIdentifier<Observation>('Observation', identifier, { signal });
    if (found.length > 1) throw new PulsebridgeError('PB_FHIR_MULTIPLE_MATCHES', `${found.length} Observations carry identifier ${identifier.value}`, { details: { identifier } });
    return found[0];
  };

  /** The stored Observation with Pulsebridge's fields as `alert` has them; the EHR's own additions kept. */
  const merged = (current: Stored<Observation>, alert: Alert): Stored<Observation> => {
    const desired = alertObservation(alert, { identifierSystem, patientReference: current.subject.reference, deviceReference: current.device.reference, derivedFrom: [] });
    const next: Stored<Observation> = { ...current };
    for (const f of OWNED_FIELDS) {
      if (desired[f] === undefined) delete next[f];
      else (next as unknown as Record<string, unknown>)[f] = desired[f];
    }
    const theirNotes = (current.note ?? []).filter((n) => !n.text.startsWith(NOTE_PREFIX));
    const notes = [...theirNotes, ...(desired.note ?? [])];
    if (notes.length > 0) next.note = notes;
    else delete next.note;
    next.extension = [...(current.extension ?? []).filter((e) => !OUR_EXTENSIONS.has(e.url)), ...(desired.extension ?? [])];
    return next;
  };

  /** Puts `change(current)` with If-Match on the version read; reads again after a 412 (bounded). */
  const updateRhythm = async (
    read: () => Promise<Stored<Observation> | undefined>,
    change: (current: Stored<Observation>) => Stored<Observation> | ExportResult,
    signal: AbortSignal,
  ): Promise<ExportResult | undefined> => {
    for (let attempt = 1; ; attempt++) {
      const current = await read();
      if (!current) return undefined;
      if (current.status !== 'preliminary') return 'clinician_owned';
      const next = change(current);
      if (typeof next === 'string') return next;
      try {
        await fhir.update(next, { signal, ifMatchVersionId: current.meta?.versionId });
        return 'updated';
      } catch (err) {
        if (!(err instanceof PulsebridgeError && err.code === 'PB_FHIR_VERSION_CONFLICT') || attempt >= maxUpdateAttempts) throw err;
        versionConflicts.inc();
        logger.debug('version conflict; reading again', { id: current.id, attempt });
      }
    }
  };

  /** Adds `derivedFrom` → the ECG Observation to the alert Observation `read` finds (If-Match). */
  const linkEcg = (read: () => Promise<Stored<Observation> | undefined>, ecgRef: string, signal: AbortSignal) =>
    updateRhythm(read, (current) => {
      if ((current.derivedFrom ?? []).some((r) => r.reference === ecgRef)) return 'unchanged';
      return { ...current, derivedFrom: [...(current.derivedFrom ?? []), { reference: ecgRef }] };
    }, signal);

  /**
   * `trailing`: the held snapshot's own write once its interval passed (no hold; still never over a
   * newer revision, and nothing when the record already has it). `heldUntil`: for a held snapshot,
   * when (snapshot time) its interval ends.
   */
  const exportRhythm = async (alert: Alert, signal: AbortSignal, trailing = false, heldUntil?: { ms: number }): Promise<ExportResult> => {
    const patientReference = await patients.reference(alert.patientId, { signal });
    for (;;) {
      const updated = await updateRhythm(() => findRhythm(alert, signal), (current) => {
        if ((revisionOf(current) ?? 0) > alert.revision) return 'stale';
        const next = merged(current, alert);
        if (canonical(next) === canonical(current)) return 'unchanged';
        // Coalescing: only new evidence, and the record's is younger than the interval.
        const writtenAt = revisionTimeOf(current);
        if (!trailing && evidenceUpdateIntervalMs > 0 && writtenAt !== undefined && Date.parse(alert.updatedAt) - writtenAt < evidenceUpdateIntervalMs
          && withoutEvidence(next) === withoutEvidence(current)) {
          if (heldUntil) heldUntil.ms = writtenAt + evidenceUpdateIntervalMs;
          return 'held';
        }
        return next;
      }, signal);
      if (updated !== undefined) return updated;

      // Not in the EHR yet: one Bundle with the strip (waiting for it a bounded time) or a link to a strip written before.
      // (No wait when the processor said no strip will come: a device that sends no ECG.)
      const strip = alert.ecgStrip === false ? undefined : await inbox.waitFor(alert.id, Date.parse(alert.detectedAt) + ecgWaitMs, signal);
      let existingEcgReference: string | undefined;
      if (!strip) {
        const ecg = await fhir.searchByIdentifier<Observation>('Observation', ecgIdentifier(identifierSystem, { deviceId: alert.deviceId, alertId: alert.id }), { signal });
        if (ecg[0]) existingEcgReference = `Observation/${ecg[0].id}`;
      }
      const bundle = alertBundle(alert, { identifierSystem, deviceSystem, patientReference, strip, existingEcgReference });
      const response = await fhir.transaction(bundle, { signal });
      if (strip) inbox.taken(alert.id);
      if (transactionCreated(response, bundle.entry!.length - 1)) {
        if (!strip && !existingEcgReference) {
          // A strip written on its own while this Bundle was in flight looked for the alert before
          // it existed: look for the strip once more, so one of the two always sees the other.
          const ecg = await fhir.searchByIdentifier<Observation>('Observation', ecgIdentifier(identifierSystem, { deviceId: alert.deviceId, alertId: alert.id }), { signal });
          if (ecg[0]) await linkEcg(() => findRhythm(alert, signal), `Observation/${ecg[0].id}`, signal);
        }
        return 'created';
      }
      // Someone created it between our search and the transaction: update it instead.
    }
  };

  /** A strip that missed its alert's Bundle: written with its Device, then linked from the alert Observation. */
  const attachLateStrip = async (strip: EcgStrip, signal: AbortSignal): Promise<ExportResult> => {
    const patientReference = await patients.reference(strip.patientId, { signal });
    const response = await fhir.transaction(stripBundle(strip, { identifierSystem, deviceSystem, patientReference }), { signal });
    const location = response.entry?.[1]?.response?.location;
    let ecgId = location ? /Observation\/([^/]+)/.exec(location)?.[1] : undefined;
    ecgId ??= (await fhir.searchByIdentifier<Observation>('Observation', ecgIdentifier(identifierSystem, strip), { signal }))[0]?.id;
    if (!ecgId) throw new PulsebridgeError('PB_FHIR_UNAVAILABLE', 'the strip transaction went through but its Observation is not found');
    const ecgRef = `Observation/${ecgId}`;
    const readAlert = async () => {
      const found = await fhir.searchByIdentifier<Observation>('Observation', alertIdIdentifier(identifierSystem, strip.alertId), { signal });
      return found[0];
    };
    const result = await linkEcg(readAlert, ecgRef, signal);
    // No alert Observation yet: its Bundle will find the strip by identifier (exportRhythm).
    return result === 'updated' ? 'strip_attached' : 'created';
  };

  // ---- batches -----------------------------------------------------------------------------

  const publishDeadLetters = async (dead: DeadLetter[], topic: string) => {
    if (dead.length === 0) return;
    const records: BusMessage[] = dead.map((d) => {
      const record: DeadLetterRecord = {
        schema: 'pb.deadletter.v1',
        deviceId: d.deviceId,
        topic,
        reason: d.reason,
        detail: d.detail,
        payloadBase64: d.message.value.toString('base64'),
        receivedAt: now(),
        source: 'ehr-exporter',
        // `pulsebridge deadletter replay` re-publishes the payload here, where this exporter reads it again.
        stream: d.message.stream,
        key: d.message.key,
        ...(d.operationOutcome !== undefined ? { outcome: d.operationOutcome } : {}),
      };
      const headers: Record<string, string> = { 'pb-source-stream': d.message.stream, 'pb-source-offset': d.message.offset };
      if (d.code) headers['pb-error-code'] = d.code;
      return { key: d.deviceId, value: Buffer.from(JSON.stringify(record)), headers };
    });
    // If this publish fails the batch is re-delivered and re-exported (idempotently).
    await bus.publish(STREAMS.deadLetter, records);
    for (const d of dead) deadLetters.inc({ reason: d.reason });
  };

  const rejected = (message: ConsumedMessage, deviceId: string, err: unknown): DeadLetter | undefined => {
    const code = err instanceof PulsebridgeError ? err.code : undefined;
    const reason = isForbidden(err) ? 'fhir_forbidden' : code ? DEAD_LETTER_REASON[code] : undefined;
    if (!reason) return undefined;
    const details = (err as PulsebridgeError).details;
    return { message, deviceId, reason, detail: (err as Error).message, code, operationOutcome: details?.operationOutcome };
  };

  const isUnknownPatient = (err: unknown) => err instanceof PulsebridgeError && err.code === 'PB_EHR_PATIENT_UNKNOWN';

  interface Parked { message: ConsumedMessage; patientId: string; attempt: number }
  /** Parks messages of unknown patients on the retry stream, each with its next try time. */
  const park = async (parked: Parked[]) => {
    if (parked.length === 0) return;
    await bus.publish(STREAMS.ehrRetry, parked.map(({ message, patientId, attempt }) => {
      const delay = Math.min(parkPolicy.maxDelayMs, parkPolicy.baseDelayMs * 2 ** Math.min(20, attempt - 1));
      const source = message.headers?.['pb-source-stream'] ?? message.stream;
      return {
        key: patientId,
        value: message.value,
        headers: {
          'pb-source-stream': source,
          'pb-source-offset': message.headers?.['pb-source-offset'] ?? message.offset,
          'pb-attempt': String(attempt),
          'pb-not-before': String(now() + delay),
          // Another exporter group (another EHR) sharing the stream leaves it alone.
          'pb-ehr-group': groupId,
        },
      };
    }));
    for (const p of parked) parkedCounter.inc({ stream: p.message.headers?.['pb-source-stream'] ?? p.message.stream });
  };

  /**
   * Trailing writes (issue 12): per alert, the latest snapshot held back as evidence-only and not
   * yet superseded, with the timer that writes it once the interval has passed. Without it a held
   * snapshot was dropped, and an alarm that then neither changed nor ended (a steady rate: the
   * processor publishes nothing new) kept a rate in the chart minutes or hours old.
   *
   * A timer in the exporter rather than the next message on the stream: in exactly that case the
   * stream goes quiet (no new snapshot of the alarm; the one-partition alerts stream may bring
   * nothing at all), so waiting for a message would not flush it. The timer runs from when the
   * snapshot was held for the rest of the interval in snapshot time (`record's updatedAt + interval
   * - held updatedAt`): an exporter catching up on old snapshots does not fire early.
   * Exactly once, as every write here, on what the EHR holds: the write re-reads the Observation
   * and writes nothing over a newer revision ('stale': superseded by an end, acknowledgement,
   * escalation, resolution or a later update) nor when it already holds this one ('unchanged':
   * a re-delivery, another exporter instance). That check also covers a timer left running after
   * the alerts partition moved to another instance (rolling deploy): what that instance wrote
   * since (the end, say) is a newer revision in the record, and the If-Match PUT fails over a
   * write between the read and the PUT, read again: 'stale'. A later snapshot of the alert removes
   * the waiting one before it is exported (`supersede`); held too, it arms its own timer.
   * Trailing writes share `concurrency` slots among themselves (`trailingSlots`): after a backlog
   * hundreds of timers can come due at once, and each is a search and a PUT.
   * Restarts: the timers are in memory, so `stop()` writes the waiting ones before it returns
   * (bounded by `flushOnStopMs`: early rather than never); a restarted exporter re-reading them
   * finds them in the record (unchanged/stale). What a crash left waiting is written with the
   * alarm's next snapshot, as before.
   */
  const pending = new Map<string, { alert: Alert; timer: NodeJS.Timeout }>();
  const trailingSlots = new InFlightLimit(concurrency);
  const trailingWrites = metrics.counter('pb_ehr_evidence_updates_trailing_total', 'Held evidence-only rhythm Observation updates written once PULSEBRIDGE_FHIR_EVIDENCE_UPDATE_MIN had passed, by when and result');

  /** A later snapshot of the alert supersedes its waiting held one. */
  const supersede = (alert: Alert) => {
    const p = pending.get(alert.id);
    if (!p || p.alert.revision >= alert.revision) return;
    clearTimeout(p.timer);
    pending.delete(alert.id);
  };

  const holdForTrailing = (alert: Alert, untilMs: number) => {
    const armed = pending.get(alert.id);
    if (armed) {
      // Only when two exports of the alert overlap (a parked snapshot's retry, handleRetries, beside
      // the alerts stream's): each superseded what was waiting before it was written, and the later
      // of the two to be held finds the other's entry. The newer snapshot waits, on the timer there.
      if (armed.alert.revision < alert.revision) armed.alert = alert;
      return;
    }
    const timer = setTimeout(() => {
      void writeTrailing(alert.id, 'due', controller.signal);
    }, Math.max(0, untilMs - Date.parse(alert.updatedAt)));
    timer.unref();
    pending.set(alert.id, { alert, timer });
  };

  /** Writes the alert's waiting held snapshot, if any; failures are logged (it then goes with the alarm's next snapshot). */
  const writeTrailing = async (alertId: string, when: 'due' | 'stop', signal: AbortSignal): Promise<void> => {
    if (when === 'stop') return writeTrailingNow(alertId, when, signal);
    // What is waiting is looked up once a slot is free: it may have been superseded or written by then.
    await trailingSlots.acquire();
    try {
      await writeTrailingNow(alertId, when, signal);
    } finally {
      trailingSlots.release();
    }
  };

  const writeTrailingNow = async (alertId: string, when: 'due' | 'stop', signal: AbortSignal): Promise<void> => {
    const p = pending.get(alertId);
    if (!p) return;
    clearTimeout(p.timer);
    const alert = p.alert;
    const ids = { patientId: alert.patientId, alertId: alert.id, deviceId: alert.deviceId };
    const written = new Set<string>();
    try {
      const result = await untilDone('alerts', alert.patientId, signal, () => noting(written, () => exportRhythm(alert, signal, true)));
      if (pending.get(alertId)?.alert === alert) pending.delete(alertId);
      exports.inc({ resource: 'Observation', result });
      trailingWrites.inc({ when, result });
      await disclosed({ ...ids, outcome: 'accepted', resourceTypes: [...written], detail: `alert revision ${alert.revision}: ${result} (held evidence update, written after its interval)` }, { what: 'alert', effectiveMs: alertEffectiveMs(alert) });
    } catch (err) {
      if (pending.get(alertId)?.alert === alert && !signal.aborted) pending.delete(alertId);
      logger.warn('held evidence update not written after its interval; it goes with the alarm\'s next snapshot', { alertId, when, err: ehrErrorForLog(err) });
    }
  };

  const exportSnapshot = async (alert: Alert, signal: AbortSignal): Promise<{ resourceType: string; result: ExportResult }> => {
    if (isPhysiologicalKind(alert.kind)) {
      supersede(alert);
      const heldUntil = { ms: 0 };
      const result = await exportRhythm(alert, signal, false, heldUntil);
      if (result === 'held') holdForTrailing(alert, heldUntil.ms);
      return { resourceType: 'Observation', result };
    }
    if (technicalAlerts === 'skip') return { resourceType: 'Communication', result: 'skipped' };
    const patientReference = await patients.reference(alert.patientId, { signal });
    const bundle = technicalBundle(alert, { identifierSystem, deviceSystem, patientReference });
    const response = await fhir.transaction(bundle, { signal });
    // Created when any notice is new (onset, a clinician's resolution, end); entry 0 is the Device.
    const created = bundle.entry!.some((_, i) => i > 0 && transactionCreated(response, i));
    return { resourceType: 'Communication', result: created ? 'created' : 'existing' };
  };

  const handleBatch = async (messages: ConsumedMessage[]): Promise<void> => {
    const signal = controller.signal;
    const dead: DeadLetter[] = [];
    /** Snapshots grouped by alert id, in stream order, so an alert's create precedes its updates. */
    const byAlert = new Map<string, { message: ConsumedMessage; alert: Alert }[]>();
    for (const message of messages) {
      const json = parseRecord(message, envelopeSchema, dead, (j) => (j as { alert?: { deviceId?: unknown } } | null)?.alert?.deviceId);
      if (json === undefined) continue;
      const alert = (json as AlertEnvelope).alert;
      const list = byAlert.get(alert.id) ?? [];
      list.push({ message, alert });
      byAlert.set(alert.id, list);
    }

    const groups = [...byAlert.values()];
    // A strip that comes meanwhile waits for its alert's export rather than be written on its own.
    for (const id of byAlert.keys()) inbox.exporting(id);
    const counts: Record<string, number> = {};
    const parked: Parked[] = [];
    const attemptOf = (m: ConsumedMessage) => Number(m.headers?.['pb-attempt'] ?? '0') + 1;
    const exportGroup = async (group: { message: ConsumedMessage; alert: Alert }[]) => {
      for (const { message, alert } of group) {
        const ids = { patientId: alert.patientId, alertId: alert.id, deviceId: alert.deviceId };
        const time = { what: 'alert', effectiveMs: alertEffectiveMs(alert) };
        const written = new Set<string>();
        try {
          // Every round's writes count (a Bundle may have gone through before a later step failed).
          const { resourceType, result } = await untilDone('alerts', alert.patientId, signal, () => noting(written, () => exportSnapshot(alert, signal)));
          exports.inc({ resource: resourceType, result });
          counts[result] = (counts[result] ?? 0) + 1;
          await disclosed({ ...ids, outcome: 'accepted', resourceTypes: [...written], detail: `alert revision ${alert.revision}: ${result}` }, time);
        } catch (err) {
          if (signal.aborted) throw err;
          if (isUnknownPatient(err)) {
            parked.push({ message, patientId: alert.patientId, attempt: attemptOf(message) });
            counts.parked = (counts.parked ?? 0) + 1;
            continue;
          }
          const d = rejected(message, alert.deviceId, err) ?? (err instanceof RangeError || err instanceof TypeError
            ? { message, deviceId: alert.deviceId, reason: 'mapping_failed', detail: (err as Error).message }
            : undefined);
          if (!d) throw err;
          dead.push(d);
          logger.debug('alert not exported: the EHR\'s answer', { alertId: alert.id, err: err as Error });
          logger.warn('alert not exported; dead-lettered', { alertId: alert.id, kind: alert.kind, reason: d.reason, err: ehrErrorForLog(err) });
          await disclosed({ ...ids, ...deadLetterAudit(err, [...written]), detail: `alert revision ${alert.revision}: dead-lettered: ${d.reason}` }, time);
        }
      }
    };
    const worker = async () => {
      for (let group = groups.shift(); group; group = groups.shift()) {
        try {
          await exportGroup(group);
        } finally {
          inbox.exported(group[0]!.alert.id);
        }
      }
    };
    try {
      await Promise.all(Array.from({ length: Math.min(concurrency, groups.length) }, worker));
    } finally {
      // Groups no worker got to (a worker threw): their exports will not run in this batch.
      for (const group of groups.splice(0)) inbox.exported(group[0]!.alert.id);
    }
    await park(parked);
    await publishDeadLetters(dead, STREAMS.alerts);
    if (messages.length > 0) logger.info('EHR export batch done', { messages: messages.length, ...counts, deadLettered: dead.length });
  };

  const handleStrips = async (messages: ConsumedMessage[]): Promise<void> => {
    const signal = controller.signal;
    const dead: DeadLetter[] = [];
    const strips: { message: ConsumedMessage; strip: EcgStrip }[] = [];
    for (const message of messages) {
      const json = parseRecord(message, stripSchema, dead);
      if (json === undefined) continue;
      strips.push({ message, strip: json as EcgStrip });
      inbox.put(json as EcgStrip);
    }
    // Each strip is committed only once it is in the EHR (in its alert's Bundle or on its own) or parked.
    const parked: Parked[] = [];
    await Promise.all(strips.map(async ({ message, strip }) => {
      // A parked strip (retry stream) waits for nothing: its alert had its chance.
      const retried = message.headers?.['pb-attempt'] !== undefined;
      if (await inbox.whenTaken(strip.alertId, retried ? 0 : stripGraceMs, signal)) return;
      if (signal.aborted) throw new PulsebridgeError('PB_FHIR_UNAVAILABLE', 'EHR exporter stopping');
      const ids = { patientId: strip.patientId, alertId: strip.alertId, deviceId: strip.deviceId };
      const time = { what: 'ecg-strip', effectiveMs: strip.startMs + (strip.uV.length / strip.fsHz) * 1000 };
      const written = new Set<string>();
      try {
        const result = await untilDone('strips', strip.patientId, signal, () => noting(written, () => attachLateStrip(strip, signal)));
        exports.inc({ resource: 'Observation', result });
        await disclosed({ ...ids, outcome: 'accepted', resourceTypes: [...written], detail: `ECG strip: ${result}` }, time);
      } catch (err) {
        if (signal.aborted) throw err;
        if (isUnknownPatient(err)) {
          parked.push({ message, patientId: strip.patientId, attempt: Number(message.headers?.['pb-attempt'] ?? '0') + 1 });
          return;
        }
        const d = rejected(message, strip.deviceId, err);
        if (!d) throw err;
        // As for an alert (one line per dead letter; ids only): strips were dead-lettered silently.
        logger.debug('ECG strip not exported: the EHR\'s answer', { alertId: strip.alertId, err: err as Error });
        logger.warn('ECG strip not exported; dead-lettered', { alertId: strip.alertId, reason: d.reason, err: ehrErrorForLog(err) });
        dead.push(d);
        await disclosed({ ...ids, ...deadLetterAudit(err, [...written]), detail: `ECG strip: dead-lettered: ${d.reason}` }, time);
      } finally {
        inbox.release(strip.alertId);
      }
    }));
    await park(parked);
    await publishDeadLetters(dead, STREAMS.ecgStrips);
  };

  /** Telemetry → closed HR windows → Device + HR Observation transactions (derived data: an unknown patient's window is skipped, not parked). */
  const handleTelemetry = async (messages: ConsumedMessage[]): Promise<void> => {
    if (!summaries) return;
    const signal = controller.signal;
    const closed: HrWindow[] = [];
    const skippedBefore = summaries.partialSkipped;
    for (const message of messages) {
      let record: TelemetryRecord;
      try {
        record = JSON.parse(message.value.toString('utf8')) as TelemetryRecord;
      } catch {
        continue; // the processor dead-letters records it cannot read
      }
      if (record?.schema !== 'pb.telemetry.v1' || typeof record.frame?.ts !== 'number' || typeof record.patientId !== 'string') continue;
      closed.push(...summaries.add(record));
    }
    if (summaries.partialSkipped > skippedBefore) summaryCounter.inc({ result: 'partial_skipped' }, summaries.partialSkipped - skippedBefore);
    for (const w of closed) {
      const ids = { patientId: w.patientId, deviceId: w.deviceId };
      const time = { what: 'hr-summary', effectiveMs: w.endMs };
      const written = new Set<string>();
      try {
        const response = await untilDone('hr-summaries', w.patientId, signal, () => noting(written, async () => {
          const patientReference = await patients.reference(w.patientId, { signal });
          return fhir.transaction(hrSummaryBundle(w, { identifierSystem, deviceSystem, patientReference }), { signal });
        }));
        const result = transactionCreated(response, 1) ? 'created' : 'existing';
        summaryCounter.inc({ result });
        await disclosed({ ...ids, outcome: 'accepted', resourceTypes: [...written], detail: `HR summary: ${result}` }, time);
      } catch (err) {
        if (signal.aborted) throw err;
        const result = isUnknownPatient(err) ? 'unknown_patient' : DEAD_LETTER_REASON[(err as PulsebridgeError).code ?? ''] ? 'rejected' : undefined;
        if (!result) throw err;
        summaryCounter.inc({ result });
        logger.debug('HR summary not exported: the EHR\'s answer', { patientId: w.patientId, err: err as Error });
        logger.warn('HR summary not exported', { patientId: w.patientId, windowStart: new Date(w.startMs).toISOString(), result, err: ehrErrorForLog(err) });
        // Refused by the EHR: sent, so audited. An unknown patient's summary is skipped, not sent.
        if (result === 'rejected') {
          const status = (err as PulsebridgeError).details?.status;
          await disclosed({ ...ids, outcome: 'refused', ...(typeof status === 'number' ? { status } : {}), detail: 'HR summary: rejected, not exported' }, time);
        }
      }
    }
  };

  /** Parked messages: each waits for its not-before time, then goes through the alert or strip path again. */
  const handleRetries = async (messages: ConsumedMessage[]): Promise<void> => {
    const signal = controller.signal;
    for (const message of messages) {
      if ((message.headers?.['pb-ehr-group'] ?? groupId) !== groupId) continue;
      const notBefore = Number(message.headers?.['pb-not-before'] ?? '0');
      const wait = notBefore - now();
      if (wait > 0) await sleep(wait, signal);
      // The original stream's handler, with the retry headers kept so the attempt count grows.
      const again = { ...message, stream: message.headers?.['pb-source-stream'] ?? STREAMS.alerts };
      if (again.stream === STREAMS.ecgStrips) await handleStrips([again]);
      else await handleBatch([again]);
    }
  };

  return {
    handleBatch,
    handleStrips,
    handleRetries,
    handleTelemetry,
    health: (): ExportHealth => {
      const lanes = [...paused].sort(([, a], [, b]) => a.since - b.since).map(([lane, p]) => [lane, { reason: p.reason, pausedSince: new Date(p.since).toISOString() }] as const);
      const first = lanes[0];
      const stalled = first ? undefined : options.fhir.stalled?.();
      return {
        status: first ? 'paused' : stalled ? 'degraded' : 'ok',
        ...(first ? { reason: `${first[0]}: ${first[1].reason}`, pausedSince: first[1].pausedSince, pausedLanes: Object.fromEntries(lanes) } : {}),
        ...(stalled ? { reason: `the EHR has not answered ${stalled.request} within the request timeout (${stalled.reason}); retrying`, degradedSince: new Date(stalled.sinceMs).toISOString() } : {}),
        unknownPatientCount: unknownPatients.size,
        ...(state.lastExportAt !== undefined ? { lastExportAt: new Date(state.lastExportAt).toISOString() } : {}),
        stripsWaiting: inbox.size,
        ...(futureDated.count > 0 ? { futureDatedExports: futureDated.count } : {}),
      };
    },
    deliveries: [
      { stream: STREAMS.alerts, groupId },
      { stream: STREAMS.ecgStrips, groupId: `${groupId}-strips` },
      { stream: STREAMS.ehrRetry, groupId: `${groupId}-retry` },
    ],
    async start() {
      if (subscriptions.length > 0) return;
      controller = new AbortController();
      const fromBeginning = options.fromBeginning ?? true;
      subscriptions = [
        await bus.subscribe(STREAMS.alerts, { groupId, fromBeginning, onBatch: handleBatch }),
        // Every strip partition at once: a strip waits (stripGraceMs) for its alert's export, which
        // may be held behind an earlier alert's; taken one partition at a time, each strip's wait
        // held up the strips behind it, which were then written on their own, late.
        await bus.subscribe(STREAMS.ecgStrips, { groupId: `${groupId}-strips`, fromBeginning, onBatch: handleStrips, concurrentPartitions: STRIP_PARTITIONS_AT_ONCE }),
        await bus.subscribe(STREAMS.ehrRetry, { groupId: `${groupId}-retry`, fromBeginning, onBatch: handleRetries }),
      ];
      // Summaries start at the stream's end: the first deployment does not back-fill history.
      if (summaries) subscriptions.push(await bus.subscribe(STREAMS.telemetry, { groupId: `${groupId}-hr`, fromBeginning: false, onBatch: handleTelemetry }));
    },
    async stop() {
      const subs = subscriptions;
      subscriptions = [];
      // Ask the consumer loops to end first, then abort the exports in flight so they end promptly.
      const stopped = Promise.all(subs.map((s) => s.stop()));
      controller.abort(new PulsebridgeError('PB_FHIR_UNAVAILABLE', 'EHR exporter stopping'));
      await stopped;
      // The held updates still waiting are written now, before their interval is over (`pending`),
      // one at a time; nothing more is tried once `flushOnStopMs` has run out.
      if (pending.size > 0) {
        const flush = AbortSignal.timeout(options.flushOnStopMs ?? 5_000);
        const waiting = pending.size;
        for (const id of [...pending.keys()]) {
          if (flush.aborted) break;
          await writeTrailing(id, 'stop', flush);
        }
        if (pending.size > 0) logger.warn('stopping with held evidence updates unwritten; they go with each alarm\'s next snapshot', { waiting, unwritten: pending.size });
        for (const p of pending.values()) clearTimeout(p.timer);
        pending.clear();
      }
    },
  };
}
