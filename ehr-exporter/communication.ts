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
 *
 * A clinician who resolves a technical alarm while its condition continues (leads taken off for a
 * shower, resolved "patient showering") is a third message, `… resolved` (who, when, why, and that
 * the condition was still present), identifier the onset's with `/resolved`, also `inResponseTo`
 * the onset's (EHR walk: the chart got nothing until the leads were back on, while HL7 had the
 * resolution at once, PCD-04 phase end). The end notice still follows when the condition ends: it
 * is another event (the record's gap closes; the processor publishes that end for the EHR,
 * processor/alarm-lifecycle.ts), and without it the chart would keep "still present" for ever,
 * the fault the end notice fixed. One of each per alarm; `/end` keeps meaning the condition ended.
 */
import type { Alert, AlertKind, AlertPriority } from '../contracts/alert.ts';
import { TECHNICAL_KINDS } from '../contracts/alert.ts';
import { SYSTEM_ACTOR } from '../processor/alarm-lifecycle.ts';
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
  return laterNoticeIdentifier(alert, identifierSystem, 'end');
}

function laterNoticeIdentifier(alert: Alert, identifierSystem: string, suffix: 'end' | 'resolved'): Identifier {
  const onset = technicalCommunicationIdentifier(alert, identifierSystem);
  return { system: onset.system, value: `${onset.value}${IDENTIFIER_SEPARATOR}${suffix}` };
}

/** `{deviceId}/notification/{kind}/{onsetInstant}/resolved`: the notice of a clinician's resolution of that alarm (one per alarm). */
export function technicalResolvedCommunicationIdentifier(alert: Alert, identifierSystem: string): Identifier {
  return laterNoticeIdentifier(alert, identifierSystem, 'resolved');
}

/** Resolved by someone, not closed by the processor because the condition ended on its own. */
function clinicianResolution(alert: Alert): { by: string; at: string; reason: string } | undefined {
  if (alert.resolvedAt === undefined || alert.resolvedBy === SYSTEM_ACTOR) return undefined;
  return { by: alert.resolvedBy ?? 'unknown', at: toInstant(alert.resolvedAt, 'alert.resolvedAt'), reason: alert.resolveReason ? ` — “${alert.resolveReason}”` : '' };
}

function technicalLabel(alert: Alert): string {
  const label = TECHNICAL_TEXT[alert.kind];
  if (!TECHNICAL_KINDS.has(alert.kind) || label === undefined) {
    throw new TypeError(`alert kind ${alert.kind} is physiological; it maps to a rhythm Observation, not a Communication`);
  }
  return label;
}

/** The Communication `notification` every notice of a technical alarm is (onset, resolution, end): what differs is passed in. */
function notice(alert: Alert, n: { identifier: Identifier; priority: Communication['priority']; topic: string; sent: string; text: string }): Communication {
  return {
    resourceType: 'Communication',
    identifier: [n.identifier],
    status: 'completed',
    category: [{ coding: [{ ...NOTIFICATION_CATEGORY }] }],
    priority: n.priority,
    subject: { reference: `Patient/${alert.patientId}` },
    topic: { text: n.topic },
    sent: n.sent,
    sender: { reference: `Device/${alert.deviceId}` },
    payload: [{ contentString: n.text }],
  };
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
  const resolved = clinicianResolution(alert);
  const resolvedText = resolved ? ` Alarm resolved by ${resolved.by} at ${resolved.at}.` : '';
  return notice(alert, {
    identifier: technicalEndCommunicationIdentifier(alert, options.identifierSystem),
    priority: 'routine',
    topic: `${label} ended`,
    sent: toInstant(alert.updatedAt, 'alert.updatedAt'),
    text: `Technical alarm ended: ${label} on device ${alert.deviceId} from ${onset} to ${end} (${lasted(Date.parse(end) - Date.parse(onset))}).${why}${resolvedText}`,
  });
}

/**
 * The notice of a technical alert resolved by a clinician (`resolvedBy` not the processor), or
 * undefined otherwise. Sent at the resolution (`resolvedAt`), routine; says whether the condition
 * was still present then (no `end` in the snapshot) or had ended. `inResponseTo` left to the caller.
 * @throws TypeError for physiological kinds; RangeError when onset/end/resolvedAt are not ISO 8601 times.
 */
export function alertToResolvedCommunication(alert: Alert, options: CommunicationMappingOptions): Communication | undefined {
  const label = technicalLabel(alert);
  const resolved = clinicianResolution(alert);
  if (!resolved) return undefined;
  const onset = toInstant(alert.onset, 'alert.onset');
  const condition = alert.end === undefined ? `was still present then (since ${onset})` : `ended at ${toInstant(alert.end, 'alert.end')} (since ${onset})`;
  return notice(alert, {
    identifier: technicalResolvedCommunicationIdentifier(alert, options.identifierSystem),
    priority: 'routine',
    topic: `${label} resolved`,
    sent: resolved.at,
    text: `Technical alarm resolved: ${label} on device ${alert.deviceId}, resolved by ${resolved.by} at ${resolved.at}${resolved.reason}; the condition ${condition}.`,
  });
}

/**
 * @throws TypeError for physiological kinds; RangeError when onset/detectedAt are not ISO 8601 times.
 */
export function alertToCommunication(alert: Alert, options: CommunicationMappingOptions): Communication {
  const label = technicalLabel(alert);
  const onset = toInstant(alert.onset, 'alert.onset');
  return notice(alert, {
    identifier: technicalCommunicationIdentifier(alert, options.identifierSystem),
    priority: PRIORITY[alert.priority],
    topic: label,
    sent: toInstant(alert.detectedAt, 'alert.detectedAt'),
    text: `Technical alarm: ${label} on device ${alert.deviceId} since ${onset}.`,
  });
}
