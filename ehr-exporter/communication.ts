/**
 * Pure mapping of a technical alert (lead_off, signal_loss, low_battery) to a FHIR R4
 * Communication with category `notification` (fhir-and-alarms.md §2.5). Technical alarms are not
 * clinical findings, so they never become rhythm Observations; the EHR still learns that the
 * record has a gap and why ("silence means fine, not no data", product.md).
 *
 * The Communication is written once, at first sight, and never updated: a Communication records
 * a message that was sent. When the condition ends, the EHR gets a second, new message (EHR walk:
 * a chart showed "Leads off" for ever): a Communication `notification` "… ended" whose
 * `inResponseTo` is the onset's (R4 Communication.inResponseTo, Reference(Communication): "prior
 * communication that this communication is in response to", how R4 threads messages; `partOf` is
 * for the larger action a message is part of, and updating the onset's would rewrite what was
 * sent and need update/read scopes the exporter does not ask for: `system/Communication.cs`).
 * Its identifier is the onset's with `/end`: one per alarm, a conditional create like the onset's,
 * so a re-delivered or re-published end (a restart) creates nothing new.
 */
import type { Alert, AlertKind, AlertPriority } from '../contracts/alert.ts';
import { TECHNICAL_KINDS } from '../contracts/alert.ts';
import { NOTIFICATION_CATEGORY } from './codes.ts';
import type { Communication, Identifier } from './fhir-types.ts';
import { businessIdentifier, IDENTIFIER_SEPARATOR, toInstant } from './identifier.ts';

export interface CommunicationMappingOptions {
  identifierSystem: string;
}

const TECHNICAL_TEXT: Partial<Record<AlertKind, string>> = {
  lead_off: 'Leads off',
  signal_loss: 'Signal loss',
  low_battery: 'Low battery',
};

/**
 * R4 request-priority (routine < urgent < asap < stat). Technical alarms default to low priority
 * (§7), i.e. routine; `stat` is kept for life-threatening physiological alarms.
 */
const PRIORITY: Record<AlertPriority, Communication['priority']> = { low: 'routine', medium: 'urgent', high: 'asap' };

/** `{deviceId}/notification/{kind}/{onsetInstant}` (identifier.ts explains the format). */
export function technicalCommunicationIdentifier(alert: Alert, identifierSystem: string): Identifier {
  return businessIdentifier(identifierSystem, alert.deviceId, 'notification', alert.kind, toInstant(alert.onset, 'alert.onset'));
}

/** `{deviceId}/notification/{kind}/{onsetInstant}/end`: the end notice of the alarm the onset's identifier names (one per alarm). */
export function technicalEndCommunicationIdentifier(alert: Alert, identifierSystem: string): Identifier {
  const onset = technicalCommunicationIdentifier(alert, identifierSystem);
  return { system: onset.system, value: `${onset.value}${IDENTIFIER_SEPARATOR}end` };
}

function technicalLabel(alert: Alert): string {
  const label = TECHNICAL_TEXT[alert.kind];
  if (!TECHNICAL_KINDS.has(alert.kind) || label === undefined) {
    throw new TypeError(`alert kind ${alert.kind} is physiological; it maps to a rhythm Observation, not a Communication`);
  }
  return label;
}

/** "45 s", "12 min", "3 h 5 min": how long the condition lasted, as the notice says it. */
function lasted(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s} s`;
  const min = Math.round(s / 60);
  return min < 60 ? `${min} min` : `${Math.floor(min / 60)} h${min % 60 > 0 ? ` ${min % 60} min` : ''}`;
}

/**
 * The end notice of a technical alert whose condition ended (`end` set), or undefined while it
 * holds. Sent when the pipeline published the end (`updatedAt` of the snapshot), routine (it
 * asks nothing of anyone), `inResponseTo` left to the caller (the onset Communication's reference).
 * @throws TypeError for physiological kinds; RangeError when onset/end/updatedAt are not ISO 8601 times.
 */
export function alertToEndCommunication(alert: Alert, options: CommunicationMappingOptions): Communication | undefined {
  const label = technicalLabel(alert);
  if (alert.end === undefined) return undefined;
  const onset = toInstant(alert.onset, 'alert.onset');
  const end = toInstant(alert.end, 'alert.end');
  // Why the lifecycle closed it, when it was not the condition ending on its own (an end estimated after a restart).
  const why = alert.evidence.note ? ` ${alert.evidence.note}` : '';
  return {
    resourceType: 'Communication',
    identifier: [technicalEndCommunicationIdentifier(alert, options.identifierSystem)],
    status: 'completed',
    category: [{ coding: [{ ...NOTIFICATION_CATEGORY }] }],
    priority: 'routine',
    subject: { reference: `Patient/${alert.patientId}` },
    topic: { text: `${label} ended` },
    sent: toInstant(alert.updatedAt, 'alert.updatedAt'),
    sender: { reference: `Device/${alert.deviceId}` },
    payload: [{ contentString: `Technical alarm ended: ${label} on device ${alert.deviceId} from ${onset} to ${end} (${lasted(Date.parse(end) - Date.parse(onset))}).${why}` }],
  };
}

/**
 * @throws TypeError for physiological kinds; RangeError when onset/detectedAt are not ISO 8601 times.
 */
export function alertToCommunication(alert: Alert, options: CommunicationMappingOptions): Communication {
  const label = technicalLabel(alert);
  const onset = toInstant(alert.onset, 'alert.onset');
  return {
    resourceType: 'Communication',
    identifier: [technicalCommunicationIdentifier(alert, options.identifierSystem)],
    status: 'completed',
    category: [{ coding: [{ ...NOTIFICATION_CATEGORY }] }],
    priority: PRIORITY[alert.priority],
    subject: { reference: `Patient/${alert.patientId}` },
    topic: { text: label },
    sent: toInstant(alert.detectedAt, 'alert.detectedAt'),
    sender: { reference: `Device/${alert.deviceId}` },
    payload: [{ contentString: `Technical alarm: ${label} on device ${alert.deviceId} since ${onset}.` }],
  };
}
