/**
 * One physiological alert → one FHIR R4 transaction Bundle (fhir-and-alarms.md §2.1, §3 "Bundle";
 * shared/docs/fhir-examples/bundle.json), so the EHR never holds half an event:
 * - the Device, created once (conditional create on its identifier; identity.ts);
 * - the heart-rate Observation at the onset (§1 row 1: vital-signs, LOINC 8867-4 + MDC 147842, `/min`);
 * - the ECG strip Observation (§1 row 4: MDC 131328, SampledData in mV, `E` for missing and lead-off samples);
 * - the mean RR interval (§1 row 2, MDC 147240) and, with enough N–N intervals, SDNN (§1 row 3,
 *   LOINC 80404-7) over the qualifying beats (rr-hrv.ts: sources and rule);
 * - the alert (rhythm status) Observation (§1 row 5) with `derivedFrom` → the strip, the HR and
 *   RR/HRV Observations, the lifecycle as annotations (who and when), and its alert id as a second identifier.
 * Every entry is a conditional create keyed on a business identifier, so a re-sent Bundle
 * creates nothing new. References between entries use `urn:uuid:` fullUrls; the server rewrites
 * them (R4 http.html#transaction). Pure: no I/O.
 *
 * Not sent: the Communication of bundle.json. Who is notified is the dashboard's job (product.md),
 * and the EHR learns acknowledgement and escalation from the annotations instead.
 */
import { randomUUID } from 'node:crypto';
import type { Alert } from '../contracts/alert.ts';
import { SYSTEM_ACTOR } from '../processor/alarm-lifecycle.ts';
import type { EcgStrip } from '../contracts/ecg-strip.ts';
import { HEART_RATE_CODINGS, PROCEDURE_CATEGORY, SYSTEMS } from './codes.ts';
import { identifierQuery } from './fhir-client.ts';
import type { Annotation, Bundle, BundleEntry, Communication, Device, FhirResource, Identifier, Observation, Reference } from './fhir-types.ts';
import { businessIdentifier, IDENTIFIER_SEPARATOR, toInstant } from './identifier.ts';
import { alertToCommunication, alertToEndCommunication, alertToResolvedCommunication } from './communication.ts';
import type { HrWindow } from './hr-summaries.ts';
import { alertToObservation } from './observation.ts';
import { alertRrSeries, meanRrObservation, sdnnObservation } from './rr-hrv.ts';

/** MDC_ECG_ELEC_POTL 131328 (§1 row 4). Our patch has one lead whose placement the protocol does not name, so no lead I/II code. */
export const ECG_CODING = { system: SYSTEMS.mdc, code: '131328', display: 'MDC_ECG_ELEC_POTL' } as const;
export const VITAL_SIGNS_CATEGORY = { system: SYSTEMS.observationCategory, code: 'vital-signs', display: 'Vital Signs' } as const;
export const HEART_RATE_PROFILE = 'http://hl7.org/fhir/StructureDefinition/heartrate';
/** R4 data-absent-reason `error` (§2.5: lead-off windows). */
const DATA_ABSENT_ERROR = { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/data-absent-reason', code: 'error', display: 'Error' }] };
/**
 * Extension carrying the alert revision the Observation was last written from, so an older
 * snapshot that arrives late (a retried one) never rolls the record back.
 */
export const ALERT_REVISION_EXTENSION = 'urn:pulsebridge:fhir:alert-revision';
/**
 * Extension carrying that revision's `updatedAt` (when the processor published it): how old the
 * evidence in the record is, so evidence-only updates can be coalesced (exporter.ts
 * `evidenceUpdateIntervalMs`) on what the EHR holds, across restarts.
 */
export const ALERT_UPDATED_AT_EXTENSION = 'urn:pulsebridge:fhir:alert-updated-at';
/** Annotations Pulsebridge owns start with this; the EHR's own notes are left alone. */
export const NOTE_PREFIX = 'Pulsebridge: ';

export interface AlertBundleOptions {
  identifierSystem: string;
  /** Identifier system of Device resources (PULSEBRIDGE_EHR_DEVICE_SYSTEM). */
  deviceSystem: string;
  /** `Patient/{EHR id}` (identity.ts). */
  patientReference: string;
  /** The alert's ECG strip, when it arrived in time. */
  strip?: EcgStrip;
  /** An ECG Observation already in the EHR (a strip written on its own, ecg-strips.ts). */
  existingEcgReference?: string;
  /** Source of the urn:uuid values (tests make them deterministic). */
  uuid?: () => string;
}

/** `{system}|alert/{alertId}`: the second identifier of an alert Observation, found from a strip that only knows the alert id. */
export function alertIdIdentifier(identifierSystem: string, alertId: string): Identifier {
  return { system: identifierSystem, value: ['alert', alertId].join(IDENTIFIER_SEPARATOR) };
}

/** `{deviceId}/131328/{alertId}`: one strip per alert (contracts/ecg-strip.ts), so the alert id names it. */
export function ecgIdentifier(identifierSystem: string, strip: Pick<EcgStrip, 'deviceId' | 'alertId'>): Identifier {
  return { system: identifierSystem, value: [strip.deviceId, ECG_CODING.code, strip.alertId].join(IDENTIFIER_SEPARATOR) };
}

export function deviceIdentifier(deviceSystem: string, deviceId: string): Identifier {
  return { system: deviceSystem, value: deviceId };
}

export function deviceResource(deviceSystem: string, deviceId: string): Device {
  return {
    resourceType: 'Device',
    identifier: [deviceIdentifier(deviceSystem, deviceId)],
    status: 'active',
    serialNumber: deviceId,
    deviceName: [{ name: `Pulsebridge ECG patch ${deviceId}`, type: 'user-friendly-name' }],
  };
}

/** Lifecycle annotations from the alert's state: acknowledged, escalated, resolved (who and when). */
export function lifecycleNotes(alert: Alert): Annotation[] {
  const notes: Annotation[] = [];
  if (alert.escalatedAt && (alert.escalationLevel ?? 0) > 0) {
    notes.push({ authorString: 'Pulsebridge', time: toInstant(alert.escalatedAt, 'alert.escalatedAt'), text: `${NOTE_PREFIX}escalated (level ${alert.escalationLevel}), not acknowledged in time` });
  }
  if (alert.acknowledgedAt) {
    notes.push({ authorString: alert.acknowledgedBy ?? 'unknown', time: toInstant(alert.acknowledgedAt, 'alert.acknowledgedAt'), text: `${NOTE_PREFIX}acknowledged by ${alert.acknowledgedBy ?? 'unknown'}` });
  }
  const endNote = alert.evidence.endNote;
  if (alert.end && endNote && !(alert.resolvedAt && alert.resolvedBy === SYSTEM_ACTOR)) {
    // What the rhythm did at the end (an AF ending into a fast regular rate: consider flutter),
    // also while the alert waits for review; a processor-resolved one says it in selfEndedText.
    notes.push({ authorString: 'Pulsebridge', time: toInstant(alert.end, 'alert.end'), text: `${NOTE_PREFIX}ended at ${alert.end}: ${endNote}` });
  }
  if (alert.resolvedAt && alert.resolvedBy === SYSTEM_ACTOR) {
    // The processor closing an alarm whose condition ended is not someone dealing with it:
    // "resolved by pulsebridge-processor" read as if it had been seen to.
    notes.push({ authorString: 'Pulsebridge', time: toInstant(alert.resolvedAt, 'alert.resolvedAt'), text: `${NOTE_PREFIX}${selfEndedText(alert)}` });
  } else if (alert.resolvedAt) {
    // The clinician's reason ("Artefact / false alarm") belongs in the chart with the resolution:
    // without it the record says an alarm was closed, not what it was.
    const reason = alert.resolveReason ? ` — “${alert.resolveReason}”` : '';
    notes.push({ authorString: alert.resolvedBy ?? 'unknown', time: toInstant(alert.resolvedAt, 'alert.resolvedAt'), text: `${NOTE_PREFIX}resolved by ${alert.resolvedBy ?? 'unknown'}${reason}` });
  }
  return notes;
}

/**
 * An alert the processor closed itself: its condition ended on its own ("ended on its own at …"),
 * or the lifecycle closed it for the reason in its evidence note (an end estimated after a
 * restart, the alarm switched off); "not reviewed" when no clinician acknowledged it. What the
 * rhythm did at the end (evidence `endNote`: "irregularity ended, rate 150/min regular — consider
 * atrial flutter") follows the end in brackets.
 */
export function selfEndedText(alert: Alert): string {
  const at = alert.end ?? alert.resolvedAt ?? 'an unknown time';
  const endNote = alert.evidence.endNote ? ` (${alert.evidence.endNote})` : '';
  const what = alert.evidence.note ? `closed by Pulsebridge at ${at}: ${alert.evidence.note}` : `ended on its own at ${at}${endNote}`;
  return alert.acknowledgedAt ? what : `${what} — not reviewed by a clinician`;
}

export function revisionOf(observation: Pick<Observation, 'extension'>): number | undefined {
  return observation.extension?.find((e) => e.url === ALERT_REVISION_EXTENSION)?.valueInteger;
}

/** The `updatedAt` of the revision the Observation was last written from (epoch ms), when it says. */
export function revisionTimeOf(observation: Pick<Observation, 'extension'>): number | undefined {
  const at = Date.parse(observation.extension?.find((e) => e.url === ALERT_UPDATED_AT_EXTENSION)?.valueInstant ?? '');
  return Number.isFinite(at) ? at : undefined;
}

/**
 * The alert Observation as Pulsebridge wants it now: the rhythm mapping (observation.ts) with
 * EHR references, both identifiers, annotations and the revision.
 */
export function alertObservation(alert: Alert, o: { identifierSystem: string; patientReference: string; deviceReference: string; derivedFrom: Reference[] }): Observation {
  const obs = alertToObservation(alert, { identifierSystem: o.identifierSystem });
  obs.extension = [{ url: ALERT_REVISION_EXTENSION, valueInteger: alert.revision }];
  // Only a valid time (the envelope schema does not check updatedAt; a snapshot without one is still exported).
  if (Number.isFinite(Date.parse(alert.updatedAt))) obs.extension.push({ url: ALERT_UPDATED_AT_EXTENSION, valueInstant: new Date(alert.updatedAt).toISOString() });
  obs.identifier.push(alertIdIdentifier(o.identifierSystem, alert.id));
  obs.subject = { reference: o.patientReference };
  obs.device = { reference: o.deviceReference };
  if (o.derivedFrom.length > 0) obs.derivedFrom = o.derivedFrom;
  const notes = lifecycleNotes(alert);
  if (notes.length > 0) obs.note = notes;
  return obs;
}

/** A summary window as a person says it: "30 s", "5 min", "1.5 h" (a 0.5-minute window read "1 min" before). */
function windowText(ms: number): string {
  if (ms < 60_000) return `${Math.round(ms / 1000)} s`;
  if (ms < 3_600_000) return `${Number((ms / 60_000).toFixed(1))} min`;
  return `${Number((ms / 3_600_000).toFixed(1))} h`;
}

/** A periodic HR summary (hr-summaries.ts): the window's mean at its end, or dataAbsentReason `error` when no frame counted. */
export function hrSummaryObservation(w: HrWindow, o: { identifierSystem: string; patientReference: string; deviceReference: string }): Observation {
  const end = new Date(w.endMs).toISOString();
  return {
    resourceType: 'Observation',
    meta: { profile: [HEART_RATE_PROFILE] },
    identifier: [{ system: o.identifierSystem, value: [w.deviceId, HEART_RATE_CODINGS[1]!.code, 'summary', new Date(w.startMs).toISOString()].join(IDENTIFIER_SEPARATOR) }],
    status: 'final',
    category: [{ coding: [{ ...VITAL_SIGNS_CATEGORY }] }],
    code: { coding: HEART_RATE_CODINGS.map((c) => ({ ...c })), text: `Heart rate, mean over ${windowText(w.endMs - w.startMs)}` },
    subject: { reference: o.patientReference },
    effectiveDateTime: end,
    ...(w.meanBpm === undefined
      ? { dataAbsentReason: DATA_ABSENT_ERROR }
      : { valueQuantity: { value: Math.round(w.meanBpm * 10) / 10, unit: 'beats/minute', system: SYSTEMS.ucum, code: '/min' } }),
    device: { reference: o.deviceReference },
  };
}

type StandaloneBundleOptions = Omit<AlertBundleOptions, 'strip' | 'existingEcgReference'>;

/** One Observation with its Device as a transaction; `observation` gets the Device's bundle reference. */
function deviceAndObservationBundle(
  deviceId: string,
  o: StandaloneBundleOptions,
  observation: (refs: { identifierSystem: string; patientReference: string; deviceReference: string }) => Observation,
): Bundle {
  const uuid = o.uuid ?? randomUUID;
  const deviceUrl = `urn:uuid:${uuid()}`;
  return {
    resourceType: 'Bundle',
    type: 'transaction',
    entry: [
      createEntry(deviceUrl, deviceResource(o.deviceSystem, deviceId)),
      createEntry(`urn:uuid:${uuid()}`, observation({ identifierSystem: o.identifierSystem, patientReference: o.patientReference, deviceReference: deviceUrl })),
    ],
  };
}

/** Device + HR summary as one transaction. */
export function hrSummaryBundle(w: HrWindow, o: StandaloneBundleOptions): Bundle {
  return deviceAndObservationBundle(w.deviceId, o, (refs) => hrSummaryObservation(w, refs));
}

/** The heart rate at the event (evidence.hrBpm over the qualifying beats), or undefined when detection had none. */
export function heartRateObservation(alert: Alert, o: { identifierSystem: string; patientReference: string; deviceReference: string }): Observation | undefined {
  const hr = alert.evidence.hrBpm;
  if (typeof hr !== 'number' || !Number.isFinite(hr)) return undefined;
  const at = toInstant(alert.onset, 'alert.onset');
  return {
    resourceType: 'Observation',
    meta: { profile: [HEART_RATE_PROFILE] },
    identifier: [businessIdentifier(o.identifierSystem, alert.deviceId, HEART_RATE_CODINGS[1]!.code, alert.kind, at)],
    status: 'final',
    category: [{ coding: [{ ...VITAL_SIGNS_CATEGORY }] }],
    code: { coding: HEART_RATE_CODINGS.map((c) => ({ ...c })), text: 'Heart rate' },
    subject: { reference: o.patientReference },
    // effectiveDateTime, not a Period: the R4 vs-1 invariant false-fails on effectivePeriod (§1 notes).
    effectiveDateTime: at,
    valueQuantity: { value: Math.round(hr * 10) / 10, unit: 'beats/minute', system: SYSTEMS.ucum, code: '/min' },
    device: { reference: o.deviceReference },
  };
}

/**
 * SampledData of a strip: integer microvolts with factor 0.001 → mV, origin 0 mV, period
 * 1000/fs ms; `E` where a sample is missing or lies in a lead-off range (§1 row 4, §2.5).
 * A strip recorded entirely with the leads off carries no data: dataAbsentReason `error`.
 */
/** The ends of the device contract's int16 µV samples (device-protocol.md `ecg.uV`). */
const INT16_MIN_UV = -32_768;
const INT16_MAX_UV = 32_767;

export function ecgObservation(strip: EcgStrip, o: { identifierSystem: string; patientReference: string; deviceReference: string }): Observation {
  const off = new Uint8Array(strip.uV.length);
  for (const [from, to] of strip.leadOff) off.fill(1, Math.max(0, from), Math.min(strip.uV.length, to));
  // The device contract's samples are int16 µV: its ends are where the front end saturated, so a
  // sample there is "below/above the limit" (fhir-and-alarms.md §1 row 4: "L"/"U"), not a value.
  const sample = (v: number) => (v <= INT16_MIN_UV ? 'L' : v >= INT16_MAX_UV ? 'U' : String(Math.round(v)));
  const tokens = strip.uV.map((v, i) => (v === null || off[i] === 1 || !Number.isFinite(v) ? 'E' : sample(v)));
  const periodMs = 1000 / strip.fsHz;
  const endMs = strip.startMs + Math.round(strip.uV.length * periodMs);
  const allMissing = tokens.every((t) => t === 'E');
  const component = {
    code: { coding: [{ ...ECG_CODING }], text: 'ECG, single lead' },
    ...(allMissing || tokens.length === 0
      ? { dataAbsentReason: DATA_ABSENT_ERROR }
      : {
          valueSampledData: {
            origin: { value: 0, unit: 'mV', system: SYSTEMS.ucum, code: 'mV' },
            period: Number(periodMs.toFixed(6)),
            factor: 0.001,
            // In the data's unit after the factor (mV), as R4 defines them: the int16 µV range.
            lowerLimit: INT16_MIN_UV / 1000,
            upperLimit: INT16_MAX_UV / 1000,
            dimensions: 1,
            data: tokens.join(' '),
          },
        }),
  };
  return {
    resourceType: 'Observation',
    identifier: [ecgIdentifier(o.identifierSystem, strip)],
    status: 'final',
    category: [{ coding: [{ ...PROCEDURE_CATEGORY }] }],
    code: { coding: [{ ...ECG_CODING }], text: 'ECG strip' },
    subject: { reference: o.patientReference },
    effectivePeriod: { start: new Date(strip.startMs).toISOString(), end: new Date(endMs).toISOString() },
    device: { reference: o.deviceReference },
    component: [component],
  };
}

function createEntry(fullUrl: string, resource: FhirResource & { identifier: Identifier[] }): BundleEntry {
  return { fullUrl, resource, request: { method: 'POST', url: resource.resourceType, ifNoneExist: identifierQuery(resource.identifier[0]!) } };
}

/** The transaction Bundle of a raised alert (see the file comment). */
export function alertBundle(alert: Alert, o: AlertBundleOptions): Bundle {
  const uuid = o.uuid ?? randomUUID;
  const deviceUrl = `urn:uuid:${uuid()}`;
  const refs = { identifierSystem: o.identifierSystem, patientReference: o.patientReference, deviceReference: deviceUrl };
  const entries: BundleEntry[] = [createEntry(deviceUrl, deviceResource(o.deviceSystem, alert.deviceId))];
  const derivedFrom: Reference[] = [];
  if (o.strip) {
    const url = `urn:uuid:${uuid()}`;
    entries.push(createEntry(url, ecgObservation(o.strip, refs)));
    derivedFrom.push({ reference: url });
  } else if (o.existingEcgReference) {
    derivedFrom.push({ reference: o.existingEcgReference });
  }
  const hr = heartRateObservation(alert, refs);
  const rr = alertRrSeries(alert, o.strip);
  const evidence = [hr, rr && meanRrObservation(alert, rr, refs), rr && sdnnObservation(alert, rr, refs)];
  for (const obs of evidence) {
    if (!obs) continue;
    const url = `urn:uuid:${uuid()}`;
    entries.push(createEntry(url, obs));
    derivedFrom.push({ reference: url });
  }
  const alertUrl = `urn:uuid:${uuid()}`;
  entries.push(createEntry(alertUrl, alertObservation(alert, { ...refs, derivedFrom })));
  return { resourceType: 'Bundle', type: 'transaction', entry: entries };
}

/**
 * A technical alert (lead-off, signal loss, low battery) as a transaction of the Device and its
 * Communication `notification` (§2.5; communication.ts), the sender being the Device resource;
 * once a clinician resolved it, the resolution notice, and once the condition ended, the end notice,
 * each `inResponseTo` the onset's (its `urn:uuid:`, which the server resolves to the onset
 * Communication created now or found existing). All conditional creates: every snapshot of the
 * alarm may send them again.
 */
export function technicalBundle(alert: Alert, o: Omit<AlertBundleOptions, 'strip' | 'existingEcgReference'>): Bundle {
  const uuid = o.uuid ?? randomUUID;
  const deviceUrl = `urn:uuid:${uuid()}`;
  const onsetUrl = `urn:uuid:${uuid()}`;
  const withRefs = (c: Communication): Communication => ({ ...c, subject: { reference: o.patientReference }, sender: { reference: deviceUrl } });
  const entries = [createEntry(deviceUrl, deviceResource(o.deviceSystem, alert.deviceId)), createEntry(onsetUrl, withRefs(alertToCommunication(alert, { identifierSystem: o.identifierSystem })))];
  // The resolution first: it usually comes while the condition holds (communication.ts).
  for (const notice of [alertToResolvedCommunication(alert, { identifierSystem: o.identifierSystem }), alertToEndCommunication(alert, { identifierSystem: o.identifierSystem })]) {
    if (!notice) continue;
    const inResponse: Communication = { ...withRefs(notice), inResponseTo: [{ reference: onsetUrl }] };
    entries.push(createEntry(`urn:uuid:${uuid()}`, inResponse));
  }
  return { resourceType: 'Bundle', type: 'transaction', entry: entries };
}

/** A strip that missed its alert's Bundle, written on its own with its Device. */
export function stripBundle(strip: EcgStrip, o: StandaloneBundleOptions): Bundle {
  return deviceAndObservationBundle(strip.deviceId, o, (refs) => ecgObservation(strip, refs));
}
