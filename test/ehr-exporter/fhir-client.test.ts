import { parseSearchRequest } from '@medplum/core';
import type { Observation as MedplumObservation } from '@medplum/fhirtypes';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { backoffDelayMs } from '../../ehr-exporter/backoff.ts';
import type { RetryEvent } from '../../ehr-exporter/fhir-client.ts';
import { createHttpFhirClient, describeOperationOutcome, describeRequest, identifierQuery, isForbidden } from '../../ehr-exporter/fhir-client.ts';
import type { Observation } from '../../ehr-exporter/fhir-types.ts';
import { alertToObservation } from '../../ehr-exporter/observation.ts';
import { PulsebridgeError } from '../../platform/errors.ts';
import type { FhirTestServer } from '../helpers/fhir-server.ts';
import { startFhirServer } from '../helpers/fhir-server.ts';
import { IDENTIFIER_SYSTEM, makeAlert } from './fixtures.ts';

const FAST = { maxAttempts: 4, baseDelayMs: 1, maxDelayMs: 5 };

let server: FhirTestServer;
beforeEach(async () => {
  server = await startFhirServer();
});
afterEach(async () => {
  await server.close();
});

const observation = (overrides = {}): Observation => alertToObservation(makeAlert('vt', { evidence: { hrBpm: 168, criterion: 'vt', thresholds: {} }, ...overrides }), { identifierSystem: IDENTIFIER_SYSTEM });
const storedObservations = () => server.repo.searchResources<MedplumObservation>(parseSearchRequest('Observation'));

async function rejection(p: Promise<unknown>): Promise<PulsebridgeError> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  if (!(err instanceof PulsebridgeError)) throw new Error(`expected a PulsebridgeError, got ${String(err)}`);
  return err;
}

describe('identifierQuery', () => {
  it('escapes FHIR search characters, percent-encodes each part and keeps the system|value bar literal', () => {
    expect(identifierQuery({ system: 'https://rpm.example.org/fhir/sid/observation-id', value: 'patch-0001/184327/vt/2026-01-01T00:00:03.000Z' })).toBe(
      'identifier=https%3A%2F%2Frpm.example.org%2Ffhir%2Fsid%2Fobservation-id|patch-0001%2F184327%2Fvt%2F2026-01-01T00%3A00%3A03.000Z',
    );
    expect(identifierQuery({ system: 'urn:x', value: 'a|b,c$d\\e f+g' })).toBe('identifier=urn%3Ax|a%5C%7Cb%5C%2Cc%5C%24d%5C%5Ce%20f%2Bg');
  });
});

describe('backoffDelayMs', () => {
  it('doubles the jitter ceiling per retry up to the cap', () => {
    const top = () => 0.999999;
    const policy = { maxAttempts: 9, baseDelayMs: 200, maxDelayMs: 1000 };
    expect([1, 2, 3, 4, 5].map((n) => backoffDelayMs(n, policy, top))).toEqual([199, 399, 799, 999, 999]);
    expect(backoffDelayMs(3, policy, () => 0)).toBe(0);
  });
});

describe('HTTP FHIR client against @medplum/fhir-router', () => {
  it('creates with 201 and answers 200 with the same stored resource when the identifier already exists', async () => {
    const client = createHttpFhirClient({ baseUrl: `${server.baseUrl}/`, retry: FAST });
    const obs = observation();
    const first = await client.createIfNoneExist(obs, obs.identifier[0]!);
    const second = await client.createIfNoneExist(obs, obs.identifier[0]!);
    expect(first).toMatchObject({ outcome: 'created', status: 201 });
    expect(second).toMatchObject({ outcome: 'existing', status: 200, id: first.id, versionId: first.versionId });
    expect(second.resource).toEqual(first.resource);
    expect((await storedObservations()).length).toBe(1);
    const post = server.requests[0]!;
    expect(post).toMatchObject({ method: 'POST', url: 'Observation', status: 201 });
    expect(post.headers['if-none-exist']).toBe(identifierQuery(obs.identifier[0]!));
    expect(post.headers['content-type']).toBe('application/fhir+json');
    expect(post.body).toEqual(obs);
  });

  it('makes exactly one resource from ten concurrent conditional creates', async () => {
    const client = createHttpFhirClient({ baseUrl: server.baseUrl, retry: FAST });
    const obs = observation();
    const results = await Promise.all(Array.from({ length: 10 }, () => client.createIfNoneExist(obs, obs.identifier[0]!)));
    expect(results.filter((r) => r.outcome === 'created').length).toBe(1);
    expect(new Set(results.map((r) => r.id)).size).toBe(1);
    expect((await storedObservations()).length).toBe(1);
  });

  it("shows why identifier values avoid '|': medplum's conditional create does not match them, even escaped", async () => {
    const client = createHttpFhirClient({ baseUrl: server.baseUrl, retry: FAST });
    const obs = { ...observation(), identifier: [{ system: IDENTIFIER_SYSTEM, value: 'patch-0001|184327|2026-01-01T00:00:03Z' }] };
    await client.createIfNoneExist(obs, obs.identifier[0]!);
    const again = await client.createIfNoneExist(obs, obs.identifier[0]!);
    expect(again.outcome).toBe('created');
    expect((await storedObservations()).length).toBe(2);
  });

  it('retries 503 with backoff and succeeds on the third attempt', async () => {
    const retries: RetryEvent[] = [];
    const client = createHttpFhirClient({ baseUrl: server.baseUrl, retry: FAST, random: () => 0.5, onRetry: (e) => retries.push(e) });
    server.failNext(2, { status: 503 });
    const obs = observation();
    expect((await client.createIfNoneExist(obs, obs.identifier[0]!)).outcome).toBe('created');
    expect(server.requests.map((r) => r.status)).toEqual([503, 503, 201]);
    expect(retries.map(({ attempt, delayMs, reason }) => ({ attempt, delayMs, reason }))).toEqual([
      { attempt: 1, delayMs: 0, reason: 'status 503' },
      { attempt: 2, delayMs: 1, reason: 'status 503' },
    ]);
  });

  it('waits at least Retry-After on 429 (capped by maxDelayMs)', async () => {
    const retries: RetryEvent[] = [];
    const client = createHttpFhirClient({ baseUrl: server.baseUrl, retry: { maxAttempts: 2, baseDelayMs: 1, maxDelayMs: 20 }, random: () => 0, onRetry: (e) => retries.push(e) });
    server.failNext(1, { status: 429, headers: { 'Retry-After': '1' } });
    const obs = observation();
    await client.createIfNoneExist(obs, obs.identifier[0]!);
    expect(retries.map((r) => [r.reason, r.delayMs])).toEqual([['status 429', 20]]);
  });

  it('gives up after maxAttempts with PB_FHIR_UNAVAILABLE', async () => {
    const client = createHttpFhirClient({ baseUrl: server.baseUrl, retry: FAST });
    server.failNext(10, { status: 502 });
    const obs = observation();
    const err = await rejection(client.createIfNoneExist(obs, obs.identifier[0]!));
    expect(err.code).toBe('PB_FHIR_UNAVAILABLE');
    expect(err.details).toMatchObject({ attempts: 4, status: 502, lastReason: 'status 502' });
    expect(server.requests.length).toBe(4);
  });

  it('retries network errors, then reports them', async () => {
    const deadBase = server.baseUrl;
    await server.close();
    const client = createHttpFhirClient({ baseUrl: deadBase, retry: { ...FAST, maxAttempts: 2 } });
    const obs = observation();
    const err = await rejection(client.createIfNoneExist(obs, obs.identifier[0]!));
    expect(err.code).toBe('PB_FHIR_UNAVAILABLE');
    expect(String(err.details?.lastReason)).toMatch(/^network: .*ECONNREFUSED/);
    server = await startFhirServer(); // for afterEach
  });

  it('does not retry a 400 and surfaces the OperationOutcome text as PB_FHIR_REJECTED', async () => {
    const client = createHttpFhirClient({ baseUrl: server.baseUrl, retry: FAST });
    const invalid = { ...observation(), effectivePeriod: { start: 'not a date' } };
    const err = await rejection(client.createIfNoneExist(invalid, invalid.identifier[0]!));
    expect(err.code).toBe('PB_FHIR_REJECTED');
    expect(err.details).toMatchObject({ status: 400, method: 'POST' });
    expect(err.details?.outcome).toBe('error structure: Invalid dateTime format @ Observation.effective[x].start');
    expect(err.message).toContain(String(err.details?.outcome));
    expect(server.requests.length).toBe(1);
    expect((await storedObservations()).length).toBe(0);
  });

  it('reports a conditional create that matches two resources as PB_FHIR_MULTIPLE_MATCHES without retrying', async () => {
    const obs = observation();
    await server.repo.createResource(obs as MedplumObservation);
    await server.repo.createResource(obs as MedplumObservation);
    const client = createHttpFhirClient({ baseUrl: server.baseUrl, retry: FAST });
    const err = await rejection(client.createIfNoneExist(obs, obs.identifier[0]!));
    expect(err.code).toBe('PB_FHIR_MULTIPLE_MATCHES');
    expect(err.details).toMatchObject({ status: 412 });
    expect(String(err.details?.outcome)).toContain('Multiple resources found matching condition');
    expect(server.requests.length).toBe(1);
  });

  it('updates with If-Match and reports a stale version as PB_FHIR_VERSION_CONFLICT', async () => {
    const client = createHttpFhirClient({ baseUrl: server.baseUrl, retry: FAST });
    const obs = observation();
    const created = await client.createIfNoneExist(obs, obs.identifier[0]!);
    const v1 = created.versionId!;
    const ended = { ...created.resource!, effectivePeriod: { start: obs.effectivePeriod!.start, end: '2026-01-01T00:00:09.000Z' } };
    const updated = await client.update(ended, { ifMatchVersionId: v1 });
    expect(updated.status).toBe(200);
    expect(updated.versionId).not.toBe(v1);
    expect(server.requests.at(-1)?.headers['if-match']).toBe(`W/"${v1}"`);
    const err = await rejection(client.update(ended, { ifMatchVersionId: v1 }));
    expect(err.code).toBe('PB_FHIR_VERSION_CONFLICT');
    expect(err.details).toMatchObject({ status: 412 });
    const [stored] = await server.repo.searchResources<MedplumObservation>(parseSearchRequest('Observation'));
    expect(stored?.effectivePeriod).toEqual({ start: '2026-01-01T00:00:03.000Z', end: '2026-01-01T00:00:09.000Z' });
  });

  it('finds resources by identifier search', async () => {
    const client = createHttpFhirClient({ baseUrl: server.baseUrl, retry: FAST });
    const a = observation();
    const b = observation({ onset: '2026-01-01T00:10:00Z' });
    await client.createIfNoneExist(a, a.identifier[0]!);
    await client.createIfNoneExist(b, b.identifier[0]!);
    const found = await client.searchByIdentifier<Observation>('Observation', b.identifier[0]!);
    expect(found.map((o) => o.identifier)).toEqual([b.identifier]);
  });

  it('sends the bearer token and, after a 401, fetches a new one once', async () => {
    let issued = 0;
    const invalidated: unknown[] = [];
    const tokenProvider = { getAccessToken: async () => `token-${++issued}`, invalidate: (t?: string) => invalidated.push(t) };
    const client = createHttpFhirClient({ baseUrl: server.baseUrl, retry: FAST, tokenProvider });
    server.failNext(1, { status: 401, outcome: 'token expired' });
    const obs = observation();
    expect((await client.createIfNoneExist(obs, obs.identifier[0]!)).outcome).toBe('created');
    expect(server.requests.map((r) => [r.status, r.headers.authorization])).toEqual([[401, 'Bearer token-1'], [201, 'Bearer token-2']]);
    expect(invalidated).toEqual(['token-1']);
  });

  it('reports a token refused twice (401) as PB_FHIR_UNAUTHORIZED, not as a rejected resource', async () => {
    const client = createHttpFhirClient({ baseUrl: server.baseUrl, retry: FAST, tokenProvider: { getAccessToken: async () => 't' } });
    server.failNext(2, { status: 401, outcome: 'invalid_token' });
    const obs = observation();
    const err = await rejection(client.createIfNoneExist(obs, obs.identifier[0]!));
    expect(err.code).toBe('PB_FHIR_UNAUTHORIZED');
    expect(err.message).toContain('invalid_token');
  });

  it('a 403 refuses this request, not the token: PB_FHIR_REJECTED (status 403), no new token, no retry', async () => {
    const invalidated: unknown[] = [];
    const client = createHttpFhirClient({ baseUrl: server.baseUrl, retry: FAST, tokenProvider: { getAccessToken: async () => 't', invalidate: (t) => invalidated.push(t) } });
    server.failNext(2, { status: 403, outcome: 'scope system/Observation.c missing' });
    const obs = observation();
    const err = await rejection(client.createIfNoneExist(obs, obs.identifier[0]!));
    expect(err.code).toBe('PB_FHIR_REJECTED');
    expect(isForbidden(err)).toBe(true);
    expect(err.message).toContain('scope system/Observation.c missing');
    expect(invalidated).toEqual([]);
    expect(server.requests.map((r) => r.status)).toEqual([403]);
  });

  it('stops waiting in backoff when the caller aborts', async () => {
    const controller = new AbortController();
    const client = createHttpFhirClient({ baseUrl: server.baseUrl, retry: { maxAttempts: 10, baseDelayMs: 600_000, maxDelayMs: 600_000 }, random: () => 0.99, onRetry: () => controller.abort() });
    server.failNext(10);
    const obs = observation();
    const err = await rejection(client.createIfNoneExist(obs, obs.identifier[0]!, { signal: controller.signal }));
    expect(err.code).toBe('PB_FHIR_UNAVAILABLE');
    expect(err.details).toMatchObject({ aborted: true });
    expect(server.requests.length).toBe(1);
  });
});

describe('no PHI in what the client reports', () => {
  const MRN = { system: 'urn:oid:1.2.3.4.5', value: 'REALMRN0016' };

  it('names a failed search without its query values, in the message, the details and the retry events', async () => {
    const retries: RetryEvent[] = [];
    const client = createHttpFhirClient({ baseUrl: server.baseUrl, retry: FAST, onRetry: (e) => retries.push(e) });
    server.failNext(10, { status: 503, outcome: `no capacity for Patient?identifier=${MRN.system}|${MRN.value}` });
    const err = await rejection(client.searchByIdentifier('Patient', MRN));
    expect(err.message).toBe('FHIR GET /Patient?identifier=… failed after 4 attempts (last: status 503)');
    expect(retries.map((r) => r.request)).toEqual(['GET /Patient?identifier=…', 'GET /Patient?identifier=…', 'GET /Patient?identifier=…']);
    for (const text of [err.message, JSON.stringify(err.details), JSON.stringify(retries)]) {
      expect(text).not.toContain(MRN.value);
      expect(text).not.toContain(server.baseUrl);
    }
  });

  it('elides the search values a server echoes in its OperationOutcome', async () => {
    const client = createHttpFhirClient({ baseUrl: server.baseUrl, retry: FAST });
    server.failNext(1, { status: 400, outcome: `unknown identifier system in ${MRN.system}|${MRN.value}; value ${MRN.value}` });
    const err = await rejection(client.searchByIdentifier('Patient', MRN));
    expect(err.message).toBe('FHIR server rejected GET /Patient?identifier=… with 400: error processing: unknown identifier system in …; value …');
  });

  it("names the transaction 'POST [base] (transaction)', not an empty path", async () => {
    const client = createHttpFhirClient({ baseUrl: server.baseUrl, retry: FAST });
    server.failNext(1, { status: 422, outcome: 'business rule' });
    const err = await rejection(client.transaction({ resourceType: 'Bundle', type: 'transaction', entry: [] }));
    expect(err.message).toBe('FHIR server rejected POST [base] (transaction) with 422: error processing: business rule');
  });

  it('describeRequest keeps parameter names and drops values', () => {
    expect(describeRequest('GET', 'Observation?identifier=a%7Cb&_count=2')).toBe('GET /Observation?identifier=…&_count=…');
    expect(describeRequest('PUT', 'Observation/abc')).toBe('PUT /Observation/abc');
    expect(describeRequest('POST', '')).toBe('POST [base] (transaction)');
  });
});

describe('describeOperationOutcome', () => {
  it('joins issues with severity, code, text and path', () => {
    expect(describeOperationOutcome({
      resourceType: 'OperationOutcome',
      issue: [
        { severity: 'error', code: 'invalid', details: { text: 'Missing required property' }, expression: ['Observation.status'] },
        { severity: 'error', code: 'processing', diagnostics: 'Patient/x not found' },
      ],
    })).toBe('error invalid: Missing required property @ Observation.status; error processing: Patient/x not found');
    expect(describeOperationOutcome('<html>')).toBeUndefined();
  });
});
