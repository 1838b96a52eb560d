/**
 * HL7 v2.6 messages of the IHE Patient Care Device profiles, for hospitals that take device data
 * only through an interface engine (issue 11 §6). Pure: alert → message text. Sources:
 * - PCD-01 Communicate PCD Data, ORU^R01 (IHE PCD TF-2 §3.1): the heart rate at the event as
 *   OBX `NM` 147842^MDC_ECG_HEART_RATE^MDC in 264864^MDC_DIM_BEAT_PER_MIN^MDC (MDC codes are
 *   decimal context-free codes, partition × 65536 + term: fhir-and-alarms.md §0; MDC_DIM_BEAT_PER_MIN
 *   is 4:2720), result status R (unverified by a human).
 * - PCD-04 Report Alert, ORU^R40 (IHE PCD Alarm Communication Management supplement, "facets"):
 *   under one OBR per alarm, OBX facet 1 names the alarm (MDC event code of fhir-and-alarms.md §4,
 *   DICOM CID 3038) with OBX-8 = abnormality~priority (PH/PM/PL)~source (SP physiological, ST
 *   technical); facet 2 the source value (HR); then event phase (start, update, escalate, end;
 *   alarmFacets), alarm state (active, latched, inactive), inactivation state (alert-acknowledged)
 *   and, once escalated, the escalation level (local code, 99PB). The facet
 *   OBX-3 codes 68481/68482/68483 (MDC_ATTR_EVENT_PHASE, _ALARM_STATE, _ALARM_INACTIVATION_STATE)
 *   are those of the PCD TF-2 ACM appendix as we recall them; earlier trial texts wrote the bare
 *   names EVENT_PHASE etc. (unverified against the final text).
 * - Kinds with no MDC event code in §4 (VT, pause; technical alarms) are sent as
 *   199874^MDC_EVT_ECG_ARRHY^MDC with the kind in the text, or under a local `99PB` code.
 * MSH-10 (control id) is `{alertId}-{revision}[-hr]`: a re-sent message repeats it, so a
 * receiver that de-duplicates on it records each lifecycle change once.
 */
import type { Alert } from '../contracts/alert.ts';
import { SYSTEM_ACTOR } from '../processor/alarm-lifecycle.ts';
import type { Identifier } from './fhir-types.ts';

export interface Hl7Options {
  sendingApplication: string;
  sendingFacility: string;
  receivingApplication: string;
  receivingFacility?: string;
  /** The patient's MRN (identity.ts), sent in PID-3. */
  mrn: Identifier;
}

/** HL7 v2 escape sequences for the default delimiters (v2.6 §2.7.4). */
export function escapeHl7(text: string): string {
  return text.replace(/\\/g, '\\E\\').replace(/\|/g, '\\F\\').replace(/\^/g, '\\S\\').replace(/&/g, '\\T\\').replace(/~/g, '\\R\\').replace(/[\r\n]+/g, ' ');
}

/** HL7 DTM with milliseconds and UTC offset: `20260101000003.000+0000`. */
export function hl7Time(iso: string | number): string {
  const d = new Date(iso);
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  return `${d.getUTCFullYear()}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}.${p(d.getUTCMilliseconds(), 3)}+0000`;
}

/** MDC event codes of fhir-and-alarms.md §4 (DICOM CID 3038). */
const EVENT: Record<Alert['kind'], [code: string, name: string, system: string]> = {
  asystole: ['199684', 'MDC_EVT_ECG_ASYSTOLE', 'MDC'],
  extreme_brady: ['199692', 'MDC_EVT_ECG_SINUS_BRADY', 'MDC'],
  brady: ['199692', 'MDC_EVT_ECG_SINUS_BRADY', 'MDC'],
  extreme_tachy: ['199870', 'MDC_EVT_ECG_SINUS_TACHY', 'MDC'],
  tachy: ['199870', 'MDC_EVT_ECG_SINUS_TACHY', 'MDC'],
  afib: ['199736', 'MDC_EVT_ECG_ATR_FIB', 'MDC'],
  vt: ['199874', 'MDC_EVT_ECG_ARRHY', 'MDC'],
  pause: ['199874', 'MDC_EVT_ECG_ARRHY', 'MDC'],
  lead_off: ['lead_off', 'Leads off', '99PB'],
  signal_loss: ['signal_loss', 'Signal loss', '99PB'],
  low_battery: ['low_battery', 'Low battery', '99PB'],
};
const LABEL: Record<Alert['kind'], string> = {
  asystole: 'Asystole', extreme_brady: 'Extreme bradycardia', brady: 'Bradycardia', extreme_tachy: 'Extreme tachycardia', tachy: 'Tachycardia',
  afib: 'Atrial fibrillation', vt: 'Ventricular tachycardia', pause: 'Pause', lead_off: 'Leads off', signal_loss: 'Signal loss', low_battery: 'Low battery',
};
const PRIORITY = { high: 'PH', medium: 'PM', low: 'PL' } as const;
/** Abnormality flag of facet 1: LL/HH for the rate limits, A otherwise. */
const ABNORMAL: Partial<Record<Alert['kind'], string>> = { extreme_brady: 'LL', brady: 'L', extreme_tachy: 'HH', tachy: 'H' };
export const HEART_RATE_OBX3 = '147842^MDC_ECG_HEART_RATE^MDC';
export const BEATS_PER_MIN = '264864^MDC_DIM_BEAT_PER_MIN^MDC';

export type EventPhase = 'start' | 'update' | 'escalate' | 'end';

/**
 * Lifecycle of one snapshot as ACM facets (see the file comment). Event phase, in this order
 * (ACM: a message is sent at start, end, and escalation of an alarm; `update` reports another
 * change of an alarm already reported):
 * - revision 1 → `start`;
 * - an escalation (processor/alarm-lifecycle.ts `escalate`: `escalationLevel` + 1, `escalatedAt`
 *   = `updatedAt` of that very revision) → `escalate`. Only unacknowledged alarms escalate, often
 *   after their condition ended (latched; escalation comes 60 s and 180 s after detection): the
 *   engine must see that as an escalation, with state `latched`, not as a second `end`. A later
 *   revision keeps `escalatedAt` but has a newer `updatedAt`, so it is not an escalation;
 * - the condition ended (`end` set) or the alarm was resolved → `end`, whatever else changed: an
 *   acknowledged alarm that ends, an ended alarm later acknowledged or resolved;
 * - anything else (new evidence, acknowledged while the condition lasts) → `update`.
 */
export function alarmFacets(alert: Alert): { phase: EventPhase; state: 'active' | 'latched' | 'inactive'; inactivation?: 'alert-acknowledged' } {
  // A clinician's acknowledgement or resolve; the processor resolving a non-latching alarm whose
  // condition ended is neither, so it does not read as acknowledged.
  const acked = alert.acknowledgedAt !== undefined || alert.state === 'acknowledged' || (alert.state === 'resolved' && alert.resolvedBy !== SYSTEM_ACTOR);
  const ended = alert.end !== undefined || alert.state === 'resolved';
  // Latched: ended, not resolved, nobody acknowledged it yet — high-priority alarms and AF waiting
  // for review (processor/alarm-lifecycle.ts; others are resolved by the processor as they end).
  const state = alert.state === 'resolved' ? 'inactive' : ended ? (acked ? 'inactive' : 'latched') : 'active';
  const escalation = (alert.escalationLevel ?? 0) > 0 && alert.escalatedAt === alert.updatedAt;
  const phase: EventPhase = alert.revision === 1 ? 'start' : escalation ? 'escalate' : ended ? 'end' : 'update';
  return { phase, state, ...(acked ? { inactivation: 'alert-acknowledged' as const } : {}) };
}

function msh(o: Hl7Options, type: string, profile: string, controlId: string, at: string): string {
  return ['MSH', '^~\\&', o.sendingApplication, o.sendingFacility, o.receivingApplication, o.receivingFacility ?? '', hl7Time(at), '', type, controlId, 'P', '2.6', '', '', 'NE', 'AL', '', 'UNICODE UTF-8', '', '', profile].join('|');
}

/**
 * PID-3 = the MRN, its assigning authority (CX-4) in the universal id subcomponents: an OID goes
 * bare with type `ISO` (`&1.2.3.4.5&ISO`, not `&urn:oid:1.2.3.4.5&URI`), any other system as a
 * `URI`. PID-5 (name) stays empty: the exporter knows patients by MRN only.
 */
function pid(o: Hl7Options): string {
  const oid = /^urn:oid:([0-2](\.\d+)+)$/.exec(o.mrn.system)?.[1];
  const authority = oid ? `&${oid}&ISO` : `&${escapeHl7(o.mrn.system)}&URI`;
  return ['PID', '', '', `${escapeHl7(o.mrn.value)}^^^${authority}^MR`].join('|');
}

/**
 * An EI (entity identifier) we assign: `id^namespace`, the namespace (EI-2) being our sending
 * application. Used for OBR-2/3 (the alert) and OBX-18 (the device). OBX-18 was `id^^^PULSEBRIDGE`,
 * which put our name in EI-4, the universal id *type*, whose values come from HL7 table 0301
 * (ISO, UUID, EUI64, …): a table-validating engine may refuse it (EHR walk, /work/notes/ehr-walk.md #4).
 */
function entityId(id: string, o: Hl7Options): string {
  return `${escapeHl7(id)}^${escapeHl7(o.sendingApplication)}`;
}

/** HL7 v2 ends every segment with the segment terminator CR, the last segment too. */
function message(segments: string[]): string {
  return segments.map((segment) => `${segment}\r`).join('');
}

/** PCD-01 ORU^R01 with the heart rate at the alert's onset; undefined when detection had no HR. */
export function pcd01HeartRate(alert: Alert, o: Hl7Options, now: string): string | undefined {
  const hr = alert.evidence.hrBpm;
  if (typeof hr !== 'number' || !Number.isFinite(hr)) return undefined;
  const at = hl7Time(alert.onset);
  return message([
    msh(o, 'ORU^R01^ORU_R01', 'IHE_PCD_001^IHE PCD^1.3.6.1.4.1.19376.1.6.1.1.1^ISO', `${alert.id}-${alert.revision}-hr`, now),
    pid(o),
    ['OBR', '1', entityId(alert.id, o), entityId(alert.id, o), '182777000^monitoring of patient^SCT', '', '', at].join('|'),
    ['OBX', '1', 'NM', HEART_RATE_OBX3, '1.0.1.1', String(Math.round(hr * 10) / 10), BEATS_PER_MIN, '', '', '', '', 'R', '', '', at, '', '', '', entityId(alert.deviceId, o)].join('|'),
  ]);
}

/** PCD-04 ORU^R40 for one lifecycle snapshot of an alert (see alarmFacets). */
export function pcd04Alarm(alert: Alert, o: Hl7Options, now: string): string {
  const [code, name, system] = EVENT[alert.kind];
  const facets = alarmFacets(alert);
  const source = alert.category === 'technical' ? 'ST' : 'SP';
  const at = hl7Time(alert.onset);
  const obx: string[][] = [
    ['OBX', '1', 'ST', `${code}^${name}^${system}`, '1.0.0.0.1', escapeHl7(LABEL[alert.kind]), '', '', `${ABNORMAL[alert.kind] ?? 'A'}~${PRIORITY[alert.priority]}~${source}`, '', '', 'R', '', '', at, '', '', '', entityId(alert.deviceId, o)],
  ];
  const hr = alert.evidence.hrBpm;
  if (typeof hr === 'number' && Number.isFinite(hr)) obx.push(['OBX', '', 'NM', HEART_RATE_OBX3, '1.0.0.0.2', String(Math.round(hr * 10) / 10), BEATS_PER_MIN, '', '', '', '', 'R']);
  obx.push(['OBX', '', 'ST', '68481^MDC_ATTR_EVENT_PHASE^MDC', '1.0.0.0.3', facets.phase, '', '', '', '', '', 'R']);
  obx.push(['OBX', '', 'ST', '68482^MDC_ATTR_ALARM_STATE^MDC', '1.0.0.0.4', facets.state, '', '', '', '', '', 'R']);
  if (facets.inactivation) obx.push(['OBX', '', 'ST', '68483^MDC_ATTR_ALARM_INACTIVATION_STATE^MDC', '1.0.0.0.5', facets.inactivation, '', '', '', '', '', 'R']);
  // Which escalation this is (we know of no ACM facet for it): the engine can tell the first
  // from the second without counting messages.
  if (alert.escalationLevel) obx.push(['OBX', '', 'NM', 'escalation_level^Escalation level^99PB', '1.0.0.0.6', String(alert.escalationLevel), '', '', '', '', '', 'R']);
  // What the rhythm did at the end, in words (an AF ending into a fast regular rate: consider
  // flutter; contracts/alert.ts `endNote`), under a local code like the escalation level.
  if (alert.end && alert.evidence.endNote) obx.push(['OBX', '', 'ST', 'end_note^End note^99PB', '1.0.0.0.7', escapeHl7(alert.evidence.endNote), '', '', '', '', '', 'R']);
  obx.forEach((segment, i) => (segment[1] = String(i + 1)));
  const end = alert.end ? hl7Time(alert.end) : '';
  return message([
    msh(o, 'ORU^R40^ORU_R40', 'IHE_PCD_ACM_001^IHE PCD^1.3.6.1.4.1.19376.1.6.4.4.1^ISO', `${alert.id}-${alert.revision}`, now),
    pid(o),
    // OBR-2/3: the alert id identifies the alarm across its messages; OBR-4 MDC_EVT_ALARM (3:8, unverified); OBR-7/8: onset and end.
    ['OBR', '1', entityId(alert.id, o), entityId(alert.id, o), '196616^MDC_EVT_ALARM^MDC', '', '', at, end].join('|'),
    ...obx.map((s) => s.join('|')),
  ]);
}
