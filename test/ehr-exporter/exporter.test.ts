import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseSearchRequest } from '@medplum/core';
import type { Communication as MedplumCommunication, Device as MedplumDevice, Observation as MedplumObservation, Patient } from '@medplum/fhirtypes';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { EcgStrip } from '../../contracts/ecg-strip.ts';
import type { DeadLetterRecord } from '../../contracts/telemetry.ts';
import { STREAMS } from '../../contracts/topics.ts';
import type { EhrExporter, EhrExporterOptions } from '../../ehr-exporter/exporter.ts';
import { createEhrExporter } from '../../ehr-exporter/exporter.ts';
import type { FhirClient } from '../../ehr-exporter/fhir-client.ts';
import { createHttpFhirClient } from '../../ehr-exporter/fhir-client.ts';
import { configuredMrns, createPatientResolver, followedMrnFile } from '../../ehr-exporter/identity.ts';
import { replayDeadLetter } from '../../cli/dead-letter-replay.ts';
import { InProcessBus } from '../../platform/bus/index.ts';
import { parseDeadLetter } from '../../platform/dead-letters/index.ts';
import { createLogger, silentLogger } from '../../platform/log.ts';
import { PulsebridgeError } from '../../platform/errors.ts';
import type { Bundle } from '../../ehr-exporter/fhir-types.ts';
import { MetricsRegistry } from '../../platform/metrics.ts';
import type { FhirTestServer } from '../helpers/fhir-server.ts';
import { startFhirServer } from '../helpers/fhir-server.ts';
import { describeIssues, ecgObservationProblems, heartRateObservationProblems, rhythmObservationProblems, technicalCommunicationProblems, validateFhir } from '../helpers/fhir-validate.ts';
import { consumed, envelope, IDENTIFIER_SYSTEM, makeAlert, makeStrip } from './fixtures.ts';
import { EHR_EXPORTER_ACTOR, fhirDestination, type EhrAuditEntry } from '../../ehr-exporter/audit.ts';
import { auditLogPath, JsonlAuditSink } from '../../platform/audit.ts';

const MRN_SYSTEM = 'urn:oid:1.2.3.4.mrn';
let server: FhirTestServer;
let bus: InProcessBus;
let fhir: FhirClient;
let patientRef: string;
const running: EhrExporter[] = [];

async function admit(mrn: string): Promise<string> {
  const p = await server.repo.createResource<Patient>({ resourceType: 'Patient', identifier: [{ system: MRN_SYSTEM, value: mrn }] });
  return `Patient/${p.id}`;
}

beforeEach(async () => {
  server = await startFhirServer();
  bus = new InProcessBus();
  fhir = createHttpFhirClient({ baseUrl: server.baseUrl, retry: { maxAttempts: 2, baseDelayMs: 1, maxDelayMs: 2 } });
  patientRef = await admit('MRN-001');
});
afterEach(async () => {
  for (const e of running.splice(0)) await e.stop();
  await bus.close();
  await server.close();
});

function exporter(overrides: Partial<EhrExporterOptions> = {}): { exporter: EhrExporter; metrics: MetricsRegistry } {
  const metrics = overrides.metrics ?? new MetricsRegistry();
  const e = createEhrExporter({
    bus,
    fhir,
    patients: createPatientResolver({ fhir, mrns: configuredMrns(MRN_SYSTEM, { 'p-001': 'MRN-001', 'p-002': 'MRN-002', 'p_001:x': 'MRN-001' }) }),
    identifierSystem: IDENTIFIER_SYSTEM,
    logger: silentLogger,
    metrics,
    ecgWaitMs: 0,
    stripGraceMs: 50,
    pauseBackoff: { baseDelayMs: 5, maxDelayMs: 20 },
    parkBackoff: { baseDelayMs: 1, maxDelayMs: 5 },
    ...overrides,
  });
  running.push(e);
  return { exporter: e, metrics };
}

const search = <T>(type: string) => server.repo.searchResources(parseSearchRequest(type)) as Promise<T[]>;
const observations = () => search<MedplumObservation>('Observation');
const rhythms = async () => (await observations()).filter((o) => o.code?.coding?.[0]?.code === '184327');
const deadLetters = () => bus.read(STREAMS.deadLetter).map((m) => ({ record: JSON.parse(m.value.toString('utf8')) as DeadLetterRecord, headers: m.headers, key: m.key }));
const exportsCount = (metrics: MetricsRegistry, resource: string, result: string) => metrics.counter('pb_ehr_exports_total', '').get({ resource, result });
const stripMessage = (strip: EcgStrip, offset = 0) => ({ ...consumed('x', offset), key: strip.patientId, value: Buffer.from(JSON.stringify(strip)), stream: STREAMS.ecgStrips });

async function eventually(check: () => boolean | Promise<boolean>): Promise<void> {
  while (!(await check())) await new Promise((r) => setTimeout(r, 10));
}

const vt = makeAlert('vt', { evidence: { hrBpm: 168, beatCount: 9, criterion: '>= 5 V beats at HR > 100', thresholds: { beats: 5, hrBpm: 100 } } });
const vtEnded = { ...vt, end: '2026-01-01T00:00:09Z', revision: 2, updatedAt: '2026-01-01T00:00:10Z' };

describe('EHR exporter: one transaction Bundle per alert', () => {
  it('exports an alert from the stream as Device + HR + rhythm Observation referencing the EHR Patient; all validate', async () => {
    const { exporter: e, metrics } = exporter();
    await e.start();
    await bus.publish(STREAMS.alerts, [{ key: vt.patientId, value: Buffer.from(JSON.stringify(envelope(vt))) }]);
    await eventually(() => exportsCount(metrics, 'Observation', 'created') === 1);

    const [rhythm] = await rhythms();
    const devices = await search<MedplumDevice>('Device');
    expect(devices.map((d) => d.identifier?.[0]?.value)).toEqual(['patch-0001']);
    expect(rhythm!.subject?.reference).toBe(patientRef);
    expect(rhythm!.device?.reference).toBe(`Device/${devices[0]!.id}`);
    expect(rhythmObservationProblems(rhythm!, IDENTIFIER_SYSTEM)).toEqual([]);
    const hr = (await observations()).find((o) => o.code?.coding?.[0]?.code === '8867-4')!;
    expect(heartRateObservationProblems(hr)).toEqual([]);
    expect(rhythm!.derivedFrom).toEqual([{ reference: `Observation/${hr.id}` }]);
    for (const r of [...(await observations()), ...devices]) expect(describeIssues(validateFhir(r).errors)).toEqual([]);
    expect(deadLetters()).toEqual([]);
    const transaction = server.requests.find((r) => r.method === 'POST')!;
    expect(transaction.url).toBe('');
    expect((transaction.body as { type: string }).type).toBe('transaction');
  });

  it('never uses our ids as FHIR ids: ids FHIR cannot carry (underscore, colon) travel only in identifier values', async () => {
    const { exporter: e } = exporter();
    await e.handleBatch([consumed(envelope(makeAlert('asystole', { patientId: 'p_001:x', deviceId: 'patch_01' })), 0)]);
    const [rhythm] = await rhythms();
    const [device] = await search<MedplumDevice>('Device');
    expect(device!.identifier).toEqual([{ system: 'urn:pulsebridge:device', value: 'patch_01' }]);
    expect(rhythm!.subject?.reference).toBe(patientRef);
    expect(rhythm!.device?.reference).toBe(`Device/${device!.id}`);
    expect(describeIssues(validateFhir(rhythm!).errors)).toEqual([]);
  });

  it('creates nothing new when the alert is delivered twice in a batch, again later, or by several exporters at once', async () => {
    const { exporter: e } = exporter();
    await e.handleBatch([consumed(envelope(vt), 0), consumed(envelope(vt), 1)]);
    await e.handleBatch([consumed(envelope(vt), 0)]);
    await Promise.all([exporter(), exporter(), exporter()].map((x, i) => x.exporter.handleBatch([consumed(envelope(vt), i)])));
    expect((await rhythms()).length).toBe(1);
    expect((await observations()).length).toBe(2);
    expect((await search('Device')).length).toBe(1);
  });

  it('puts the ECG strip that arrives while the alert waits into the same Bundle, with derivedFrom', async () => {
    // A long grace: the strip consumer waits for the Bundle to take it however slow the machine is.
    const { exporter: e } = exporter({ ecgWaitMs: 60_000, stripGraceMs: 30_000, now: () => Date.parse(vt.detectedAt) + 1000 });
    const strip = makeStrip(vt.id);
    const exported = e.handleBatch([consumed(envelope(vt), 0)]);
    await new Promise((r) => setTimeout(r, 50));
    expect(await rhythms()).toEqual([]); // waiting for the strip
    await e.handleStrips([stripMessage(strip)]);
    await exported;
    const [rhythm] = await rhythms();
    const ecg = (await observations()).find((o) => o.code?.coding?.[0]?.code === '131328')!;
    expect(ecgObservationProblems(ecg)).toEqual([]);
    expect(rhythm!.derivedFrom?.map((r) => r.reference)).toContain(`Observation/${ecg.id}`);
    expect(server.requests.filter((r) => r.method === 'POST').length).toBe(1);
    expect(e.health().stripsWaiting).toBe(0);
  });

  it('a strip that comes after its alert was exported is written and linked with If-Match', async () => {
    const { exporter: e } = exporter();
    await e.handleBatch([consumed(envelope(vt), 0)]);
    await e.handleStrips([stripMessage(makeStrip(vt.id))]);
    const [rhythm] = await rhythms();
    const ecg = (await observations()).find((o) => o.code?.coding?.[0]?.code === '131328')!;
    expect(rhythm!.derivedFrom?.map((r) => r.reference)).toContain(`Observation/${ecg.id}`);
    expect(server.requests.find((r) => r.method === 'PUT')?.headers['if-match']).toMatch(/^W\/"/);
    // Re-delivered: nothing new.
    await e.handleStrips([stripMessage(makeStrip(vt.id))]);
    expect((await observations()).length).toBe(3);
  });

  it('does not wait for a strip when the processor said none will come (a device without ECG)', async () => {
    // ecgWaitMs 60 s from detectedAt: an export that waited would outlast the bound below.
    const { exporter: e } = exporter({ ecgWaitMs: 60_000, now: () => Date.parse(vt.detectedAt) + 1000 });
    const exported = e.handleBatch([consumed(envelope({ ...vt, ecgStrip: false }), 0)]).then(() => 'exported');
    const outcome = await Promise.race([exported, new Promise<string>((resolve) => setTimeout(() => resolve('still waiting'), 15_000))]);
    expect(outcome).toBe('exported');
    expect((await rhythms()).length).toBe(1);
  });

  it('a strip written before its alert is linked from the alert Bundle', async () => {
    const { exporter: e } = exporter();
    await e.handleStrips([stripMessage(makeStrip(vt.id))]);
    await e.handleBatch([consumed(envelope(vt), 0)]);
    const [rhythm] = await rhythms();
    const ecg = (await observations()).find((o) => o.code?.coding?.[0]?.code === '131328')!;
    expect(rhythm!.derivedFrom?.map((r) => r.reference)).toContain(`Observation/${ecg.id}`);
  });
});

describe('EHR exporter: periodic heart-rate summaries', () => {
  const T0 = Date.parse('2026-01-01T00:00:00Z');
  const frame = (patientId: string, tsMs: number, hr: number, leadOff = false, offset = 0) => ({
    ...consumed('x', offset), key: patientId, stream: STREAMS.telemetry,
    value: Buffer.from(JSON.stringify({ schema: 'pb.telemetry.v1', deviceId: 'patch-0001', patientId, format: 'json-v1', receivedAt: tsMs,
      frame: { seq: offset, ts: tsMs, durMs: 1000, hr, battery: 90, leadOff, beats: [] } })),
  });

  it('writes one vital-signs HR Observation per window (mean, lead-off and hr 0 excluded), once; an all-lead-off window has dataAbsentReason', async () => {
    const { exporter: e, metrics } = exporter({ hrSummaryWindowMs: 60_000 });
    const first = [frame('p-001', T0, 70), frame('p-001', T0 + 1000, 80), frame('p-001', T0 + 2000, 200, true), frame('p-001', T0 + 3000, 0)];
    const second = [frame('p-001', T0 + 60_000, 90, true), frame('p-001', T0 + 61_000, 90, true)];
    await e.handleTelemetry([...first, ...second, frame('p-001', T0 + 120_000, 60)]);
    const hr = (await observations()).filter((o) => o.code?.coding?.[0]?.code === '8867-4');
    expect(hr.map((o) => [o.effectiveDateTime, o.valueQuantity?.value, o.dataAbsentReason?.coding?.[0]?.code])).toEqual([
      ['2026-01-01T00:01:00.000Z', 75, undefined],
      ['2026-01-01T00:02:00.000Z', undefined, 'error'],
    ]);
    for (const o of hr) {
      expect(o.subject?.reference).toBe(patientRef);
      expect(describeIssues(validateFhir(o, 'http://hl7.org/fhir/StructureDefinition/heartrate').errors)).toEqual([]);
    }
    expect(heartRateObservationProblems(hr[0]!)).toEqual([]);
    // The same frames again (a re-delivery into a fresh exporter): nothing new.
    const { exporter: again } = exporter({ hrSummaryWindowMs: 60_000 });
    await again.handleTelemetry([...first, ...second, frame('p-001', T0 + 120_000, 60)]);
    expect((await observations()).filter((o) => o.code?.coding?.[0]?.code === '8867-4')).toHaveLength(2);
    expect(metrics.counter('pb_ehr_hr_summaries_total', '').get({ result: 'created' })).toBe(2);
  });

  it('skips a window it joined in the middle (after a restart) instead of sending a partial mean', async () => {
    const { exporter: e, metrics } = exporter({ hrSummaryWindowMs: 60_000 });
    await e.handleTelemetry([frame('p-001', T0 + 30_000, 70), frame('p-001', T0 + 60_000, 80), frame('p-001', T0 + 120_000, 80)]);
    const hr = (await observations()).filter((o) => o.code?.coding?.[0]?.code === '8867-4');
    expect(hr.map((o) => o.effectiveDateTime)).toEqual(['2026-01-01T00:02:00.000Z']);
    expect(metrics.counter('pb_ehr_hr_summaries_total', '').get({ result: 'partial_skipped' })).toBe(1);
  });
});

describe('EHR exporter: lifecycle', () => {
  it('writes the end, the acknowledgement and the resolution with If-Match; a re-delivery or an older snapshot writes nothing', async () => {
    const { exporter: e, metrics } = exporter();
    await e.handleBatch([consumed(envelope(vt), 0)]);
    const acked = { ...vtEnded, state: 'acknowledged' as const, acknowledgedBy: 'dr-a', acknowledgedAt: '2026-01-01T00:01:00Z', revision: 3 };
    await e.handleBatch([consumed(envelope(vtEnded), 1), consumed(envelope(acked, 'clinician'), 2)]);
    let [rhythm] = await rhythms();
    expect(rhythm!.effectivePeriod).toEqual({ start: '2026-01-01T00:00:03.000Z', end: '2026-01-01T00:00:09.000Z' });
    expect(rhythm!.note).toEqual([{ authorString: 'dr-a', time: '2026-01-01T00:01:00.000Z', text: 'Pulsebridge: acknowledged by dr-a' }]);
    expect(rhythm!.status).toBe('preliminary');
    const puts = server.requests.filter((r) => r.method === 'PUT');
    expect(puts.length).toBe(2);
    for (const p of puts) expect(p.headers['if-match']).toMatch(/^W\/"[^"]+"$/);

    await e.handleBatch([consumed(envelope(acked, 'clinician'), 2), consumed(envelope(vtEnded), 1)]);
    expect(server.requests.filter((r) => r.method === 'PUT').length).toBe(2);
    expect(exportsCount(metrics, 'Observation', 'stale')).toBe(1);

    const resolved = { ...acked, state: 'resolved' as const, resolvedBy: 'dr-b', resolvedAt: '2026-01-01T00:02:00Z', revision: 4 };
    await e.handleBatch([consumed(envelope(resolved, 'clinician'), 3)]);
    [rhythm] = await rhythms();
    expect(rhythm!.note?.map((n) => n.text)).toEqual(['Pulsebridge: acknowledged by dr-a', 'Pulsebridge: resolved by dr-b']);
    expect(describeIssues(validateFhir(rhythm!).errors)).toEqual([]);
  });

  it('records an escalation, keeps notes the EHR added, and leaves an Observation a clinician made final alone', async () => {
    const { exporter: e, metrics } = exporter();
    const afib = makeAlert('afib');
    await e.handleBatch([consumed(envelope(vt), 0), consumed(envelope(afib), 1)]);
    const byKind = async (kind: string) => (await rhythms()).find((o) => o.identifier?.[0]?.value?.split('/')[2] === kind)!;
    await server.repo.updateResource({ ...(await byKind('afib')), note: [{ text: 'reviewed strip, artefact excluded' }] });
    await server.repo.updateResource({ ...(await byKind('vt')), status: 'final' });

    const escalated = { ...afib, escalatedAt: '2026-01-01T00:03:00Z', escalationLevel: 1, revision: 2 };
    await e.handleBatch([consumed(envelope(escalated), 2), consumed(envelope(vtEnded), 3)]);
    expect((await byKind('afib')).note?.map((n) => n.text)).toEqual(['reviewed strip, artefact excluded', 'Pulsebridge: escalated (level 1), not acknowledged in time']);
    expect((await byKind('vt')).status).toBe('final');
    expect((await byKind('vt')).effectivePeriod).toEqual({ start: '2026-01-01T00:00:03.000Z' });
    expect(exportsCount(metrics, 'Observation', 'clinician_owned')).toBe(1);
  });

  it('reads again and retries after a version conflict (412)', async () => {
    const { exporter: e, metrics } = exporter();
    await e.handleBatch([consumed(envelope(vt), 0)]);
    server.failNext(1, { status: 412, method: 'PUT', outcome: 'Version mismatch' });
    await e.handleBatch([consumed(envelope(vtEnded), 1)]);
    expect(server.requests.filter((r) => r.method === 'PUT').map((r) => r.status)).toEqual([412, 200]);
    expect((await rhythms())[0]?.effectivePeriod?.end).toBe('2026-01-01T00:00:09.000Z');
    expect(metrics.counter('pb_ehr_version_conflicts_total', '').get()).toBe(1);
  });
});

describe('EHR exporter: delivery you can operate', () => {
  // Session 33's security review: /healthz needs no token, and a paused lane's reason carried the
  // EHR's OperationOutcome text, which the EHR writes (a name, a birth date) — only the values we
  // sent were elided from it.
  it('keeps the EHR\'s own words out of the pause reason /healthz shows, and logs them at debug level', async () => {
    const lines: { level: string; msg: string; fields?: Record<string, unknown> }[] = [];
    const record = (level: string) => (msg: string, fields?: Record<string, unknown>) => { lines.push({ level, msg, ...(fields ? { fields } : {}) }); };
    const logger = { ...silentLogger, debug: record('debug'), error: record('error'), child: () => logger };
    const { exporter: e } = exporter({ logger });
    server.failNext(3, { status: 401, outcome: 'Patient Jane Doe (born 1950-02-03): session of another user' });
    const batch = e.handleBatch([consumed(envelope(vt), 0)]);
    await eventually(() => e.health().status === 'paused');
    const health = JSON.stringify(e.health());
    expect(health).toMatch(/401/);
    expect(health).not.toMatch(/Jane|1950|another user/);
    expect(e.health().reason).toMatch(/the EHR's answer text is logged at debug level/);
    expect(JSON.stringify(lines.filter((l) => l.level === 'error'))).not.toMatch(/Jane/);
    expect(lines.some((l) => l.level === 'debug' && String(l.fields?.reason).includes('Jane Doe'))).toBe(true);
    await batch;
    expect(e.health().status).toBe('ok');
  });

  // Security re-check: the pause reason was fixed, but the warning logged for each dead letter
  // still carried the error message, whose tail is the EHR's OperationOutcome text (a 403 naming a
  // patient reached the log of the demo). The text stays in the dead letter and the debug log.
  it('keeps the EHR\'s own words out of the warning logged for a dead-lettered alert, strip or HR summary', async () => {
    const lines: string[] = [];
    const logger = createLogger('debug', {}, (line) => lines.push(line));
    const { exporter: e } = exporter({ logger, concurrency: 1, hrSummaryWindowMs: 60_000, maxForbiddenAttempts: 1 });
    const words = 'Patient Jane Doe (born 1950-02-03) is restricted';
    server.failNext(1, { status: 403, method: 'POST', outcome: words });
    await e.handleBatch([consumed(envelope(vt), 0)]);
    server.failNext(1, { status: 400, method: 'POST', outcome: words });
    await e.handleStrips([stripMessage(makeStrip('another-alert'))]);
    const T0 = Date.parse('2026-01-01T00:00:00Z');
    const frame = (tsMs: number, offset: number) => ({
      ...consumed('x', offset), key: 'p-001', stream: STREAMS.telemetry,
      value: Buffer.from(JSON.stringify({ schema: 'pb.telemetry.v1', deviceId: 'patch-0001', patientId: 'p-001', format: 'json-v1', receivedAt: tsMs,
        frame: { seq: offset, ts: tsMs, durMs: 1000, hr: 70, battery: 90, leadOff: false, beats: [] } })),
    });
    server.failNext(1, { status: 400, method: 'POST', outcome: words });
    await e.handleTelemetry([frame(T0, 0), frame(T0 + 60_000, 1), frame(T0 + 120_000, 2)]);
    const parsed = lines.map((l) => JSON.parse(l) as { level: string; msg: string });
    const warnings = parsed.filter((l) => l.level === 'warn' && /not exported/.test(l.msg));
    expect(warnings.map((l) => l.msg).sort()).toEqual(['ECG strip not exported; dead-lettered', 'HR summary not exported', 'alert not exported; dead-lettered']);
    for (const w of warnings) {
      expect(JSON.stringify(w)).not.toMatch(/Jane|1950/);
      expect(JSON.stringify(w)).toMatch(/40[03]/);
    }
    expect(parsed.filter((l) => l.level !== 'debug').map((l) => JSON.stringify(l)).join('\n')).not.toMatch(/Jane|1950/);
    expect(parsed.some((l) => l.level === 'debug' && JSON.stringify(l).includes('Jane Doe'))).toBe(true);
    expect(JSON.stringify(deadLetters().map((d) => d.record.outcome))).toContain(words);
  });

  it('pauses while the EHR is down (health, metric), dead-letters nothing, and resumes by itself', async () => {
    const { exporter: e, metrics } = exporter();
    server.failNext(8, { status: 503 });
    const batch = e.handleBatch([consumed(envelope(vt), 0)]);
    await eventually(() => e.health().status === 'paused');
    expect(e.health().reason).toMatch(/503/);
    expect(metrics.gauge('pb_ehr_export_paused', '').get()).toBe(1);
    await batch;
    expect(e.health().status).toBe('ok');
    expect(metrics.gauge('pb_ehr_export_paused', '').get()).toBe(0);
    expect(metrics.counter('pb_ehr_pauses_total', '').get({ code: 'PB_FHIR_UNAVAILABLE' })).toBe(1);
    expect((await rhythms()).length).toBe(1);
    expect(deadLetters()).toEqual([]);
  });

  it('an alert stuck behind a failing EHR keeps health paused while strips go through; paused and resumed logged once', async () => {
    // The EHR fails every alert Bundle (the rhythm Observation, MDC 184327) and takes everything else.
    let alertsFail = true;
    const isAlertBundle = (b: Bundle) => (b.entry ?? []).some((e) => (e.resource as { code?: { coding?: { code?: string }[] } }).code?.coding?.[0]?.code === '184327');
    const base = fhir;
    const flaky: FhirClient = {
      createIfNoneExist: (r, i, o) => base.createIfNoneExist(r, i, o),
      searchByIdentifier: (t, i, o) => base.searchByIdentifier(t, i, o),
      update: (r, o) => base.update(r, o),
      transaction: (b, o) => alertsFail && isAlertBundle(b)
        ? Promise.reject(new PulsebridgeError('PB_FHIR_UNAVAILABLE', 'FHIR POST [base] (transaction) failed after 2 attempts (last: status 503)'))
        : base.transaction(b, o),
    };
    const lines: { msg: string; lane?: string }[] = [];
    const logger = createLogger('debug', {}, (line) => lines.push(JSON.parse(line) as { msg: string }));
    // No jitter: 200 ms between the alert's rounds, longer than the strip below takes.
    const { exporter: e, metrics } = exporter({ fhir: flaky, logger, random: () => 0, pauseBackoff: { baseDelayMs: 400, maxDelayMs: 400 } });
    const batch = e.handleBatch([consumed(envelope(vt), 0)]);
    await eventually(() => e.health().status === 'paused');
    // A strip of another alert is written on its own meanwhile, and succeeds: the alert is still stuck.
    await e.handleStrips([stripMessage(makeStrip('another-alert'))]);
    expect((await observations()).filter((o) => o.code?.coding?.[0]?.code === '131328')).toHaveLength(1);
    expect(e.health().status).toBe('paused');
    await new Promise((r) => setTimeout(r, 500)); // more pause rounds
    expect(e.health()).toMatchObject({ status: 'paused', reason: expect.stringMatching(/^alerts: .*503/), pausedLanes: { alerts: { reason: expect.stringMatching(/503/) } } });
    expect(e.health().pausedLanes?.strips).toBeUndefined();
    expect(metrics.gauge('pb_ehr_export_paused', '').get()).toBe(1);
    alertsFail = false;
    await batch;
    expect(e.health().status).toBe('ok');
    expect(e.health().pausedLanes).toBeUndefined();
    expect(metrics.gauge('pb_ehr_export_paused', '').get()).toBe(0);
    expect(metrics.counter('pb_ehr_retries_total', '').get({ code: 'PB_FHIR_UNAVAILABLE' })).toBeGreaterThan(2);
    expect(lines.filter((l) => l.msg.startsWith('EHR export paused')).map((l) => l.lane)).toEqual(['alerts']);
    expect(lines.filter((l) => l.msg === 'EHR export resumed').map((l) => l.lane)).toEqual(['alerts']);
  });

  it('no MRN and no search URL in /healthz or the log: the Patient lookup paused, then a patient unknown', async () => {
    const lines: string[] = [];
    const logger = createLogger('debug', {}, (line) => lines.push(line));
    const { exporter: e } = exporter({ logger });
    const healths: string[] = [];
    server.failNext(3, { status: 503, method: 'GET', outcome: `overloaded searching ${MRN_SYSTEM}|MRN-001` });
    const batch = e.handleBatch([consumed(envelope(vt), 0)]);
    await eventually(() => e.health().status === 'paused');
    healths.push(JSON.stringify(e.health()));
    expect(e.health().reason).toBe('alerts: FHIR GET /Patient?identifier=… failed after 2 attempts (last: status 503)');
    await batch;
    await e.handleBatch([consumed(envelope(makeAlert('asystole', { patientId: 'p-002' })), 1)]);
    healths.push(JSON.stringify(e.health()));
    expect(e.health().unknownPatientCount).toBe(1);
    expect(lines.some((l) => l.includes('the EHR has no Patient with the MRN of patient p-002'))).toBe(true);
    for (const text of [...healths, ...lines]) {
      expect(text).not.toMatch(/MRN-00[12]/);
      expect(text).not.toContain(encodeURIComponent(MRN_SYSTEM));
      expect(text).not.toContain(server.baseUrl);
    }
  });

  it('a wrong base URL (404) pauses the export instead of dead-lettering every alert', async () => {
    fhir = createHttpFhirClient({ baseUrl: `${server.baseUrl}/not-the-base`, retry: { maxAttempts: 1, baseDelayMs: 1, maxDelayMs: 1 } });
    const { exporter: e } = exporter();
    const batch = e.handleBatch([consumed(envelope(vt), 0)]);
    await eventually(() => e.health().status === 'paused');
    expect(e.health().reason).toMatch(/404.*PULSEBRIDGE_FHIR_BASE_URL/);
    await e.stop().catch(() => {});
    await batch.catch(() => {});
    expect(deadLetters()).toEqual([]);
  });

  it('dead-letters an alert the server rejects with 400 with its OperationOutcome, and exports the rest', async () => {
    const { exporter: e, metrics } = exporter({ concurrency: 1 });
    const afib = makeAlert('afib');
    const rejected = consumed(envelope(vt), 7);
    server.failNext(1, { status: 400, method: 'POST', outcome: 'Observation.code: unknown code' });
    await e.handleBatch([rejected, consumed(envelope(afib), 8)]);
    const [dead] = deadLetters();
    expect(dead).toMatchObject({
      key: 'patch-0001',
      headers: { 'pb-source-stream': STREAMS.alerts, 'pb-source-offset': '7', 'pb-error-code': 'PB_FHIR_REJECTED' },
      record: { schema: 'pb.deadletter.v1', deviceId: 'patch-0001', topic: STREAMS.alerts, reason: 'fhir_rejected', source: 'ehr-exporter', stream: STREAMS.alerts, key: 'p-001', payloadBase64: rejected.value.toString('base64') },
    });
    expect(dead!.record.outcome).toEqual({ resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'processing', diagnostics: 'Observation.code: unknown code' }] });
    expect((await rhythms()).map((o) => o.valueCodeableConcept?.text)).toEqual(['Atrial fibrillation']);
    expect(metrics.counter('pb_ehr_dead_letters_total', '').get({ reason: 'fhir_rejected' })).toBe(1);
  });

  it('a dead letter replayed with `pulsebridge deadletter replay` reaches the exporter again and is exported once', async () => {
    const { exporter: e, metrics } = exporter();
    await e.start();
    server.failNext(1, { status: 422, method: 'POST', outcome: 'business rule: not today' });
    await bus.publish(STREAMS.alerts, [{ key: vt.patientId, value: Buffer.from(JSON.stringify(envelope(vt))) }]);
    await eventually(() => deadLetters().length === 1);
    const message = bus.read(STREAMS.deadLetter)[0]!;
    const record = parseDeadLetter(message.value, message.key, message.headers)!;
    expect(record).toMatchObject({ source: 'ehr-exporter', stream: STREAMS.alerts, key: vt.patientId, reason: 'fhir_rejected' });
    expect(await replayDeadLetter({ id: '0:0', record }, { bus, registry: { patientAt: () => undefined } })).toMatchObject({ ok: true, stream: STREAMS.alerts });
    await eventually(() => exportsCount(metrics, 'Observation', 'created') === 1);
    expect((await rhythms()).length).toBe(1);
  });

  it('dead-letters messages that are not JSON or not an alert envelope', async () => {
    const { exporter: e } = exporter();
    const badKind = { ...envelope(vt), alert: { ...vt, kind: 'hiccup' } };
    await e.handleBatch([consumed('{not json', 0), consumed(badKind as never, 1)]);
    expect(deadLetters().map((d) => [d.record.reason, d.record.deviceId])).toEqual([['invalid_json', 'unknown'], ['schema', 'patch-0001']]);
    expect(server.requests).toEqual([]);
  });

  it('an unknown patient is parked and retried without holding up other patients, visible, never dead-lettered', async () => {
    const { exporter: e, metrics } = exporter();
    const other = makeAlert('asystole', { patientId: 'p-002' });
    await e.handleBatch([consumed(envelope(other), 0), consumed(envelope(vt), 1)]);
    expect((await rhythms()).map((o) => o.subject?.reference)).toEqual([patientRef]); // p-001 went through
    expect(e.health()).toMatchObject({ status: 'ok', unknownPatientCount: 1 });
    expect(metrics.gauge('pb_ehr_unknown_patients', '').get()).toBe(1);
    const parked = () => bus.read(STREAMS.ehrRetry);
    expect(parked().map((m) => [m.key, m.headers?.['pb-attempt'], m.headers?.['pb-source-stream'], m.headers?.['pb-source-offset']])).toEqual([['p-002', '1', STREAMS.alerts, '0']]);

    await e.handleRetries([parked()[0]!]); // still unknown: parked again, one attempt more
    expect(parked().map((m) => m.headers?.['pb-attempt'])).toEqual(['1', '2']);
    const strip = makeStrip(other.id, { patientId: 'p-002' });
    await e.handleStrips([stripMessage(strip)]); // its strip waits too
    expect(parked().map((m) => m.headers?.['pb-source-stream'])).toEqual([STREAMS.alerts, STREAMS.alerts, STREAMS.ecgStrips]);

    const ref = await admit('MRN-002');
    await e.handleRetries(parked().slice(1));
    expect(e.health().unknownPatientCount).toBe(0);
    const mine = (await rhythms()).filter((o) => o.subject?.reference === ref);
    expect(mine).toHaveLength(1);
    const ecg = (await observations()).find((o) => o.code?.coding?.[0]?.code === '131328')!;
    expect(ecg.subject?.reference).toBe(ref);
    expect(mine[0]!.derivedFrom?.map((r) => r.reference)).toContain(`Observation/${ecg.id}`);
    expect(deadLetters()).toEqual([]);
  });

  it('a patient added to the MRN file while running: their parked alert goes out at its next retry', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pb-mrns-'));
    try {
      const file = path.join(dir, 'mrns.json');
      fs.writeFileSync(file, JSON.stringify({ 'p-001': 'MRN-001' }));
      const mrns = followedMrnFile(MRN_SYSTEM, file, { logger: silentLogger, checkEveryMs: 0 });
      const { exporter: e } = exporter({ patients: createPatientResolver({ fhir, mrns }) });
      const ref = await admit('MRN-002'); // in the EHR, not yet in our file
      await e.handleBatch([consumed(envelope(makeAlert('asystole', { patientId: 'p-002' })), 0)]);
      expect(e.health().unknownPatientCount).toBe(1);
      const parked = [...bus.read(STREAMS.ehrRetry)];
      expect(parked).toHaveLength(1);

      fs.writeFileSync(file, JSON.stringify({ 'p-001': 'MRN-001', 'p-002': 'MRN-002' }));
      await e.handleRetries(parked);
      expect((await rhythms()).map((o) => o.subject?.reference)).toEqual([ref]);
      expect(e.health().unknownPatientCount).toBe(0);
      expect(bus.read(STREAMS.ehrRetry)).toHaveLength(1); // not parked again
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('exports technical alerts as Device + one Communication notification', async () => {
    const leadOff = makeAlert('lead_off');
    const { exporter: e } = exporter();
    await e.handleBatch([consumed(envelope(leadOff), 0), consumed(envelope(leadOff), 1)]);
    const stored = await search<MedplumCommunication>('Communication');
    expect(stored.length).toBe(1);
    expect(describeIssues(validateFhir(stored[0]!).errors)).toEqual([]);
    expect(technicalCommunicationProblems(stored[0]!, IDENTIFIER_SYSTEM)).toEqual([]);
    expect(stored[0]!.subject?.reference).toBe(patientRef);
  });

  // EHR walk: the onset of a lead-off reached the EHR, its end never did: the chart said "Leads
  // off" for ever. The end is a second notice in response to the first, each written once however
  // often the stream carries the end (re-delivery, the processor re-publishing after a restart, a
  // restarted exporter reading it again).
  it('tells the EHR when a technical alarm ends: one end notice in response to the onset notice, once', async () => {
    const raised = makeAlert('lead_off');
    const update = makeAlert('lead_off', { revision: 2, evidence: { criterion: 'lead_off fixture', thresholds: {}, durationMs: 10_000 }, updatedAt: '2026-01-01T00:00:20.000Z' });
    const ended = makeAlert('lead_off', { revision: 3, end: '2026-01-01T00:04:03Z', state: 'resolved', resolvedBy: 'pulsebridge-processor', resolvedAt: '2026-01-01T00:04:14.000Z', updatedAt: '2026-01-01T00:04:14.000Z' });
    const { exporter: e, metrics } = exporter();
    await e.handleBatch([consumed(envelope(raised), 0), consumed(envelope(update), 1)]);
    expect(await search<MedplumCommunication>('Communication')).toHaveLength(1);
    await e.handleBatch([consumed(envelope(ended), 2), consumed(envelope(ended), 2)]);
    const { exporter: restarted } = exporter();
    await restarted.handleBatch([consumed(envelope(update), 1), consumed(envelope(ended), 2)]);

    const stored = await search<MedplumCommunication>('Communication');
    expect(stored).toHaveLength(2);
    const onset = stored.find((c) => !c.identifier?.[0]?.value?.endsWith('/end'))!;
    const end = stored.find((c) => c.identifier?.[0]?.value?.endsWith('/end'))!;
    expect(end.inResponseTo).toEqual([{ reference: `Communication/${onset.id}` }]);
    expect(end.topic?.text).toBe('Leads off ended');
    expect(end.payload?.[0]?.contentString).toMatch(/from 2026-01-01T00:00:03.000Z to 2026-01-01T00:04:03.000Z \(4 min\)/);
    expect(end.subject?.reference).toBe(patientRef);
    expect(end.sender?.reference).toBe(onset.sender?.reference);
    for (const c of stored) {
      expect(describeIssues(validateFhir(c).errors)).toEqual([]);
      expect(technicalCommunicationProblems(c, IDENTIFIER_SYSTEM)).toEqual([]);
    }
    expect(exportsCount(metrics, 'Communication', 'created')).toBe(2);
    expect(await search<MedplumDevice>('Device')).toHaveLength(1);
  });

  // EHR walk: a clinician resolved a lead-off while the leads were still off (a shower); FHIR got
  // nothing until the condition ended, HL7 had the resolution at once. Now the resolution is its
  // own notice at once, and the end still follows (the chart learns when the gap closed): one of each.
  it('tells the EHR when a clinician resolves a technical alarm whose condition continues, and still when it ends; each once', async () => {
    const raised = makeAlert('lead_off');
    const resolved = makeAlert('lead_off', { revision: 2, state: 'resolved', resolvedBy: 'nurse-kim', resolvedAt: '2026-01-01T00:02:00.000Z', resolveReason: 'patient showering', updatedAt: '2026-01-01T00:02:00.000Z' });
    const ended = { ...resolved, revision: 3, end: '2026-01-01T00:31:03Z', updatedAt: '2026-01-01T00:31:14.000Z' };
    const { exporter: e, metrics } = exporter();
    await e.handleBatch([consumed(envelope(raised), 0), consumed(envelope(resolved, 'clinician'), 1), consumed(envelope(resolved, 'clinician'), 1)]);
    const atResolve = await search<MedplumCommunication>('Communication');
    expect(atResolve.map((c) => c.topic?.text).sort()).toEqual(['Leads off', 'Leads off resolved']);
    const onset = atResolve.find((c) => c.topic?.text === 'Leads off')!;
    const notice = atResolve.find((c) => c.topic?.text === 'Leads off resolved')!;
    expect(notice.inResponseTo).toEqual([{ reference: `Communication/${onset.id}` }]);
    expect(notice.sent).toBe('2026-01-01T00:02:00.000Z');
    expect(notice.payload?.[0]?.contentString).toMatch(/resolved by nurse-kim at 2026-01-01T00:02:00.000Z — “patient showering”; the condition was still present then/);

    await e.handleBatch([consumed(envelope(ended), 2)]);
    const { exporter: restarted } = exporter();
    await restarted.handleBatch([consumed(envelope(resolved, 'clinician'), 1), consumed(envelope(ended), 2)]);
    const stored = await search<MedplumCommunication>('Communication');
    expect(stored.map((c) => c.topic?.text).sort()).toEqual(['Leads off', 'Leads off ended', 'Leads off resolved']);
    const end = stored.find((c) => c.topic?.text === 'Leads off ended')!;
    expect(end.inResponseTo).toEqual([{ reference: `Communication/${onset.id}` }]);
    expect(end.payload?.[0]?.contentString).toMatch(/to 2026-01-01T00:31:03.000Z \(31 min\)\. Alarm resolved by nurse-kim/);
    for (const c of stored) {
      expect(describeIssues(validateFhir(c).errors)).toEqual([]);
      expect(technicalCommunicationProblems(c, IDENTIFIER_SYSTEM)).toEqual([]);
    }
    expect(exportsCount(metrics, 'Communication', 'created')).toBe(3);
  });

  it('an end seen without its onset (the onset dead-lettered, or exported before the exporter existed) writes both notices, linked', async () => {
    const ended = makeAlert('signal_loss', { revision: 4, end: '2026-01-01T00:00:45Z', state: 'resolved', resolvedBy: 'pulsebridge-processor', resolvedAt: '2026-01-01T00:00:46.000Z', updatedAt: '2026-01-01T00:00:46.000Z' });
    const { exporter: e } = exporter();
    await e.handleBatch([consumed(envelope(ended), 0)]);
    const stored = await search<MedplumCommunication>('Communication');
    expect(stored.map((c) => c.topic?.text).sort()).toEqual(['Signal loss', 'Signal loss ended']);
    const onset = stored.find((c) => c.topic?.text === 'Signal loss')!;
    expect(stored.find((c) => c.topic?.text === 'Signal loss ended')!.inResponseTo).toEqual([{ reference: `Communication/${onset.id}` }]);
  });

  it('stops promptly while paused, leaving the batch uncommitted for the next exporter', async () => {
    const { exporter: e } = exporter({ pauseBackoff: { baseDelayMs: 600_000, maxDelayMs: 600_000 } });
    server.failNext(2, { status: 503 });
    await e.start();
    await bus.publish(STREAMS.alerts, [{ key: vt.patientId, value: Buffer.from(JSON.stringify(envelope(vt))) }]);
    await eventually(() => e.health().status === 'paused');
    await e.stop();
    expect(deadLetters()).toEqual([]);
    const restarted = exporter();
    await restarted.exporter.start();
    await eventually(() => exportsCount(restarted.metrics, 'Observation', 'created') === 1);
  });
});

// EHR walk: a 7 min tachycardia rewrote its rhythm Observation 41 times (one PUT, one version,
// per evidence update every 10 s). With an interval, evidence-only updates are not written within it.
describe('EHR exporter: evidence-only updates coalesced (PULSEBRIDGE_FHIR_EVIDENCE_UPDATE_MIN)', () => {
  const T = Date.parse('2026-01-01T00:00:10.000Z');
  const at = (sec: number) => new Date(T + sec * 1000).toISOString();
  /** A tachycardia: raised at 0 s, evidence every 10 s, acknowledged at 125 s, ended at 400 s (resolved at 410 s). */
  function longAlarm(): { alert: ReturnType<typeof makeAlert>; source: 'processor' | 'clinician' }[] {
    let a = makeAlert('tachy', { detectedAt: at(0), updatedAt: at(0), evidence: { hrBpm: 140, criterion: 'x', thresholds: {} } });
    const out: { alert: typeof a; source: 'processor' | 'clinician' }[] = [{ alert: a, source: 'processor' }];
    const next = (sec: number, change: Partial<typeof a> = {}, source: 'processor' | 'clinician' = 'processor') => {
      a = { ...a, revision: a.revision + 1, updatedAt: at(sec), evidence: { ...a.evidence, hrBpm: 140 + (sec % 7) }, ...change };
      out.push({ alert: a, source });
    };
    for (let sec = 10; sec < 400; sec += 10) {
      next(sec);
      if (sec === 120) next(125, { state: 'acknowledged', acknowledgedBy: 'dr-a', acknowledgedAt: at(125) }, 'clinician');
    }
    next(410, { end: at(400), state: 'resolved', resolvedBy: 'pulsebridge-processor', resolvedAt: at(410) });
    return out;
  }
  const alarm = longAlarm();
  const messages = alarm.map(({ alert, source }, i) => consumed(envelope(alert, source), i));
  const puts = () => server.requests.filter((r) => r.method === 'PUT').map((r) => (r.body as MedplumObservation).extension?.find((e) => e.url === 'urn:pulsebridge:fhir:alert-updated-at')?.valueInstant);

  it('writes the acknowledgement and the end at once, and at most one evidence update per interval; the record ends with the whole final state', async () => {
    const { exporter: e, metrics } = exporter({ evidenceUpdateIntervalMs: 120_000 });
    await e.handleBatch(messages);
    expect(alarm).toHaveLength(42);
    // Raised at 0 s (the Bundle), then the first update 120 s after it, the acknowledgement, the
    // first updates 120 s after the last write (250 s, 370 s), and the end.
    expect(puts()).toEqual([120, 125, 250, 370, 410].map(at));
    expect(exportsCount(metrics, 'Observation', 'held')).toBe(alarm.length - 6);
    const [rhythm] = await rhythms();
    const last = alarm.at(-1)!.alert;
    expect(rhythm!.effectivePeriod).toEqual({ start: '2026-01-01T00:00:03.000Z', end: at(400) });
    expect(rhythm!.component?.[0]?.valueQuantity?.value).toBe(last.evidence.hrBpm);
    expect(rhythm!.note?.map((n) => n.text)).toEqual(['Pulsebridge: acknowledged by dr-a', `Pulsebridge: ended on its own at ${at(400)}`]);
    expect(describeIssues(validateFhir(rhythm!).errors)).toEqual([]);
    // A restarted exporter reading the whole stream again writes nothing: the EHR holds the decisions.
    const { exporter: restarted } = exporter({ evidenceUpdateIntervalMs: 120_000 });
    await restarted.handleBatch(messages);
    expect(puts()).toHaveLength(5);
    expect(await rhythms()).toHaveLength(1);
  });

  it('writes every change with an interval of 0', async () => {
    const { exporter: e } = exporter({ evidenceUpdateIntervalMs: 0 });
    await e.handleBatch(messages);
    expect(puts()).toEqual(alarm.slice(1).map(({ alert }) => alert.updatedAt));
  });
});

// Issue 12 follow-up: a held update was dropped; an alarm that then neither changed nor ended kept
// the old rate in the chart. The latest held snapshot is now written once its interval has passed.
describe('EHR exporter: held evidence update written once the interval has passed (trailing write)', () => {
  // Snapshot times 100 ms apart, interval 300 ms: the trailing write is due 200 ms after the held
  // snapshot was handled (the test waits for a condition, never on a duration).
  const T = Date.parse('2026-01-01T00:00:10.000Z');
  const ms = (n: number) => new Date(T + n).toISOString();
  const raised = makeAlert('tachy', { detectedAt: ms(0), updatedAt: ms(0), evidence: { hrBpm: 140, criterion: 'x', thresholds: {} } });
  const rate = (revision: number, at: number, hrBpm: number) => ({ ...raised, revision, updatedAt: ms(at), evidence: { ...raised.evidence, hrBpm } });
  const puts = () => server.requests.filter((r) => r.method === 'PUT').map((r) => (r.body as MedplumObservation).extension?.find((e) => e.url === 'urn:pulsebridge:fhir:alert-revision')?.valueInteger);
  const rateInChart = async () => (await rhythms())[0]?.component?.[0]?.valueQuantity?.value;

  it('writes the latest held snapshot once the interval has passed when nothing else comes for the alarm', async () => {
    const { exporter: e, metrics } = exporter({ evidenceUpdateIntervalMs: 300 });
    await e.handleBatch([consumed(envelope(raised), 0), consumed(envelope(rate(2, 100, 151)), 1), consumed(envelope(rate(3, 200, 152)), 2)]);
    expect(puts()).toEqual([]);
    await eventually(() => puts().length === 1);
    expect(puts()).toEqual([3]);
    expect(await rateInChart()).toBe(152);
    // Counted once the EHR's answer is back (the test server records the PUT before it answers).
    await eventually(() => metrics.counter('pb_ehr_evidence_updates_trailing_total', '').get({ when: 'due', result: 'updated' }) === 1);
    // Re-delivered afterwards, neither held snapshot writes anything.
    await e.handleBatch([consumed(envelope(rate(2, 100, 151)), 3), consumed(envelope(rate(3, 200, 152)), 4)]);
    expect(puts()).toEqual([3]);
  });

  it('writes nothing late when a later snapshot superseded the held one (the end, with the whole state)', async () => {
    const { exporter: e } = exporter({ evidenceUpdateIntervalMs: 300 });
    const ended = { ...rate(3, 250, 130), end: ms(240), state: 'resolved' as const, resolvedBy: 'pulsebridge-processor', resolvedAt: ms(250) };
    await e.handleBatch([consumed(envelope(raised), 0), consumed(envelope(rate(2, 100, 151)), 1), consumed(envelope(ended), 2)]);
    expect(puts()).toEqual([3]);
    await new Promise((r) => setTimeout(r, 400));
    // Past the held snapshot's due time: only the end was written, and it stays.
    await e.stop();
    expect(puts()).toEqual([3]);
    expect(await rateInChart()).toBe(130);
  });

  it('a restarted exporter writes a held snapshot neither twice nor never: the stop writes the waiting one, the restarted one re-reading the stream writes nothing', async () => {
    const messages = [consumed(envelope(raised), 0), consumed(envelope(rate(2, 100, 151)), 1), consumed(envelope(rate(3, 200, 152)), 2)];
    const first = exporter({ evidenceUpdateIntervalMs: 60_000 }).exporter;
    await first.handleBatch(messages);
    expect(puts()).toEqual([]);
    await first.stop();
    expect(puts()).toEqual([3]);
    const { exporter: restarted, metrics } = exporter({ evidenceUpdateIntervalMs: 300 });
    await restarted.handleBatch(messages);
    expect(exportsCount(metrics, 'Observation', 'stale') + exportsCount(metrics, 'Observation', 'unchanged')).toBe(3);
    await restarted.stop();
    expect(puts()).toEqual([3]);
    expect(await rateInChart()).toBe(152);
  });
});

// Review of 3c940a1: trailing writes bypassed `concurrency`; after a backlog every timer came due
// at once and each wrote at the same time.
describe('EHR exporter: trailing writes keep to `concurrency`', () => {
  const T = Date.parse('2026-01-01T00:00:10.000Z');
  const ms = (n: number) => new Date(T + n).toISOString();

  it('at most `concurrency` trailing PUTs at a time when many come due together, and every one is written', async () => {
    let inFlight = 0;
    let most = 0;
    // Each PUT takes a moment longer, so writes that run together overlap.
    const counting: FhirClient = {
      createIfNoneExist: (resource, identifier, options) => fhir.createIfNoneExist(resource, identifier, options),
      searchByIdentifier: (resourceType, identifier, options) => fhir.searchByIdentifier(resourceType, identifier, options),
      transaction: (bundle, options) => fhir.transaction(bundle, options),
      update: async (resource, options) => {
        most = Math.max(most, ++inFlight);
        try {
          await new Promise((r) => setTimeout(r, 50));
          return await fhir.update(resource, options);
        } finally {
          inFlight--;
        }
      },
    };
    const { exporter: e, metrics } = exporter({ fhir: counting, concurrency: 2, evidenceUpdateIntervalMs: 1_000 });
    // 12 alarms, each raised (a Bundle) and then an evidence-only update held.
    const alarms = Array.from({ length: 12 }, (_, i) => makeAlert('tachy', { onset: ms(-3_000 - i * 1_000), detectedAt: ms(0), updatedAt: ms(0), evidence: { hrBpm: 140, criterion: 'x', thresholds: {} } }));
    const updates = alarms.map((a) => ({ ...a, revision: 2, updatedAt: ms(100), evidence: { ...a.evidence, hrBpm: 151 } }));
    // Raised first; then the updates, held within one short batch: their timers come due together.
    await e.handleBatch(alarms.map((a, i) => consumed(envelope(a), i)));
    await e.handleBatch(updates.map((a, i) => consumed(envelope(a), alarms.length + i)));
    expect(exportsCount(metrics, 'Observation', 'held')).toBe(alarms.length);
    const trailing = () => metrics.counter('pb_ehr_evidence_updates_trailing_total', '').get({ when: 'due', result: 'updated' });
    await eventually(() => trailing() === alarms.length);
    expect(most).toBeGreaterThan(0);
    expect(most).toBeLessThanOrEqual(2);
  });
});

describe('EHR exporter: PHI audit trail of what was sent (FHIR)', () => {
  let dataDir: string;
  beforeEach(() => { dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'pb-ehr-audit-')); });
  afterEach(() => fs.rmSync(dataDir, { recursive: true, force: true }));
  const audited = (overrides: Partial<EhrExporterOptions> = {}) => exporter({
    audit: { sink: new JsonlAuditSink<EhrAuditEntry>({ dataDir }), destination: fhirDestination(`${server.baseUrl.replace('://', '://svc:s3cret@')}?tenant=x`) }, ...overrides,
  });
  const trail = () => fs.readFileSync(auditLogPath(dataDir), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as EhrAuditEntry);

  it('one entry per delivered snapshot, in the dashboard\'s file (0600): actor, action, patient, alert, resource types, destination without credentials or query; no MRN', async () => {
    const { exporter: e } = audited();
    await e.handleBatch([consumed(envelope(vt), 0)]);
    const entries = trail();
    expect(entries).toEqual([{
      at: expect.any(String), actor: { sub: EHR_EXPORTER_ACTOR, role: 'ehr-exporter' }, action: 'ehr.fhir.send',
      patientId: 'p-001', alertId: vt.id, deviceId: 'patch-0001', outcome: 'accepted',
      resourceTypes: ['Device', 'Observation'], destination: server.baseUrl.replace(/\/+$/, ''), detail: 'alert revision 1: created',
    }]);
    expect(fs.readFileSync(auditLogPath(dataDir), 'utf8')).not.toMatch(/MRN-001|s3cret|tenant|168/);
    expect(fs.statSync(auditLogPath(dataDir)).mode & 0o777).toBe(0o600);
    // The end: one more entry (the update); the same snapshot again writes nothing and adds none.
    await e.handleBatch([consumed(envelope(vtEnded), 1), consumed(envelope(vtEnded), 2)]);
    expect(trail().slice(1).map((x) => [x.outcome, x.resourceTypes, x.detail])).toEqual([['accepted', ['Observation'], 'alert revision 2: updated']]);
  });

  it('a send that fails (503s, the lane pauses) and then goes through leaves one accepted entry, not one per try', async () => {
    const { exporter: e, metrics } = audited();
    server.failNext(5, { status: 503 });
    await e.handleBatch([consumed(envelope(vt), 0)]);
    expect(metrics.counter('pb_ehr_retries_total', '').get({ code: 'PB_FHIR_UNAVAILABLE' })).toBeGreaterThan(0);
    expect(trail().map((x) => [x.action, x.outcome, x.alertId])).toEqual([['ehr.fhir.send', 'accepted', vt.id]]);
  });

  it('a resource the EHR refuses (422) is one refused entry with the status; a strip written on its own and an HR summary are entries too', async () => {
    const { exporter: e } = audited({ hrSummaryWindowMs: 60_000 });
    server.failNext(1, { status: 422, method: 'POST', outcome: 'Patient MRN-001 Jane Doe: invalid' });
    await e.handleBatch([consumed(envelope(vt), 0)]);
    await e.handleStrips([stripMessage(makeStrip(vt.id))]);
    const T0 = Date.parse('2026-01-01T00:00:00Z');
    const frame = (ts: number, offset: number) => ({ ...consumed('x', offset), key: 'p-001', stream: STREAMS.telemetry,
      value: Buffer.from(JSON.stringify({ schema: 'pb.telemetry.v1', deviceId: 'patch-0001', patientId: 'p-001', format: 'json-v1', receivedAt: ts, frame: { seq: offset, ts, durMs: 1000, hr: 70, battery: 90, leadOff: false, beats: [] } })) });
    await e.handleTelemetry([frame(T0, 0), frame(T0 + 60_000, 1)]);
    expect(trail().map((x) => [x.outcome, x.status, x.alertId, x.resourceTypes, x.detail])).toEqual([
      ['refused', 422, vt.id, undefined, 'alert revision 1: dead-lettered: fhir_rejected'],
      ['accepted', undefined, vt.id, ['Device', 'Observation'], 'ECG strip: created'],
      ['accepted', undefined, undefined, ['Device', 'Observation'], 'HR summary: created'],
    ]);
    expect(fs.readFileSync(auditLogPath(dataDir), 'utf8')).not.toMatch(/MRN-001|Jane/);
  });
});

describe('EHR exporter: an audit trail that cannot be written', () => {
  it('does not hold the alert back (it has reached the EHR): logged as an error by ids, counted', async () => {
    const lines: Record<string, unknown>[] = [];
    const logger = createLogger('error', {}, (line) => lines.push(JSON.parse(line) as Record<string, unknown>));
    const full = { record: () => Promise.reject(new PulsebridgeError('PB_AUDIT_FAILED', 'cannot append (ENOSPC)')) };
    const { exporter: e, metrics } = exporter({ logger, audit: { sink: full, destination: server.baseUrl } });
    await e.handleBatch([consumed(envelope(vt), 0)]);
    expect((await rhythms()).length).toBe(1);
    expect(metrics.counter('pb_ehr_audit_failures_total', '').get({ action: 'ehr.fhir.send' })).toBe(1);
    expect(lines).toEqual([expect.objectContaining({ msg: 'EHR disclosure not audited: the audit trail cannot be written', patientId: 'p-001', alertId: vt.id })]);
  });
});

describe('EHR exporter: exports dated in the future (device clock ahead)', () => {
  it('counts and warns once per device per hour, names device and patient (not the MRN), and still exports the alert unchanged', async () => {
    const lines: Record<string, unknown>[] = [];
    const logger = createLogger('warn', {}, (line) => lines.push(JSON.parse(line) as Record<string, unknown>));
    // The exporter's clock is 2.5 h behind the device's: every onset is 2.5 h in its future.
    // (No strip will come: the exporter's clock would otherwise have it wait 2.5 h for one.)
    let nowMs = Date.parse(vt.onset) - 2.5 * 3_600_000;
    const { exporter: e, metrics } = exporter({ logger, now: () => nowMs });
    expect(e.health().futureDatedExports).toBeUndefined();
    await e.handleBatch([consumed(envelope({ ...vt, ecgStrip: false }), 0)]);
    const asystole = makeAlert('asystole', { onset: '2026-01-01T00:01:00Z', ecgStrip: false });
    await e.handleBatch([consumed(envelope(asystole), 1)]);
    const future = metrics.counter('pb_ehr_future_dated_total', '');
    expect(future.get({ protocol: 'fhir', what: 'alert' })).toBe(2);
    expect(e.health().futureDatedExports).toBe(2);
    const warned = () => lines.filter((l) => String(l.msg).startsWith('export to the EHR dated in the future'));
    expect(warned()).toEqual([expect.objectContaining({ deviceId: 'patch-0001', patientId: 'p-001', protocol: 'fhir', aheadMinutes: 150 })]);
    expect(JSON.stringify(lines)).not.toContain('MRN-001');
    // Sent as the device dated it: the alarm reaches the EHR.
    expect((await rhythms()).map((o) => o.effectivePeriod?.start).sort()).toEqual([vt.onset, asystole.onset].map((t) => new Date(t).toISOString()).sort());
    // An hour later the same device is named again.
    nowMs += 3_600_000;
    await e.handleBatch([consumed(envelope(makeAlert('vt', { onset: '2026-01-01T01:00:03Z', ecgStrip: false })), 2)]);
    expect(warned()).toHaveLength(2);
  });

  it('an export within 5 minutes of the exporter\'s clock is not counted', async () => {
    const { exporter: e, metrics } = exporter({ now: () => Date.parse(vt.onset) - 4 * 60_000 });
    await e.handleBatch([consumed(envelope({ ...vt, ecgStrip: false }), 0)]);
    expect(metrics.counter('pb_ehr_future_dated_total', '').get({ protocol: 'fhir', what: 'alert' })).toBe(0);
    expect(e.health().futureDatedExports).toBeUndefined();
  });
});
