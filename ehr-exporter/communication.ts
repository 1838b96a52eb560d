/**
 * Pure mapping of a technical alert (lead_off, signal_loss, low_battery) to a FHIR R4
 * Communication with category `notification` (fhir-and-alarms.md §2.5). Technical alarms are not
 * clinical findings, so they never become rhythm Observations; the EHR still learns that the
 * record has a gap and why ("silence means fine, not no data", product.md).
 *
 * The Communication is written once, at first sight. It is not updated when the condition ends:
 * a Communication records a message that was sent, and a second notice would be a new message.
 */
import type { Alert, AlertKind, AlertPriority } from '../contracts/alert.ts';
import { TECHNICAL_KINDS } from '../contracts/alert.ts';
import { NOTIFICATION_CATEGORY } from './codes.ts';
import type { Communication, Identifier } from './fhir-types.ts';
import { businessIdentifier, toInstant } from './identifier.ts';

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

/**
 * @throws TypeError for physiological kinds; RangeError when onset/detectedAt are not ISO 8601 times.
 */
export function alertToCommunication(alert: Alert, options: CommunicationMappingOptions): Communication {
  const label = TECHNICAL_TEXT[alert.kind];
  if (!TECHNICAL_KINDS.has(alert.kind) || label === undefined) {
    throw new TypeError(`alert kind ${alert.kind} is physiological; it maps to a rhythm Observation, not a Communication`);
  }
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
