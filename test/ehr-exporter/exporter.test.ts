import { parseSearchRequest } from '@medplum/core';
import type { Communication as MedplumCommunication, Observation as MedplumObservation } from '@medplum/fhirtypes';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { DeadLetterRecord } from '../../contracts/telemetry.ts';
import { STREAMS } from '../../contracts/topics.ts';
import type { EhrExporter, EhrExporterOptions } from '../../ehr-exporter/exporter.ts';
import { createEhrExporter } from '../../ehr-exporter/exporter.ts';
import type { FhirClient } from '../../ehr-exporter/fhir-client.ts';
import { createHttpFhirClient } from '../../ehr-exporter/fhir-client.ts';
import { alertToObservation } from '../../ehr-exporter/observation.ts';
import { InProcessBus } from '../../platform/bus/index.ts';
import { PulsebridgeError } from '../../platform/errors.ts';
import { silentLogger } from '../../platform/log.ts';
import { MetricsRegistry } from '../../platform/metrics.ts';
import type { FhirTestServer } from '../helpers/fhir-server.ts';
import { startFhirServer } from '../helpers/fhir-server.ts';
import { describeIssues, rhythmObservationProblems, technicalCommunicationProblems, validateFhir } from '../helpers/fhir-validate.ts';
import { consumed, envelope, IDENTIFIER_SYSTEM, makeAlert } from './fixtures.ts';

let server: FhirTestServer;
let bus: InProcessBus;
let fhir: FhirClient;
const running: EhrExporter[] = [];

beforeEach(async () => {
  server = await startFhirServer();
  bus = new InProcessBus();
  fhir = createHttpFhirClient({ baseUrl: server.baseUrl, retry: { maxAttempts: 3, baseDelayMs: 1, maxDelayMs: 5 } });
});
afterEach(async () => {
  for (const e of running.splice(0)) await e.stop();
  await bus.close();
  await server.close();
});

function exporter(overrides: Partial<EhrExporterOptions> = {}): { exporter: EhrExporter; metrics: MetricsRegistry } {
  const metrics = overrides.metrics ?? new MetricsRegistry();
  const e = createEhrExporter({ bus, fhir, identifierSystem: IDENTIFIER_SYSTEM, logger: silentLogger, metrics, ...overrides });
  running.push(e);
  return { exporter: e, metrics };
}

const observations = () => server.repo.searchResources<MedplumObservation>(parseSearchRequest('Observation'));
const communications = () => server.repo.searchResources<MedplumCommunication>(parseSearchRequest('Communication'));
const deadLetters = () => bus.read(STREAMS.deadLetter).map((m) => ({ record: JSON.parse(m.value.toString('utf8')) as DeadLetterRecord, headers: m.headers, key: m.key }));
const exportsCount = (metrics: MetricsRegistry, resource: string, result: string) => metrics.counter('pb_ehr_exports_total', '').get({ resource, result });

/** Strips what the server adds, so a stored resource can be compared with the mapping. */
function withoutServerFields<T extends { id?: string; meta?: unknown }>(r: T): Omit<T, 'id' | 'meta'> {
  const { id: _id, meta: _meta, ...rest } = r;
  return rest;
}

/** Polls until `check` holds; the vitest timeout bounds it. Used only around the bus's own loop. */
async function eventually(check: () => boolean | Promise<boolean>): Promise<void> {
  while (!(await check())) await new Promise((r) => setTimeout(r, 10));
}

async function rejection(p: Promise<unknown>): Promise<unknown> {
  return p.then(() => {
    throw new Error('expected a rejection');
  }, (e: unknown) => e);
}

const vt = makeAlert('vt', { evidence: { hrBpm: 168, beatCount: 9, criterion: '>= 5 V beats at HR > 100', thresholds: { beats: 5, hrBpm: 100 } } });
const vtEnded = { ...vt, end: '2026-01-01T00:00:09Z', revision: 2, updatedAt: '2026-01-01T00:00:10Z' };

describe('EHR exporter', () => {
  it('exports an alert from the alerts stream as one stored Observation that validates and equals the mapping', async () => {
    const { exporter: e, metrics } = exporter();
    await e.start();
    await bus.publish(STREAMS.alerts, [{ key: vt.patientId, value: Buffer.from(JSON.stringify(envelope(vt))) }]);
    await eventually(() => exportsCount(metrics, 'Observation', 'created') === 1);

    const stored = await observations();
    expect(stored.length).toBe(1);
    const obs = stored[0]!;
    expect(describeIssues(validateFhir(obs).errors)).toEqual([]);
    expect(rhythmObservationProblems(obs, IDENTIFIER_SYSTEM)).toEqual([]);
    expect(withoutServerFields(obs)).toEqual(alertToObservation(vt, { identifierSystem: IDENTIFIER_SYSTEM }));
    expect(deadLetters()).toEqual([]);
  });

  it('makes exactly one Observation when the same alert is delivered twice in a batch and again later', async () => {
    const { exporter: e, metrics } = exporter();
    await e.handleBatch([consumed(envelope(vt), 0), consumed(envelope(vt), 1)]);
    await e.handleBatch([consumed(envelope(vt), 0)]);
    expect((await observations()).length).toBe(1);
    expect([exportsCount(metrics, 'Observation', 'created'), exportsCount(metrics, 'Observation', 'existing')]).toEqual([1, 2]);
  });

  it('makes exactly one Observation when several exporters deliver the same alert concurrently', async () => {
    const exporters = [exporter(), exporter(), exporter(), exporter()].map((x) => x.exporter);
    await Promise.all(exporters.map((e, i) => e.handleBatch([consumed(envelope(vt), i)])));
    expect((await observations()).length).toBe(1);
  });

  it('makes exactly one Observation when two consumer groups read the same stream at the same time', async () => {
    const a = exporter({ groupId: 'ehr-exporter' });
    const b = exporter({ groupId: 'ehr-exporter-replay' });
    await Promise.all([a.exporter.start(), b.exporter.start()]);
    const alerts = [vt, makeAlert('afib'), makeAlert('asystole')];
    await bus.publish(STREAMS.alerts, alerts.map((al) => ({ key: al.patientId, value: Buffer.from(JSON.stringify(envelope(al))) })));
    const handled = (m: MetricsRegistry) => exportsCount(m, 'Observation', 'created') + exportsCount(m, 'Observation', 'existing');
    await eventually(() => handled(a.metrics) === 3 && handled(b.metrics) === 3);
    expect((await observations()).map((o) => o.identifier?.[0]?.value).sort()).toEqual([
      'patch-0001/184327/afib/2026-01-01T00:00:03.000Z',
      'patch-0001/184327/asystole/2026-01-01T00:00:03.000Z',
      'patch-0001/184327/vt/2026-01-01T00:00:03.000Z',
    ]);
  });

  it('retries a 503 and completes the batch when the server recovers', async () => {
    const { exporter: e } = exporter();
    server.failNext(2, { status: 503 });
    await e.handleBatch([consumed(envelope(vt))]);
    expect(server.requests.map((r) => `${r.method} ${r.status}`)).toEqual(['POST 503', 'POST 503', 'POST 201']);
    expect((await observations()).length).toBe(1);
  });

  it('fails the batch without dead-lettering while the server stays unavailable, and exports it on re-delivery', async () => {
    const { exporter: e, metrics } = exporter();
    server.failNext(4, { status: 503 }); // the first delivery's 3 attempts and the first of the second
    await e.start();
    await bus.publish(STREAMS.alerts, [{ key: vt.patientId, value: Buffer.from(JSON.stringify(envelope(vt))) }]);
    await eventually(() => exportsCount(metrics, 'Observation', 'created') === 1);
    expect(metrics.counter('pb_ehr_batch_failures_total', '').get()).toBe(1);
    expect(server.requests.map((r) => r.status)).toEqual([503, 503, 503, 503, 201]);
    expect(deadLetters()).toEqual([]);
    expect((await observations()).length).toBe(1);
  });

  it('rejects the batch (so the bus keeps it) when the server is unavailable', async () => {
    const { exporter: e } = exporter();
    server.failNext(3, { status: 503 });
    const err = await rejection(e.handleBatch([consumed(envelope(vt))]));
    expect((err as PulsebridgeError).code).toBe('PB_FHIR_UNAVAILABLE');
    expect(deadLetters()).toEqual([]);
  });

  it('dead-letters an alert the server rejects with 400, with the OperationOutcome as the reason, and exports the rest of the batch', async () => {
    const { exporter: e, metrics } = exporter({ concurrency: 1 });
    server.failNext(1, { status: 400, outcome: 'Observation.subject: Patient/p-001 does not exist' });
    const afib = makeAlert('afib');
    const rejected = consumed(envelope(vt), 7);
    await e.handleBatch([rejected, consumed(envelope(afib), 8)]);

    expect(deadLetters()).toEqual([{
      key: 'patch-0001',
      headers: { 'pb-source-stream': STREAMS.alerts, 'pb-source-offset': '7', 'pb-error-code': 'PB_FHIR_REJECTED' },
      record: {
        schema: 'pb.deadletter.v1',
        deviceId: 'patch-0001',
        topic: STREAMS.alerts,
        reason: 'fhir_rejected',
        detail: 'FHIR server rejected POST Observation with 400: error processing: Observation.subject: Patient/p-001 does not exist',
        payloadBase64: rejected.value.toString('base64'),
        receivedAt: expect.any(Number),
      },
    }]);
    expect((await observations()).map((o) => o.valueCodeableConcept?.text)).toEqual(['Atrial fibrillation']);
    expect(metrics.counter('pb_ehr_dead_letters_total', '').get({ reason: 'fhir_rejected' })).toBe(1);
    expect(server.requests.map((r) => r.status)).toEqual([400, 201]);
  });

  it('dead-letters messages that are not JSON or not an alert envelope', async () => {
    const { exporter: e } = exporter();
    const badKind = { ...envelope(vt), alert: { ...vt, kind: 'hiccup' } };
    await e.handleBatch([consumed('{not json', 0), consumed(badKind as never, 1)]);
    expect(deadLetters().map((d) => [d.record.reason, d.record.deviceId, d.record.detail.split(':')[0]])).toEqual([
      ['invalid_json', 'unknown', expect.stringMatching(/JSON/)],
      ['schema', 'patch-0001', 'alert.kind'],
    ]);
    expect(server.requests).toEqual([]);
  });

  it('updates effectivePeriod.end and the VT class with If-Match when a later snapshot carries the end', async () => {
    const { exporter: e, metrics } = exporter();
    await e.handleBatch([consumed(envelope(vt), 0)]);
    const [before] = await observations();
    await e.handleBatch([consumed(envelope(vtEnded), 1)]);

    const stored = await observations();
    expect(stored.length).toBe(1);
    const after = stored[0]!;
    expect(after.id).toBe(before!.id);
    expect(after.meta?.versionId).not.toBe(before!.meta?.versionId);
    expect(withoutServerFields(after)).toEqual(alertToObservation(vtEnded, { identifierSystem: IDENTIFIER_SYSTEM }));
    expect(after.effectivePeriod).toEqual({ start: '2026-01-01T00:00:03.000Z', end: '2026-01-01T00:00:09.000Z' });
    expect(after.valueCodeableConcept?.text).toBe('Nonsustained ventricular tachycardia');
    expect(describeIssues(validateFhir(after).errors)).toEqual([]);
    expect(rhythmObservationProblems(after, IDENTIFIER_SYSTEM)).toEqual([]);
    const put = server.requests.find((r) => r.method === 'PUT');
    expect(put).toMatchObject({ url: `Observation/${before!.id}`, status: 200 });
    expect(put?.headers['if-match']).toBe(`W/"${before!.meta?.versionId}"`);
    expect(exportsCount(metrics, 'Observation', 'updated')).toBe(1);
  });

  it('does not write again when the end snapshot is re-delivered or a clinician snapshot repeats it', async () => {
    const { exporter: e, metrics } = exporter();
    await e.handleBatch([consumed(envelope(vt), 0), consumed(envelope(vtEnded), 1)]);
    const clinician = envelope({ ...vtEnded, state: 'acknowledged', acknowledgedBy: 'dr-a', revision: 3 }, 'clinician');
    await e.handleBatch([consumed(envelope(vtEnded), 1), consumed(clinician, 2)]);
    expect(server.requests.filter((r) => r.method === 'PUT').length).toBe(1);
    expect(exportsCount(metrics, 'Observation', 'unchanged')).toBe(2);
  });

  it('creates the Observation with its end when the first snapshot it sees is already ended', async () => {
    const { exporter: e } = exporter();
    await e.handleBatch([consumed(envelope(vtEnded))]);
    expect((await observations()).map((o) => o.effectivePeriod)).toEqual([{ start: '2026-01-01T00:00:03.000Z', end: '2026-01-01T00:00:09.000Z' }]);
    expect(server.requests.map((r) => r.method)).toEqual(['POST']);
  });

  it('keeps what the EHR added on the end update, and leaves an Observation a clinician made final alone', async () => {
    const { exporter: e, metrics } = exporter();
    const afib = makeAlert('afib');
    await e.handleBatch([consumed(envelope(vt), 0), consumed(envelope(afib), 1)]);
    const byKind = async (kind: string) => (await observations()).find((o) => o.identifier?.[0]?.value?.split('/')[2] === kind)!;
    const note = [{ text: 'reviewed strip, artefact excluded' }];
    await server.repo.updateResource({ ...(await byKind('afib')), note });
    await server.repo.updateResource({ ...(await byKind('vt')), status: 'final' });

    await e.handleBatch([consumed(envelope({ ...afib, end: '2026-01-01T00:05:00Z', revision: 2 }), 2), consumed(envelope(vtEnded), 3)]);
    expect((await byKind('afib')).note).toEqual(note);
    expect((await byKind('afib')).effectivePeriod).toEqual({ start: '2026-01-01T00:00:03.000Z', end: '2026-01-01T00:05:00.000Z' });
    expect((await byKind('vt')).status).toBe('final');
    expect((await byKind('vt')).effectivePeriod).toEqual({ start: '2026-01-01T00:00:03.000Z' });
    expect(exportsCount(metrics, 'Observation', 'clinician_owned')).toBe(1);
  });

  it('reads again and retries the end update after a version conflict', async () => {
    const { exporter: e, metrics } = exporter();
    await e.handleBatch([consumed(envelope(vt), 0)]);
    server.failNext(1, { status: 412, method: 'PUT', outcome: 'Version mismatch' });
    await e.handleBatch([consumed(envelope(vtEnded), 1)]);
    expect(server.requests.slice(1).map((r) => `${r.method} ${r.status}`)).toEqual(['POST 200', 'PUT 412', 'POST 200', 'PUT 200']);
    expect((await observations())[0]?.effectivePeriod?.end).toBe('2026-01-01T00:00:09.000Z');
    expect(metrics.counter('pb_ehr_version_conflicts_total', '').get()).toBe(1);
  });

  it('exports technical alerts as one Communication notification, or nothing with technicalAlerts: skip', async () => {
    const leadOff = makeAlert('lead_off');
    const { exporter: e } = exporter();
    await e.handleBatch([consumed(envelope(leadOff), 0), consumed(envelope(leadOff), 1)]);
    const stored = await communications();
    expect(stored.length).toBe(1);
    expect(describeIssues(validateFhir(stored[0]!).errors)).toEqual([]);
    expect(technicalCommunicationProblems(stored[0]!, IDENTIFIER_SYSTEM)).toEqual([]);
    expect((await observations()).length).toBe(0);

    const { exporter: skipping, metrics } = exporter({ technicalAlerts: 'skip' });
    await skipping.handleBatch([consumed(envelope(makeAlert('low_battery')), 2)]);
    expect((await communications()).length).toBe(1);
    expect(exportsCount(metrics, 'Communication', 'skipped')).toBe(1);
  });

  it('stops promptly while an export is waiting in backoff, leaving the batch uncommitted', async () => {
    // random 0.99: the first backoff wait is ~10 minutes.
    fhir = createHttpFhirClient({ baseUrl: server.baseUrl, retry: { maxAttempts: 50, baseDelayMs: 600_000, maxDelayMs: 600_000 }, random: () => 0.99 });
    const { exporter: e } = exporter();
    server.failNext(1, { status: 503 });
    await e.start();
    await bus.publish(STREAMS.alerts, [{ key: vt.patientId, value: Buffer.from(JSON.stringify(envelope(vt))) }]);
    await eventually(() => server.requests.length >= 1);
    await e.stop();
    expect(server.requests.length).toBe(1);
    expect(deadLetters()).toEqual([]);

    // A fresh exporter in the same group gets the uncommitted alert again.
    fhir = createHttpFhirClient({ baseUrl: server.baseUrl, retry: { maxAttempts: 2, baseDelayMs: 1, maxDelayMs: 1 } });
    const restarted = exporter();
    await restarted.exporter.start();
    await eventually(() => restarted.metrics.counter('pb_ehr_exports_total', '').get({ resource: 'Observation', result: 'created' }) === 1);
  });
});
