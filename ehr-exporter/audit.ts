/**
 * The audit trail of what the EHR exporter disclosed to the EHR: one entry per message whose fate
 * is final — delivered (FHIR: the resources written for one alert snapshot, ECG strip or HR
 * summary; HL7: one ACKed ORU) or dead-lettered. Same file and shape as the dashboard API's PHI
 * access entries (platform/audit.ts, dashboard-api/audit.ts), so one trail covers who read a
 * patient's data in Pulsebridge and what left it for the EHR (HIPAA §164.312(b); the README calls
 * the HL7 side an IHE ATNA secure node, which records an audit event per PHI export).
 *
 * Like the dashboard's entries it names the patient by our patient id, the alert and the device;
 * never the MRN and no clinical value (kind, rate, times of the episode).
 *
 * Retries are not entries: a send the EHR answers only after the client's own retries (FHIR 5xx),
 * a paused lane's rounds and an HL7 message answered AE or AR before the engine takes it leave one entry,
 * written once the message is delivered or dead-lettered.
 */
import type { AuditSink } from '../platform/audit.ts';
import type { Logger } from '../platform/log.ts';
import type { MetricsRegistry } from '../platform/metrics.ts';

/** The exporter's name in the trail, when no SMART client id names it. */
export const EHR_EXPORTER_ACTOR = 'pulsebridge-ehr-exporter';

export type EhrAuditAction = 'ehr.fhir.send' | 'ehr.hl7.send';

/**
 * `accepted`: the EHR took it (FHIR 2xx, HL7 AA/CA). `refused`: the EHR answered no (FHIR 4xx with
 * `status`, HL7 the last of 5 AE/CE/AR/CR answers, with `ack`); it was dead-lettered. `dead_lettered`:
 * dead-lettered without the EHR refusing it (no MRN configured, two Patients with the MRN, a
 * snapshot that does not map).
 */
export type EhrAuditOutcome = 'accepted' | 'refused' | 'dead_lettered';

export interface EhrAuditEntry {
  at: string;
  /** `role` is always `ehr-exporter`; `sub` the SMART client id, else {@link EHR_EXPORTER_ACTOR}. */
  actor: { sub: string; role: 'ehr-exporter' };
  action: EhrAuditAction;
  patientId: string;
  alertId?: string;
  deviceId?: string;
  outcome: EhrAuditOutcome;
  /** FHIR: the HTTP status of a refusal. */
  status?: number;
  /** HL7: MSA-1 of the engine's answer (AA, CA, AE, CE, AR, CR). */
  ack?: string;
  /** FHIR: the resource types written (created, found existing or updated), e.g. `["Device","Observation"]`. */
  resourceTypes?: string[];
  /** HL7: MSH-9 and MSH-10 of the message. */
  messageType?: string;
  controlId?: string;
  /** The FHIR base URL (no credentials, query or fragment) or `mllp://host:port` / `mllps://host:port`. */
  destination: string;
  /** What was exported and what came of it, e.g. `alert revision 2: updated`, or the dead letter's reason. */
  detail?: string;
}

/** The fields an exporter supplies; the recorder adds time, actor and destination. */
export type EhrDisclosure = Omit<EhrAuditEntry, 'at' | 'actor' | 'destination'>;

export interface EhrAuditOptions {
  sink: AuditSink<EhrAuditEntry>;
  /** Default {@link EHR_EXPORTER_ACTOR}. */
  actor?: string;
  /** Where the exporter sends (see {@link EhrAuditEntry.destination}). */
  destination: string;
}

/** A FHIR base URL as the trail names it: without user, password, query or fragment. */
export function fhirDestination(baseUrl: string): string {
  const url = new URL(baseUrl);
  url.username = '';
  url.password = '';
  url.search = '';
  url.hash = '';
  return url.toString().replace(/\/+$/, '');
}

/**
 * Writes the entries. The disclosure has happened when an entry is written, so a failed write
 * (a full disk) cannot undo it and must not hold back the next patient's alarm: it is logged as
 * an error (ids only) and counted in `pb_ehr_audit_failures_total`, unlike the dashboard API,
 * which refuses a request it cannot audit before disclosing anything.
 */
export function ehrAuditRecorder(options: EhrAuditOptions | undefined, deps: { logger: Logger; metrics: MetricsRegistry; now: () => number }): (d: EhrDisclosure) => Promise<void> {
  const failures = deps.metrics.counter('pb_ehr_audit_failures_total', 'EHR disclosures whose audit entry could not be written, by action');
  if (!options) return async () => {};
  const actor = { sub: options.actor ?? EHR_EXPORTER_ACTOR, role: 'ehr-exporter' as const };
  return async (d) => {
    try {
      await options.sink.record({ at: new Date(deps.now()).toISOString(), actor, ...d, destination: options.destination });
    } catch (err) {
      failures.inc({ action: d.action });
      deps.logger.error('EHR disclosure not audited: the audit trail cannot be written', { action: d.action, patientId: d.patientId, alertId: d.alertId, err: err as Error });
    }
  };
}
