import { parseSearchRequest } from '@medplum/core';
import type { Device as MedplumDevice, Observation as MedplumObservation } from '@medplum/fhirtypes';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { alertBundle, ecgObservation, HEART_RATE_PROFILE, hrSummaryObservation, lifecycleNotes } from '../../ehr-exporter/bundle.ts';
import type { FhirClient } from '../../ehr-exporter/fhir-client.ts';
import type { FhirTestServer } from '../helpers/fhir-server.ts';
import { describeIssues, ecgObservationProblems, heartRateObservationProblems, rhythmObservationProblems, validateFhir } from '../helpers/fhir-validate.ts';
import { IDENTIFIER_SYSTEM, makeAlert, makeStrip, startEhrWithPatient } from './fixtures.ts';

const DEVICE_SYSTEM = 'urn:pulsebridge:device';

let server: FhirTestServer;
let fhir: FhirClient;
let patientRef: string;

beforeEach(async () => {
  ({ server, fhir, patientRef } = await startEhrWithPatient());
});
afterEach(async () => server.close());

const all = <T extends MedplumObservation | MedplumDevice>(type: 'Observation' | 'Device') => server.repo.searchResources<T>(parseSearchRequest(type));

// Found by a hospital-integration walkthrough (session 32).
describe('what the chart reads', () => {
  it('a resolution carries the clinician\'s reason', () => {
    const resolved = makeAlert('asystole', { state: 'resolved', resolvedBy: 'dr-b', resolvedAt: '2026-03-01T10:10:00.000Z', resolveReason: 'Artefact / false alarm' });
    expect(lifecycleNotes(resolved).map((n) => n.text)).toEqual(['Pulsebridge: resolved by dr-b — “Artefact / false alarm”']);
  });

  it('an alarm the processor closed as its condition ended says it ended on its own, not that someone resolved it', () => {
    const brady = makeAlert('brady', { end: '2026-03-01T10:09:50.000Z', state: 'resolved', resolvedBy: 'pulsebridge-processor', resolvedAt: '2026-03-01T10:10:00.000Z' });
    expect(lifecycleNotes(brady)).toEqual([{ authorString: 'Pulsebridge', time: '2026-03-01T10:10:00.000Z', text: 'Pulsebridge: ended on its own at 2026-03-01T10:09:50.000Z — not reviewed by a clinician' }]);
    const acked = { ...brady, acknowledgedBy: 'dr-a', acknowledgedAt: '2026-03-01T10:05:00.000Z' };
    expect(lifecycleNotes(acked).map((n) => n.text)).toEqual(['Pulsebridge: acknowledged by dr-a', 'Pulsebridge: ended on its own at 2026-03-01T10:09:50.000Z']);
    const switchedOff = { ...brady, evidence: { ...brady.evidence, note: 'alarm switched off by criteria version 3 (set by dr-c)' } };
    expect(lifecycleNotes(switchedOff).map((n) => n.text)).toEqual(['Pulsebridge: closed by Pulsebridge at 2026-03-01T10:09:50.000Z: alarm switched off by criteria version 3 (set by dr-c) — not reviewed by a clinician']);
  });

  it('an ECG strip gives the limits of its samples, and a saturated sample reads L or U, not a value', () => {
    const strip = makeStrip('al-000000000000000000000001');
    strip.uV[3] = -32_768;
    strip.uV[4] = 32_767;
    const sd = ecgObservation(strip, { identifierSystem: IDENTIFIER_SYSTEM, patientReference: 'Patient/x', deviceReference: 'Device/y' }).component![0]!.valueSampledData!;
    expect([sd.lowerLimit, sd.upperLimit]).toEqual([-32.768, 32.767]);
    expect(sd.data!.split(' ').slice(3, 5)).toEqual(['L', 'U']);
  });

  it('a heart-rate summary names its window as configured (0.5 min read "1 min")', () => {
    const window = (ms: number) => hrSummaryObservation({ deviceId: 'd1', patientId: 'p1', startMs: 0, endMs: ms, meanBpm: 70, frames: 10 }, { identifierSystem: IDENTIFIER_SYSTEM, patientReference: 'Patient/x', deviceReference: 'Device/y' }).code.text;
    expect([window(30_000), window(300_000), window(90 * 60_000)]).toEqual(['Heart rate, mean over 30 s', 'Heart rate, mean over 5 min', 'Heart rate, mean over 1.5 h']);
  });
});

describe('ECG strip → SampledData', () => {
  it('writes microvolts as mV with factor 0.001, E for missing and lead-off samples, and validates', () => {
    const strip = makeStrip('al-000000000000000000000001');
    const obs = ecgObservation(strip, { identifierSystem: IDENTIFIER_SYSTEM, patientReference: 'Patient/x', deviceReference: 'Device/y' });
    const sd = obs.component![0]!.valueSampledData!;
    const tokens = sd.data!.split(' ');
    expect(tokens).toHaveLength(250);
    expect(tokens[7]).toBe('E');
    expect(tokens.slice(100, 110).every((t) => t === 'E')).toBe(true);
    expect(tokens[99]).not.toBe('E');
    expect(sd).toMatchObject({ period: 4, factor: 0.001, dimensions: 1, origin: { value: 0, code: 'mV' } });
    expect(obs.effectivePeriod).toEqual({ start: '2026-01-01T00:00:00.000Z', end: '2026-01-01T00:00:01.000Z' });
    expect(ecgObservationProblems(obs)).toEqual([]);
    expect(describeIssues(validateFhir(obs as never).errors)).toEqual([]);
  });

  it('a strip recorded with the leads off all along carries dataAbsentReason error, not data', () => {
    const obs = ecgObservation(makeStrip('al-000000000000000000000001', { leadOff: [[0, 250]] }), { identifierSystem: IDENTIFIER_SYSTEM, patientReference: 'Patient/x', deviceReference: 'Device/y' });
    expect(obs.component![0]!.valueSampledData).toBeUndefined();
    expect(obs.component![0]!.dataAbsentReason?.coding?.[0]?.code).toBe('error');
    expect(ecgObservationProblems(obs)).toEqual([]);
    expect(describeIssues(validateFhir(obs as never).errors)).toEqual([]);
  });
});

describe('one transaction Bundle per alert', () => {
  const alert = makeAlert('extreme_tachy', { evidence: { hrBpm: 168, criterion: 'x', thresholds: {} } });

  it('creates Device, ECG, HR and alert Observations with resolved references, once', async () => {
    const bundle = alertBundle(alert, { identifierSystem: IDENTIFIER_SYSTEM, deviceSystem: DEVICE_SYSTEM, patientReference: patientRef, strip: makeStrip(alert.id) });
    expect(bundle.entry).toHaveLength(4);
    const response = await fhir.transaction(bundle);
    expect(response.type).toBe('transaction-response');
    expect(response.entry?.map((e) => e.response?.status.slice(0, 3))).toEqual(['201', '201', '201', '201']);

    const devices = await all<MedplumDevice>('Device');
    expect(devices).toHaveLength(1);
    const observations = await all<MedplumObservation>('Observation');
    expect(observations).toHaveLength(3);
    const byCode = (code: string) => observations.find((o) => o.code?.coding?.some((c) => c.code === code))!;
    const rhythm = byCode('184327');
    const ecg = byCode('131328');
    const hr = byCode('8867-4');
    expect(rhythm.subject?.reference).toBe(patientRef);
    expect(rhythm.device?.reference).toBe(`Device/${devices[0]!.id}`);
    expect(rhythm.derivedFrom?.map((r) => r.reference).sort()).toEqual([`Observation/${ecg.id}`, `Observation/${hr.id}`].sort());
    expect(rhythmObservationProblems(rhythm, IDENTIFIER_SYSTEM)).toEqual([]);
    expect(ecgObservationProblems(ecg)).toEqual([]);
    expect(heartRateObservationProblems(hr)).toEqual([]);
    for (const r of observations) expect(describeIssues(validateFhir(r).errors)).toEqual([]);
    expect(describeIssues(validateFhir(hr, HEART_RATE_PROFILE).errors)).toEqual([]);

    // Re-sent (a re-delivery): every conditional create matches, nothing new.
    const again = await fhir.transaction(alertBundle(alert, { identifierSystem: IDENTIFIER_SYSTEM, deviceSystem: DEVICE_SYSTEM, patientReference: patientRef, strip: makeStrip(alert.id) }));
    expect(again.entry?.map((e) => e.response?.status.slice(0, 3))).toEqual(['200', '200', '200', '200']);
    expect(await all('Observation')).toHaveLength(3);
    expect(await all('Device')).toHaveLength(1);
  });

  it('a second alert on the same device reuses the Device', async () => {
    await fhir.transaction(alertBundle(alert, { identifierSystem: IDENTIFIER_SYSTEM, deviceSystem: DEVICE_SYSTEM, patientReference: patientRef }));
    const second = makeAlert('asystole', { onset: '2026-01-01T00:10:00Z' });
    await fhir.transaction(alertBundle(second, { identifierSystem: IDENTIFIER_SYSTEM, deviceSystem: DEVICE_SYSTEM, patientReference: patientRef }));
    const devices = await all<MedplumDevice>('Device');
    expect(devices).toHaveLength(1);
    const obs = await all<MedplumObservation>('Observation');
    expect(new Set(obs.map((o) => o.device?.reference))).toEqual(new Set([`Device/${devices[0]!.id}`]));
  });
});
