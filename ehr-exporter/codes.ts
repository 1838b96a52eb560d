/**
 * Terminology used by the EHR export. Every code cites its source; the sources are collected in
 * /work/shared/docs/fhir-and-alarms.md (§0 systems, §1 observation codes, §4 event codes).
 */
import type { Coding } from './fhir-types.ts';

export const SYSTEMS = {
  /** IEEE 11073-10101 (MDC), decimal context-free codes = partition × 65536 + term (§0). */
  mdc: 'urn:iso:std:iso:11073:10101',
  loinc: 'http://loinc.org',
  snomed: 'http://snomed.info/sct',
  ucum: 'http://unitsofmeasure.org',
  observationCategory: 'http://terminology.hl7.org/CodeSystem/observation-category',
  communicationCategory: 'http://terminology.hl7.org/CodeSystem/communication-category',
  interpretation: 'http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation',
} as const;

/** MDC_ECG_STAT_RHY: the rhythm status observation (§1 row 5; POCD RhythmStatusEnumerationObservation). */
export const RHYTHM_STATUS_CODE: Coding = { system: SYSTEMS.mdc, code: '184327', display: 'MDC_ECG_STAT_RHY' };

/** Heart rate: LOINC 8867-4 next to MDC 147842 MDC_ECG_HEART_RATE (§0 PHD IG rule, §1 row 1). */
export const HEART_RATE_CODINGS: Coding[] = [
  { system: SYSTEMS.loinc, code: '8867-4', display: 'Heart rate' },
  { system: SYSTEMS.mdc, code: '147842', display: 'MDC_ECG_HEART_RATE' },
];

/** MDC 147240 MDC_ECG_TIME_PD_RR_GL, the RR interval in ms (§1 row 2). Used for the pause length. */
export const RR_INTERVAL_CODING: Coding = { system: SYSTEMS.mdc, code: '147240', display: 'MDC_ECG_TIME_PD_RR_GL' };

export const PROCEDURE_CATEGORY: Coding = { system: SYSTEMS.observationCategory, code: 'procedure', display: 'Procedure' };
export const NOTIFICATION_CATEGORY: Coding = { system: SYSTEMS.communicationCategory, code: 'notification', display: 'Notification' };

/**
 * v3-ObservationInterpretation codes with the displays of the R4 code system. A/AA are defined for
 * non-numeric results (our coded rhythm value); H/HH/L/LL for quantitative results (the HR component).
 */
export const INTERPRETATION = {
  criticalAbnormal: { system: SYSTEMS.interpretation, code: 'AA', display: 'Critical abnormal' },
  abnormal: { system: SYSTEMS.interpretation, code: 'A', display: 'Abnormal' },
  criticalHigh: { system: SYSTEMS.interpretation, code: 'HH', display: 'Critical high' },
  high: { system: SYSTEMS.interpretation, code: 'H', display: 'High' },
  criticalLow: { system: SYSTEMS.interpretation, code: 'LL', display: 'Critical low' },
  low: { system: SYSTEMS.interpretation, code: 'L', display: 'Low' },
} as const satisfies Record<string, Coding>;

const snomed = (code: string, display: string): Coding => ({ system: SYSTEMS.snomed, code, display });
const mdc = (code: string, display: string): Coding => ({ system: SYSTEMS.mdc, code, display });

/**
 * Rhythm values (valueCodeableConcept codings). SNOMED codes and MDC partition-10 codes (DICOM
 * CID 3415 Cardiac Rhythm) from §4. An MDC coding is left out where CID 3415 only has a *more
 * specific* concept than our detector can know, because the codings of one CodeableConcept must
 * mean the same thing:
 * - tachycardia: CID 3415 only has 10:9264 "Sinus Tachycardia"; a rate detector cannot tell sinus
 *   tachycardia from SVT or AF with a fast ventricular response.
 * - sustained VT: 10:10048 is "Sustained Monomorphic VT"; morphology is not detected.
 * - VT still ongoing: CID 3415 has no plain "ventricular tachycardia" (10:9984 is the
 *   nonparoxysmal/accelerated kind). SNOMED 25569003 "Ventricular tachycardia" is not in §4; it is
 *   the code used for VT in several public FHIR mappings (code corpus), not checked in a SNOMED browser.
 */
export const RHYTHM_CODINGS = {
  asystole: [snomed('397829000', 'Asystole'), mdc('665696', 'Asystole [10:10336]')],
  bradycardia: [snomed('48867003', 'Bradycardia'), mdc('665792', 'Bradycardia [10:10432]')],
  tachycardia: [snomed('3424008', 'Tachycardia')],
  atrialFibrillation: [snomed('49436004', 'Atrial fibrillation'), mdc('664832', 'Atrial fibrillation [10:9472]')],
  nonsustainedVt: [
    snomed('444658006', 'Nonsustained ventricular tachycardia'),
    mdc('665392', 'Nonsustained Ventricular Tachycardia (paroxysmal) [10:10032]'),
  ],
  sustainedVt: [snomed('426525004', 'Sustained ventricular tachycardia')],
  ventricularTachycardia: [snomed('25569003', 'Ventricular tachycardia')],
  /**
   * Pause (RR ≥ 3 s, §5) has no mechanism-neutral concept in CID 3415 or §4: "sinus arrest"
   * (SNOMED 5609005) would claim a sinus-node cause that RR intervals alone cannot show, and
   * "asystole" would overstate a 3 s gap. We code it as the generic MDC_EVT_ECG_ARRHY
   * (3:3266 → 199874, DICOM CID 3038, §4) with text "Pause", and carry the gap as an RR component.
   */
  pause: [mdc('199874', 'MDC_EVT_ECG_ARRHY')],
} as const satisfies Record<string, Coding[]>;

/**
 * VT counts as sustained when it lasts longer than 30 s: 2017 AHA/ACC/HRS ventricular arrhythmia
 * guideline, Table 1 (§5 "VT (clinical definition)").
 */
export const SUSTAINED_VT_MIN_MS = 30_000;
