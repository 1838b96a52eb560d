/**
 * Pure mapping of a physiological alert to the FHIR R4 rhythm/arrhythmia event Observation
 * (fhir-and-alarms.md §1 row 5 and §2.1). No I/O.
 *
 * Decisions (see codes.ts for the codes and their sources):
 * - `status` is `preliminary`: the alert is machine-detected; a clinician over-read makes it
 *   `final` (§2.1; 2023 ACC/AHA/ACCP/HRS AF guideline rec. 1). Acknowledging an alert is not an over-read.
 * - `interpretation` describes the coded rhythm value, so it uses the codes R4 defines for
 *   non-numeric results: `AA` Critical abnormal for high-priority alerts (IEC 60601-1-8 high =
 *   immediate response, matching AA's "immediate action should be considered"), `A` Abnormal
 *   otherwise. The priority is the alert's own (it may be configured per patient).
 * - Rate-limit alerts also carry `LL`/`L`/`HH`/`H` on the heart-rate component, because those codes
 *   are defined for quantitative results: extreme_brady LL, brady L, extreme_tachy HH, tachy H.
 * - VT is coded by duration once the end is known (> 30 s sustained, otherwise NSVT); while it is
 *   ongoing the duration is unknown and the generic VT code is used. The end update rewrites the value.
 * - A pause carries its length (evidence.gapMs) as an RR-interval component in ms.
 */
import type { Alert, AlertKind } from '../contracts/alert.ts';
import { TECHNICAL_KINDS } from '../contracts/alert.ts';
import {
  HEART_RATE_CODINGS,
  INTERPRETATION,
  PROCEDURE_CATEGORY,
  RHYTHM_CODINGS,
  RHYTHM_STATUS_CODE,
  RR_INTERVAL_CODING,
  SUSTAINED_VT_MIN_MS,
  SYSTEMS,
} from './codes.ts';
import type { CodeableConcept, Coding, Identifier, Observation, ObservationComponent } from './fhir-types.ts';
import { businessIdentifier, toInstant } from './identifier.ts';

export interface ObservationMappingOptions {
  /** System URI of our business identifiers (config PULSEBRIDGE_FHIR_IDENTIFIER_SYSTEM). */
  identifierSystem: string;
}

export type PhysiologicalKind = Exclude<AlertKind, 'signal_loss' | 'lead_off' | 'low_battery'>;

const KIND_TEXT: Record<PhysiologicalKind, string> = {
  asystole: 'Asystole',
  pause: 'Pause',
  extreme_brady: 'Extreme bradycardia',
  brady: 'Bradycardia',
  extreme_tachy: 'Extreme tachycardia',
  tachy: 'Tachycardia',
  vt: 'Ventricular tachycardia',
  afib: 'Atrial fibrillation',
};

/** Interpretation of the heart-rate component for the rate-limit alerts only. */
const RATE_INTERPRETATION: Partial<Record<PhysiologicalKind, Coding>> = {
  extreme_brady: INTERPRETATION.criticalLow,
  brady: INTERPRETATION.low,
  extreme_tachy: INTERPRETATION.criticalHigh,
  tachy: INTERPRETATION.high,
};

const copy = (codings: readonly Coding[]): Coding[] => codings.map((c) => ({ ...c }));

/** True for kinds that become a rhythm Observation (everything not technical). */
export function isPhysiologicalKind(kind: AlertKind): kind is PhysiologicalKind {
  return !TECHNICAL_KINDS.has(kind);
}

/** The business identifier of the alert's Observation (identifier.ts explains the format). */
export function rhythmObservationIdentifier(alert: Alert, identifierSystem: string): Identifier {
  return businessIdentifier(identifierSystem, alert.deviceId, RHYTHM_STATUS_CODE.code, alert.kind, toInstant(alert.onset, 'alert.onset'));
}

function rhythmValue(kind: PhysiologicalKind, durationMs: number | undefined): CodeableConcept {
  switch (kind) {
    case 'asystole':
      return { coding: copy(RHYTHM_CODINGS.asystole), text: KIND_TEXT[kind] };
    case 'pause':
      return { coding: copy(RHYTHM_CODINGS.pause), text: KIND_TEXT[kind] };
    case 'extreme_brady':
    case 'brady':
      return { coding: copy(RHYTHM_CODINGS.bradycardia), text: KIND_TEXT[kind] };
    case 'extreme_tachy':
    case 'tachy':
      return { coding: copy(RHYTHM_CODINGS.tachycardia), text: KIND_TEXT[kind] };
    case 'afib':
      return { coding: copy(RHYTHM_CODINGS.atrialFibrillation), text: KIND_TEXT[kind] };
    case 'vt':
      if (durationMs === undefined) return { coding: copy(RHYTHM_CODINGS.ventricularTachycardia), text: 'Ventricular tachycardia' };
      return durationMs > SUSTAINED_VT_MIN_MS
        ? { coding: copy(RHYTHM_CODINGS.sustainedVt), text: 'Sustained ventricular tachycardia' }
        : { coding: copy(RHYTHM_CODINGS.nonsustainedVt), text: 'Nonsustained ventricular tachycardia' };
  }
}

const isKnownNumber = (x: unknown): x is number => typeof x === 'number' && Number.isFinite(x);

function components(alert: Alert, kind: PhysiologicalKind): ObservationComponent[] {
  const out: ObservationComponent[] = [];
  if (isKnownNumber(alert.evidence.hrBpm)) {
    const hr: ObservationComponent = {
      code: { coding: copy(HEART_RATE_CODINGS), text: 'Heart rate' },
      valueQuantity: { value: alert.evidence.hrBpm, unit: 'beats/minute', system: SYSTEMS.ucum, code: '/min' },
    };
    const rate = RATE_INTERPRETATION[kind];
    if (rate) hr.interpretation = [{ coding: [{ ...rate }] }];
    out.push(hr);
  }
  if (kind === 'pause' && isKnownNumber(alert.evidence.gapMs)) {
    out.push({
      code: { coding: [{ ...RR_INTERVAL_CODING }], text: 'Pause length (RR interval)' },
      valueQuantity: { value: alert.evidence.gapMs, unit: 'ms', system: SYSTEMS.ucum, code: 'ms' },
    });
  }
  return out;
}

/**
 * Maps a physiological alert snapshot to its rhythm Observation. The same episode always yields
 * the same identifier; later snapshots differ only in what detection learned since (end, VT class).
 * @throws TypeError for technical kinds (they map to a Communication, see communication.ts);
 *   RangeError when onset/end/detectedAt are not ISO 8601 times.
 */
export function alertToObservation(alert: Alert, options: ObservationMappingOptions): Observation {
  const kind = alert.kind;
  if (!isPhysiologicalKind(kind)) throw new TypeError(`alert kind ${kind} is technical; it maps to a Communication, not a rhythm Observation`);
  const start = toInstant(alert.onset, 'alert.onset');
  const end = alert.end === undefined ? undefined : toInstant(alert.end, 'alert.end');
  const durationMs = end === undefined ? undefined : Date.parse(end) - Date.parse(start);
  const observation: Observation = {
    resourceType: 'Observation',
    identifier: [rhythmObservationIdentifier(alert, options.identifierSystem)],
    status: 'preliminary',
    category: [{ coding: [{ ...PROCEDURE_CATEGORY }] }],
    code: { coding: [{ ...RHYTHM_STATUS_CODE }], text: 'ECG rhythm status' },
    subject: { reference: `Patient/${alert.patientId}` },
    effectivePeriod: end === undefined ? { start } : { start, end },
    issued: toInstant(alert.detectedAt, 'alert.detectedAt'),
    device: { reference: `Device/${alert.deviceId}` },
    valueCodeableConcept: rhythmValue(kind, durationMs),
    interpretation: [{ coding: [{ ...(alert.priority === 'high' ? INTERPRETATION.criticalAbnormal : INTERPRETATION.abnormal) }] }],
  };
  const comps = components(alert, kind);
  if (comps.length > 0) observation.component = comps;
  return observation;
}
