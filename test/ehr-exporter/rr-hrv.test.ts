import { parseSearchRequest } from '@medplum/core';
import type { Observation as MedplumObservation } from '@medplum/fhirtypes';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Alert } from '../../contracts/alert.ts';
import type { EcgStrip } from '../../contracts/ecg-strip.ts';
import { alertBundle } from '../../ehr-exporter/bundle.ts';
import type { Observation } from '../../ehr-exporter/fhir-types.ts';
import { alertRrSeries, meanRrObservation, SDNN_MIN_NN_INTERVALS, sdnnObservation } from '../../ehr-exporter/rr-hrv.ts';
import { describeIssues, validateFhir } from '../helpers/fhir-validate.ts';
import { IDENTIFIER_SYSTEM, makeAlert, startEhrWithPatient } from './fixtures.ts';

const ONSET_MS = Date.parse('2026-01-01T00:00:03Z');
const refs = { identifierSystem: IDENTIFIER_SYSTEM, patientReference: 'Patient/x', deviceReference: 'Device/y' };

/**
 * 16 s at 250 Hz around the onset (8 s before, 8 s after), fully recorded; beats every 350 ms
 * alternating ±10 ms (≈ 171 bpm), starting 40 ms before the strip, so 23 beats lie in [onset, end].
 */
function tachyStrip(alert: Alert, overrides: Partial<EcgStrip> = {}): EcgStrip {
  const startMs = ONSET_MS - 8000;
  const beats: EcgStrip['beats'] = [];
  for (let t = startMs - 40, i = 0; t < startMs + 16_000; t += 350 + (i % 2 === 0 ? 10 : -10), i++) beats.push({ timeMs: t, cls: 'N' });
  return { schema: 'pb.ecg-strip.v1', alertId: alert.id, patientId: alert.patientId, deviceId: alert.deviceId, startMs, fsHz: 250, uV: new Array(4000).fill(100), leadOff: [], beats, ...overrides };
}

/** Expected from the strip: the beats in [onset, strip end]. */
function expectedPostOnset(strip: EcgStrip) {
  const times = strip.beats.map((b) => b.timeMs).filter((t) => t >= ONSET_MS && t < strip.startMs + 16_000);
  const rr = times.slice(1).map((t, i) => t - times[i]!);
  const m = rr.reduce((s, x) => s + x, 0) / rr.length;
  const sd = Math.sqrt(rr.reduce((s, x) => s + (x - m) ** 2, 0) / (rr.length - 1));
  return { times, rr, mean: m, sd };
}

const codeOf = (o: Observation) => o.code.coding?.map((c) => `${c.system}|${c.code}`);

describe('RR / HRV Observations (fhir-and-alarms.md §1 rows 2–3)', () => {
  const alert = makeAlert('extreme_tachy', { evidence: { hrBpm: 171, criterion: 'x', thresholds: {} } });

  it('mean RR from the strip beats after the onset: MDC 147240, procedure, UCUM ms, effectivePeriod over those beats', () => {
    const strip = tachyStrip(alert);
    const want = expectedPostOnset(strip);
    expect(want.rr.length).toBeGreaterThanOrEqual(SDNN_MIN_NN_INTERVALS);
    const series = alertRrSeries(alert, strip)!;
    expect(series.source).toBe('ecg-strip');
    const obs = meanRrObservation(alert, series, refs);
    expect(codeOf(obs)).toEqual(['urn:iso:std:iso:11073:10101|147240']);
    expect(obs.category?.[0]?.coding?.[0]?.code).toBe('procedure');
    expect(obs.valueQuantity).toEqual({ value: Math.round(want.mean * 10) / 10, unit: 'ms', system: 'http://unitsofmeasure.org', code: 'ms' });
    expect(obs.effectivePeriod).toEqual({ start: new Date(want.times[0]!).toISOString(), end: new Date(want.times.at(-1)!).toISOString() });
    expect(obs.identifier[0]).toEqual({ system: IDENTIFIER_SYSTEM, value: 'patch-0001/147240/extreme_tachy/2026-01-01T00:00:03.000Z' });
    expect(obs.subject).toEqual({ reference: 'Patient/x' });
    expect(obs.device).toEqual({ reference: 'Device/y' });
    expect(describeIssues(validateFhir(obs as never).errors)).toEqual([]);
  });

  it('sends no mean RR for an asystole or a pause: the episode is one missing interval, not a rhythm', () => {
    for (const kind of ['asystole', 'pause'] as const) {
      const silence = makeAlert(kind, { evidence: { hrBpm: 0, criterion: 'x', thresholds: {}, rrMs: [6000, 800, 800], beatCount: 3 } });
      expect(alertRrSeries(silence, tachyStrip(silence)), kind).toBeUndefined();
    }
  });

  it('SDNN over ≥ 20 N–N intervals: LOINC 80404-7, UCUM ms, sample SD, effectivePeriod = the analysis window', () => {
    const strip = tachyStrip(alert);
    const want = expectedPostOnset(strip);
    const obs = sdnnObservation(alert, alertRrSeries(alert, strip)!, refs)!;
    expect(codeOf(obs)).toEqual(['http://loinc.org|80404-7']);
    expect(obs.category?.[0]?.coding?.[0]?.code).toBe('procedure');
    expect(obs.valueQuantity).toEqual({ value: Math.round(want.sd * 10) / 10, unit: 'ms', system: 'http://unitsofmeasure.org', code: 'ms' });
    expect(obs.valueQuantity!.value).toBeGreaterThan(9); // ±10 ms alternation → SD ≈ 10 ms
    expect(obs.effectivePeriod).toEqual({ start: new Date(want.times[0]!).toISOString(), end: new Date(want.times.at(-1)!).toISOString() });
    expect(obs.code.text).toMatch(/ultra-short-term, \d+ N-N intervals over \d+ s/);
    expect(obs.identifier[0]!.value).toBe('patch-0001/80404-7/extreme_tachy/2026-01-01T00:00:03.000Z');
    expect(describeIssues(validateFhir(obs as never).errors)).toEqual([]);
  });

  it('no SDNN below 20 N–N intervals (ectopic beats excluded), nor for atrial fibrillation; mean RR still sent', () => {
    const ectopic = tachyStrip(alert);
    // Every third beat after the onset ventricular: two of three intervals touch a V beat.
    let k = 0;
    for (const b of ectopic.beats) if (b.timeMs >= ONSET_MS && k++ % 3 === 0) b.cls = 'V';
    const series = alertRrSeries(alert, ectopic)!;
    expect(series.intervals.filter((i) => i.normal).length).toBeLessThan(SDNN_MIN_NN_INTERVALS);
    expect(sdnnObservation(alert, series, refs)).toBeUndefined();
    expect(meanRrObservation(alert, series, refs).valueQuantity?.value).toBeGreaterThan(0);

    const afib = makeAlert('afib');
    const afibStrip = tachyStrip(afib);
    expect(sdnnObservation(afib, alertRrSeries(afib, afibStrip)!, refs)).toBeUndefined();
  });

  it('lead-off or missing samples: no interval across them; all off and no evidence → no RR resource at all', () => {
    const partly = tachyStrip(alert, { leadOff: [[2500, 2750]] }); // 2 s..3 s after the onset
    const series = alertRrSeries(alert, partly)!;
    const off = { fromMs: partly.startMs + 10_000, toMs: partly.startMs + 11_000 };
    for (const i of series.intervals) expect(i.endMs! <= off.fromMs || i.endMs! - i.rrMs >= off.toMs).toBe(true);
    expect(series.intervals.length).toBeLessThan(expectedPostOnset(partly).rr.length);

    const allOff = tachyStrip(alert, { leadOff: [[0, 4000]] });
    expect(alertRrSeries(alert, allOff)).toBeUndefined();
    const nulls = tachyStrip(alert, { uV: new Array(4000).fill(null) });
    expect(alertRrSeries(alert, nulls)).toBeUndefined();
    const bundle = alertBundle(alert, { identifierSystem: IDENTIFIER_SYSTEM, deviceSystem: 'urn:pulsebridge:device', patientReference: 'Patient/x', strip: allOff });
    const codes = bundle.entry!.flatMap((e) => (e.resource as Observation).code?.coding?.map((c) => c.code) ?? []);
    expect(codes).not.toContain('147240');
    expect(codes).not.toContain('80404-7');
  });

  it('without a strip: mean RR from complete evidence.rrMs (period onset − rr[0] .. onset + Σ rest), never SDNN; incomplete evidence → nothing', () => {
    const withRr = makeAlert('brady', { evidence: { hrBpm: 46, rrMs: [1300, 1310, 1290], beatCount: 3, criterion: 'x', thresholds: {} } });
    const series = alertRrSeries(withRr, undefined)!;
    expect(series.source).toBe('alert-evidence');
    const obs = meanRrObservation(withRr, series, refs);
    expect(obs.valueQuantity?.value).toBe(1300);
    expect(obs.effectivePeriod).toEqual({ start: new Date(ONSET_MS - 1300).toISOString(), end: new Date(ONSET_MS + 2600).toISOString() });
    expect(describeIssues(validateFhir(obs as never).errors)).toEqual([]);
    expect(sdnnObservation(withRr, series, refs)).toBeUndefined();

    // 40 beats but only the last 32 intervals kept: their times are unknown → no RR resource.
    const capped = makeAlert('brady', { evidence: { rrMs: new Array(32).fill(1300), beatCount: 40, criterion: 'x', thresholds: {} } });
    expect(alertRrSeries(capped, undefined)).toBeUndefined();
    expect(alertRrSeries(makeAlert('asystole'), undefined)).toBeUndefined();
  });
});

describe('RR / HRV in the alert Bundle', () => {
  let ehr: Awaited<ReturnType<typeof startEhrWithPatient>>;
  beforeEach(async () => { ehr = await startEhrWithPatient(); });
  afterEach(async () => ehr.server.close());

  it('writes mean RR and SDNN with the alert, referenced from derivedFrom; a re-delivery creates nothing new', async () => {
    const alert = makeAlert('extreme_tachy', { evidence: { hrBpm: 171, criterion: 'x', thresholds: {} } });
    const { server, fhir, patientRef } = ehr;
    const make = () => alertBundle(alert, { identifierSystem: IDENTIFIER_SYSTEM, deviceSystem: 'urn:pulsebridge:device', patientReference: patientRef, strip: tachyStrip(alert) });
    const bundle = make();
    expect(bundle.entry).toHaveLength(6); // Device, ECG, HR, mean RR, SDNN, alert
    const first = await fhir.transaction(bundle);
    expect(first.entry?.map((e) => e.response?.status.slice(0, 3))).toEqual(['201', '201', '201', '201', '201', '201']);

    const observations = await server.repo.searchResources<MedplumObservation>(parseSearchRequest('Observation'));
    expect(observations).toHaveLength(5);
    const byCode = (code: string) => observations.find((o) => o.code?.coding?.some((c) => c.code === code))!;
    const rr = byCode('147240');
    const sdnn = byCode('80404-7');
    const rhythm = byCode('184327');
    expect(rhythm.derivedFrom?.map((r) => r.reference)).toEqual(expect.arrayContaining([`Observation/${rr.id}`, `Observation/${sdnn.id}`]));
    expect(rhythm.derivedFrom).toHaveLength(4);
    for (const o of [rr, sdnn]) {
      expect(o.subject?.reference).toBe(patientRef);
      expect(o.device?.reference).toBe(rhythm.device?.reference);
      expect(o.valueQuantity?.code).toBe('ms');
      expect(describeIssues(validateFhir(o).errors)).toEqual([]);
    }

    const again = await fhir.transaction(make());
    expect(again.entry?.map((e) => e.response?.status.slice(0, 3))).toEqual(['200', '200', '200', '200', '200', '200']);
    expect(await server.repo.searchResources(parseSearchRequest('Observation'))).toHaveLength(5);
  });
});
