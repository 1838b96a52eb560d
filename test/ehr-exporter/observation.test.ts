import { describe, expect, it } from 'vitest';
import type { AlertKind } from '../../contracts/alert.ts';
import { ALERT_KINDS, TECHNICAL_KINDS } from '../../contracts/alert.ts';
import { alertToObservation, rhythmObservationIdentifier } from '../../ehr-exporter/observation.ts';
import { describeIssues, rhythmObservationProblems, validateFhir } from '../helpers/fhir-validate.ts';
import { IDENTIFIER_SYSTEM, makeAlert } from './fixtures.ts';

const options = { identifierSystem: IDENTIFIER_SYSTEM };
const MDC = 'urn:iso:std:iso:11073:10101';
const SCT = 'http://snomed.info/sct';
const V3 = 'http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation';

/** Everything every rhythm Observation of the fixture alert shares. */
function common(kind: AlertKind) {
  return {
    resourceType: 'Observation',
    identifier: [{ system: IDENTIFIER_SYSTEM, value: `patch-0001/184327/${kind}/2026-01-01T00:00:03.000Z` }],
    status: 'preliminary',
    category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'procedure', display: 'Procedure' }] }],
    code: { coding: [{ system: MDC, code: '184327', display: 'MDC_ECG_STAT_RHY' }], text: 'ECG rhythm status' },
    subject: { reference: 'Patient/p-001' },
    issued: '2026-01-01T00:00:09.500Z',
    device: { reference: 'Device/patch-0001' },
  };
}

function hrComponent(value: number, interpretation?: { code: string; display: string }) {
  return {
    code: {
      coding: [
        { system: 'http://loinc.org', code: '8867-4', display: 'Heart rate' },
        { system: MDC, code: '147842', display: 'MDC_ECG_HEART_RATE' },
      ],
      text: 'Heart rate',
    },
    valueQuantity: { value, unit: 'beats/minute', system: 'http://unitsofmeasure.org', code: '/min' },
    ...(interpretation ? { interpretation: [{ coding: [{ system: V3, ...interpretation }] }] } : {}),
  };
}

const AA = [{ coding: [{ system: V3, code: 'AA', display: 'Critical abnormal' }] }];
const A = [{ coding: [{ system: V3, code: 'A', display: 'Abnormal' }] }];

describe('alertToObservation', () => {
  it('maps asystole to a critical rhythm Observation with SNOMED and MDC asystole codes and no HR when none is known', () => {
    const alert = makeAlert('asystole', { evidence: { gapMs: 4200, criterion: 'no QRS >= 4 s', thresholds: { gapMs: 4000 } } });
    expect(alertToObservation(alert, options)).toEqual({
      ...common('asystole'),
      effectivePeriod: { start: '2026-01-01T00:00:03.000Z' },
      valueCodeableConcept: {
        coding: [
          { system: SCT, code: '397829000', display: 'Asystole' },
          { system: MDC, code: '665696', display: 'Asystole [10:10336]' },
        ],
        text: 'Asystole',
      },
      interpretation: AA,
    });
  });

  it('maps extreme bradycardia to bradycardia codes, AA, and a critical-low heart rate component', () => {
    const alert = makeAlert('extreme_brady', { evidence: { hrBpm: 34, criterion: 'HR < 40 for 5 beats', thresholds: { hrBpm: 40, beats: 5 } } });
    expect(alertToObservation(alert, options)).toEqual({
      ...common('extreme_brady'),
      effectivePeriod: { start: '2026-01-01T00:00:03.000Z' },
      valueCodeableConcept: {
        coding: [
          { system: SCT, code: '48867003', display: 'Bradycardia' },
          { system: MDC, code: '665792', display: 'Bradycardia [10:10432]' },
        ],
        text: 'Extreme bradycardia',
      },
      interpretation: AA,
      component: [hrComponent(34, { code: 'LL', display: 'Critical low' })],
    });
  });

  it('maps the bradycardia limit alarm to bradycardia codes, A, and a low heart rate component', () => {
    const alert = makeAlert('brady', { end: '2026-01-01T00:01:03Z', evidence: { hrBpm: 46, criterion: 'HR < 50', thresholds: { hrBpm: 50 } } });
    expect(alertToObservation(alert, options)).toEqual({
      ...common('brady'),
      effectivePeriod: { start: '2026-01-01T00:00:03.000Z', end: '2026-01-01T00:01:03.000Z' },
      valueCodeableConcept: {
        coding: [
          { system: SCT, code: '48867003', display: 'Bradycardia' },
          { system: MDC, code: '665792', display: 'Bradycardia [10:10432]' },
        ],
        text: 'Bradycardia',
      },
      interpretation: A,
      component: [hrComponent(46, { code: 'L', display: 'Low' })],
    });
  });

  it('maps extreme tachycardia to the SNOMED tachycardia code only (MDC has only sinus tachycardia), AA and critical high', () => {
    const alert = makeAlert('extreme_tachy', { evidence: { hrBpm: 151, criterion: 'HR > 140 for 17 beats', thresholds: { hrBpm: 140, beats: 17 } } });
    expect(alertToObservation(alert, options)).toEqual({
      ...common('extreme_tachy'),
      effectivePeriod: { start: '2026-01-01T00:00:03.000Z' },
      valueCodeableConcept: { coding: [{ system: SCT, code: '3424008', display: 'Tachycardia' }], text: 'Extreme tachycardia' },
      interpretation: AA,
      component: [hrComponent(151, { code: 'HH', display: 'Critical high' })],
    });
  });

  it('maps the tachycardia limit alarm to A and a high heart rate component', () => {
    const alert = makeAlert('tachy', { evidence: { hrBpm: 128, criterion: 'HR > 120', thresholds: { hrBpm: 120 } } });
    expect(alertToObservation(alert, options)).toEqual({
      ...common('tachy'),
      effectivePeriod: { start: '2026-01-01T00:00:03.000Z' },
      valueCodeableConcept: { coding: [{ system: SCT, code: '3424008', display: 'Tachycardia' }], text: 'Tachycardia' },
      interpretation: A,
      component: [hrComponent(128, { code: 'H', display: 'High' })],
    });
  });

  it('maps atrial fibrillation to SNOMED and MDC AF codes, A, and the HR without a rate interpretation', () => {
    const alert = makeAlert('afib', { evidence: { hrBpm: 97, criterion: 'irregular RR >= 30 s', thresholds: { minMs: 30000 } } });
    expect(alertToObservation(alert, options)).toEqual({
      ...common('afib'),
      effectivePeriod: { start: '2026-01-01T00:00:03.000Z' },
      valueCodeableConcept: {
        coding: [
          { system: SCT, code: '49436004', display: 'Atrial fibrillation' },
          { system: MDC, code: '664832', display: 'Atrial fibrillation [10:9472]' },
        ],
        text: 'Atrial fibrillation',
      },
      interpretation: A,
      component: [hrComponent(97)],
    });
  });

  it('codes an ongoing VT as generic ventricular tachycardia because its duration is not known yet', () => {
    const alert = makeAlert('vt', { evidence: { hrBpm: 168, criterion: '>= 5 V beats at HR > 100', thresholds: { beats: 5, hrBpm: 100 } } });
    expect(alertToObservation(alert, options)).toEqual({
      ...common('vt'),
      effectivePeriod: { start: '2026-01-01T00:00:03.000Z' },
      valueCodeableConcept: { coding: [{ system: SCT, code: '25569003', display: 'Ventricular tachycardia' }], text: 'Ventricular tachycardia' },
      interpretation: AA,
      component: [hrComponent(168)],
    });
  });

  it('codes a VT that ended after 6 s as NSVT with the SNOMED and MDC NSVT codes', () => {
    const alert = makeAlert('vt', { end: '2026-01-01T00:00:09Z', evidence: { hrBpm: 168, criterion: 'vt', thresholds: {} } });
    expect(alertToObservation(alert, options)).toEqual({
      ...common('vt'),
      effectivePeriod: { start: '2026-01-01T00:00:03.000Z', end: '2026-01-01T00:00:09.000Z' },
      valueCodeableConcept: {
        coding: [
          { system: SCT, code: '444658006', display: 'Nonsustained ventricular tachycardia' },
          { system: MDC, code: '665392', display: 'Nonsustained Ventricular Tachycardia (paroxysmal) [10:10032]' },
        ],
        text: 'Nonsustained ventricular tachycardia',
      },
      interpretation: AA,
      component: [hrComponent(168)],
    });
  });

  it('codes a VT lasting more than 30 s as sustained, and one lasting exactly 30 s as NSVT', () => {
    const value = (end: string) => alertToObservation(makeAlert('vt', { end }), options).valueCodeableConcept;
    expect(value('2026-01-01T00:00:33.001Z')).toEqual({
      coding: [{ system: SCT, code: '426525004', display: 'Sustained ventricular tachycardia' }],
      text: 'Sustained ventricular tachycardia',
    });
    expect(value('2026-01-01T00:00:33Z')!.coding?.[0]?.code).toBe('444658006');
  });

  it('maps a pause to the generic MDC arrhythmia event with text "Pause" and its length as an RR component in ms', () => {
    const alert = makeAlert('pause', { end: '2026-01-01T00:00:06.400Z', evidence: { gapMs: 3400, hrBpm: 62, criterion: 'RR >= 3 s', thresholds: { gapMs: 3000 } } });
    expect(alertToObservation(alert, options)).toEqual({
      ...common('pause'),
      effectivePeriod: { start: '2026-01-01T00:00:03.000Z', end: '2026-01-01T00:00:06.400Z' },
      valueCodeableConcept: { coding: [{ system: MDC, code: '199874', display: 'MDC_EVT_ECG_ARRHY' }], text: 'Pause' },
      interpretation: A,
      component: [
        hrComponent(62),
        {
          code: { coding: [{ system: MDC, code: '147240', display: 'MDC_ECG_TIME_PD_RR_GL' }], text: 'Pause length (RR interval)' },
          valueQuantity: { value: 3400, unit: 'ms', system: 'http://unitsofmeasure.org', code: 'ms' },
        },
      ],
    });
  });

  it('takes the interpretation from the alert priority, so a per-patient high-priority AF is AA', () => {
    expect(alertToObservation(makeAlert('afib', { priority: 'high' }), options).interpretation).toEqual(AA);
  });

  it('gives the same identifier for the same instant written with an offset, and different ones for two kinds at one onset', () => {
    const utc = rhythmObservationIdentifier(makeAlert('brady'), IDENTIFIER_SYSTEM);
    const offset = rhythmObservationIdentifier(makeAlert('brady', { onset: '2026-01-01T01:00:03.000+01:00' }), IDENTIFIER_SYSTEM);
    const extreme = rhythmObservationIdentifier(makeAlert('extreme_brady'), IDENTIFIER_SYSTEM);
    expect(offset).toEqual(utc);
    expect(utc).toEqual({ system: IDENTIFIER_SYSTEM, value: 'patch-0001/184327/brady/2026-01-01T00:00:03.000Z' });
    expect(extreme.value).not.toBe(utc.value);
  });

  it('refuses technical alerts and times that are not ISO 8601', () => {
    expect(() => alertToObservation(makeAlert('lead_off'), options)).toThrow(TypeError);
    expect(() => alertToObservation(makeAlert('vt', { onset: 'yesterday' }), options)).toThrow(/alert.onset is not an ISO 8601 time/);
  });

  it('produces Observations that pass validateResource and our exact-code checks for every physiological kind, ongoing and ended', () => {
    const kinds = ALERT_KINDS.filter((k) => !TECHNICAL_KINDS.has(k));
    const problems: Record<string, string[]> = {};
    for (const kind of kinds) {
      for (const end of [undefined, '2026-01-01T00:00:45Z']) {
        const obs = alertToObservation(makeAlert(kind, { end, evidence: { hrBpm: 70, gapMs: 3100, criterion: kind, thresholds: {} } }), options);
        const found = [...describeIssues(validateFhir(obs as never).errors), ...rhythmObservationProblems(obs, IDENTIFIER_SYSTEM)];
        if (found.length > 0) problems[`${kind} end=${end}`] = found;
      }
    }
    expect(problems).toEqual({});
  });
});
