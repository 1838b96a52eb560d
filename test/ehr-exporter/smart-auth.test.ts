import type { Patient } from '@medplum/fhirtypes';
import { exportJWK, exportPKCS8, generateKeyPair, type JWK } from 'jose';
import { afterEach, describe, expect, it } from 'vitest';
import { STREAMS } from '../../contracts/topics.ts';
import { createEhrExporter } from '../../ehr-exporter/exporter.ts';
import { createHttpFhirClient } from '../../ehr-exporter/fhir-client.ts';
import { configuredMrns, createPatientResolver } from '../../ehr-exporter/identity.ts';
import { CLIENT_ASSERTION_TYPE, createSmartBackendAuth, type SmartSigningAlg } from '../../ehr-exporter/smart-auth.ts';
import { InProcessBus } from '../../platform/bus/index.ts';
import { envSchema } from '../../platform/config.ts';
import { PulsebridgeError } from '../../platform/errors.ts';
import { createLogger, silentLogger } from '../../platform/log.ts';
import { MetricsRegistry } from '../../platform/metrics.ts';
import { startFhirServer, type FhirTestServer } from '../helpers/fhir-server.ts';
import { startSmartServer, type SmartTestServer } from '../helpers/smart-server.ts';
import { consumed, envelope, IDENTIFIER_SYSTEM, makeAlert } from './fixtures.ts';

const CLIENT_ID = 'pulsebridge-exporter';
/** What the configuration asks for by default. */
const SCOPE = envSchema.parse({}).PULSEBRIDGE_SMART_SCOPES;
/** The default before technical alarms were covered: no Communication. */
const SCOPE_WITHOUT_COMMUNICATION = 'system/Observation.crus system/Patient.rs system/Device.crs';
const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c();
});

/** A key pair made now (never committed): PKCS#8 PEM for us, the public JWK for the EHR. */
async function keyPair(alg: SmartSigningAlg, kid: string): Promise<{ pem: string; jwk: JWK }> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  return { pem: await exportPKCS8(privateKey), jwk: { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' } };
}

async function ehr(registered: JWK[]): Promise<{ smart: SmartTestServer; fhir: FhirTestServer }> {
  const smart = await startSmartServer({ clientId: CLIENT_ID, jwks: { keys: registered } });
  const fhir = await startFhirServer({ authorize: smart.authorize, smartConfiguration: smart.configuration });
  closers.push(() => smart.close(), () => fhir.close());
  return { smart, fhir };
}

describe('SMART Backend Services', () => {
  for (const alg of ['RS384', 'ES384'] as const) {
    it(`${alg}: discovers the token URL, authenticates with a private_key_jwt assertion and caches the token`, async () => {
      const key = await keyPair(alg, `k-${alg}`);
      const { smart, fhir: server } = await ehr([key.jwk]);
      const auth = createSmartBackendAuth({ fhirBaseUrl: server.baseUrl, clientId: CLIENT_ID, privateKey: key.pem, keyId: key.jwk.kid!, alg, scope: SCOPE });
      const client = createHttpFhirClient({ baseUrl: server.baseUrl, tokenProvider: auth });
      expect(await auth.tokenUrl()).toBe(smart.tokenUrl);
      for (let i = 0; i < 3; i++) await client.searchByIdentifier('Patient', { system: 'urn:mrn', value: String(i) });
      expect(smart.attempts).toEqual([{ ok: true, scope: SCOPE }]);
      expect(server.requests.filter((r) => r.url.startsWith('Patient')).map((r) => r.status)).toEqual([200, 200, 200]);
    });
  }

  it('a revoked or expired token gets a 401, one fresh token, and the request goes through', async () => {
    const key = await keyPair('RS384', 'k1');
    const { smart, fhir: server } = await ehr([key.jwk]);
    const client = createHttpFhirClient({ baseUrl: server.baseUrl, tokenProvider: createSmartBackendAuth({ fhirBaseUrl: server.baseUrl, clientId: CLIENT_ID, privateKey: key.pem, keyId: 'k1', alg: 'RS384', scope: SCOPE }) });
    await client.searchByIdentifier('Patient', { system: 'urn:mrn', value: '1' });
    smart.revokeAll();
    await client.searchByIdentifier('Patient', { system: 'urn:mrn', value: '1' });
    expect(server.requests.filter((r) => r.url.startsWith('Patient')).map((r) => r.status)).toEqual([200, 401, 200]);
    expect(smart.attempts.map((a) => a.ok)).toEqual([true, true]);
  });

  it('the server refuses a replayed assertion (jti), an assertion for another audience, and an unregistered key', async () => {
    const key = await keyPair('ES384', 'k1');
    const { smart, fhir: server } = await ehr([key.jwk]);
    const sent: string[] = [];
    const recording: typeof fetch = async (input, init) => {
      if (typeof init?.body === 'string' && init.body.includes('client_assertion=')) sent.push(init.body);
      return fetch(input, init);
    };
    const auth = createSmartBackendAuth({ fhirBaseUrl: server.baseUrl, clientId: CLIENT_ID, privateKey: key.pem, keyId: 'k1', alg: 'ES384', scope: SCOPE, fetch: recording });
    await auth.getAccessToken();
    const replay = await fetch(smart.tokenUrl, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: sent[0] });
    expect(replay.status).toBe(401);
    expect(smart.attempts.at(-1)).toEqual({ ok: false, reason: 'jti replayed' });

    // An assertion made for another token URL (aud) is refused by this one.
    const misaddressed = createSmartBackendAuth({ fhirBaseUrl: server.baseUrl, tokenUrl: 'http://127.0.0.1:1/not-this-server', clientId: CLIENT_ID, privateKey: key.pem, keyId: 'k1', alg: 'ES384', scope: SCOPE,
      fetch: (_input, init) => fetch(smart.tokenUrl, init) });
    const otherAud = await rejectionOf(misaddressed.getAccessToken());
    expect((otherAud as PulsebridgeError).code).toBe('PB_FHIR_UNAUTHORIZED');
    expect(smart.attempts.at(-1)?.reason).toMatch(/aud/);

    const stranger = await keyPair('ES384', 'k1');
    const unregistered = createSmartBackendAuth({ fhirBaseUrl: server.baseUrl, clientId: CLIENT_ID, privateKey: stranger.pem, keyId: 'k1', alg: 'ES384', scope: SCOPE });
    const err = await rejectionOf(unregistered.getAccessToken());
    expect(err).toBeInstanceOf(PulsebridgeError);
    expect((err as PulsebridgeError).code).toBe('PB_FHIR_UNAUTHORIZED');
    expect((err as Error).message).toMatch(/invalid_client/);
  });

  it('refuses an EHR that does not offer private_key_jwt with our algorithm', async () => {
    const key = await keyPair('RS384', 'k1');
    const server = await startFhirServer({ smartConfiguration: () => ({ token_endpoint: 'http://127.0.0.1:1/token', token_endpoint_auth_methods_supported: ['client_secret_basic'] }) });
    closers.push(() => server.close());
    const auth = createSmartBackendAuth({ fhirBaseUrl: server.baseUrl, clientId: CLIENT_ID, privateKey: key.pem, keyId: 'k1', alg: 'RS384', scope: SCOPE });
    expect(((await rejectionOf(auth.getAccessToken())) as Error).message).toMatch(/private_key_jwt/);
  });

  it('wrong key: the exporter pauses (401 → retried, never dropped) and exports once the EHR registers the key', async () => {
    const registered = await keyPair('RS384', 'k-registered');
    const ours = await keyPair('RS384', 'k-new');
    const { smart, fhir: server } = await ehr([registered.jwk]);
    const patient = await server.repo.createResource<Patient>({ resourceType: 'Patient', identifier: [{ system: 'urn:mrn', value: 'MRN-001' }] });
    const fhir = createHttpFhirClient({ baseUrl: server.baseUrl, retry: { maxAttempts: 2, baseDelayMs: 1, maxDelayMs: 2 },
      tokenProvider: createSmartBackendAuth({ fhirBaseUrl: server.baseUrl, clientId: CLIENT_ID, privateKey: ours.pem, keyId: 'k-new', alg: 'RS384', scope: SCOPE }) });
    const bus = new InProcessBus();
    closers.push(() => bus.close());
    const e = createEhrExporter({ bus, fhir, patients: createPatientResolver({ fhir, mrns: configuredMrns('urn:mrn', { 'p-001': 'MRN-001' }) }), identifierSystem: IDENTIFIER_SYSTEM,
      logger: silentLogger, metrics: new MetricsRegistry(), ecgWaitMs: 0, pauseBackoff: { baseDelayMs: 5, maxDelayMs: 20 } });
    closers.push(() => e.stop());
    await e.start();
    await bus.publish(STREAMS.alerts, [{ key: 'p-001', value: Buffer.from(JSON.stringify(envelope(makeAlert('asystole')))) }]);
    while (e.health().status !== 'paused') await new Promise((r) => setTimeout(r, 5));
    expect(e.health().reason).toMatch(/invalid_client/);
    smart.register(ours.jwk);
    while ((await server.repo.searchResources({ resourceType: 'Observation' })).length === 0) await new Promise((r) => setTimeout(r, 10));
    const [obs] = await server.repo.searchResources({ resourceType: 'Observation' });
    expect((obs as { subject?: { reference?: string } }).subject?.reference).toBe(`Patient/${patient.id}`);
    while (e.health().status !== 'ok') await new Promise((r) => setTimeout(r, 5));
    expect(bus.read(STREAMS.deadLetter)).toEqual([]);
    expect(smart.attempts.some((a) => !a.ok) && smart.attempts.at(-1)?.ok).toBe(true);
    expect(CLIENT_ASSERTION_TYPE).toBe('urn:ietf:params:oauth:client-assertion-type:jwt-bearer');
  });
});

/**
 * A scope-enforcing EHR in front of `baseUrl` (SMART v2 scopes, scopes-and-launch-context.md): a
 * search needs `s`, a create `c` (`s` too with If-None-Exist), an update `u`; each transaction entry
 * is checked on its own. A request outside `granted` gets 403 + OperationOutcome, as insufficient_scope.
 */
function scopeEnforcing(baseUrl: string, granted: string): typeof fetch {
  const allowed = (type: string, ops: string) => granted.split(' ').some((s) => {
    const m = /^system\/(\w+|\*)\.(\w+)$/.exec(s);
    return m !== null && (m[1] === type || m[1] === '*') && [...ops].every((op) => m[2]!.includes(op));
  });
  const needs = (method: string, path: string, ifNoneExist: boolean): [string, string][] => {
    const type = path.split(/[/?]/)[0]!;
    if (method === 'GET') return [[type, 's']];
    if (method === 'PUT') return [[type, 'u']];
    return [[type, ifNoneExist ? 'cs' : 'c']];
  };
  return async (input, init) => {
    const url = String(input);
    if (url.startsWith(baseUrl) && !url.includes('.well-known')) {
      const path = url.slice(baseUrl.length).replace(/^\//, '');
      const method = init?.method ?? 'GET';
      const headers = new Headers(init?.headers);
      const body = typeof init?.body === 'string' ? (JSON.parse(init.body) as { resourceType?: string; entry?: { request: { method: string; url: string; ifNoneExist?: string } }[] }) : undefined;
      const wanted = path === '' && body?.resourceType === 'Bundle'
        ? (body.entry ?? []).flatMap((e) => needs(e.request.method, e.request.url, e.request.ifNoneExist !== undefined))
        : needs(method, path, headers.has('if-none-exist'));
      const missing = wanted.find(([type, ops]) => !allowed(type, ops));
      if (missing) {
        const diagnostics = `insufficient_scope: system/${missing[0]}.${missing[1]} not granted`;
        return new Response(JSON.stringify({ resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'forbidden', diagnostics }] }), { status: 403, headers: { 'content-type': 'application/fhir+json' } });
      }
    }
    return fetch(input, init);
  };
}

describe('SMART scopes the exporter needs', () => {
  const leadOff = makeAlert('lead_off');
  const others = [makeAlert('vt', { patientId: 'p-002' }), makeAlert('asystole', { patientId: 'p-003' }), makeAlert('afib', { patientId: 'p-002' })];

  async function exportWith(granted: string) {
    const key = await keyPair('RS384', 'k1');
    const { smart, fhir: server } = await ehr([key.jwk]);
    for (const mrn of ['MRN-001', 'MRN-002', 'MRN-003']) await server.repo.createResource<Patient>({ resourceType: 'Patient', identifier: [{ system: 'urn:mrn', value: mrn }] });
    const auth = createSmartBackendAuth({ fhirBaseUrl: server.baseUrl, clientId: CLIENT_ID, privateKey: key.pem, keyId: 'k1', alg: 'RS384', scope: granted });
    const fhir = createHttpFhirClient({ baseUrl: server.baseUrl, retry: { maxAttempts: 2, baseDelayMs: 1, maxDelayMs: 2 }, tokenProvider: auth, fetch: scopeEnforcing(server.baseUrl, granted) });
    const bus = new InProcessBus();
    closers.push(() => bus.close());
    const metrics = new MetricsRegistry();
    const mrns = configuredMrns('urn:mrn', { 'p-001': 'MRN-001', 'p-002': 'MRN-002', 'p-003': 'MRN-003' });
    const e = createEhrExporter({ bus, fhir, patients: createPatientResolver({ fhir, mrns }), identifierSystem: IDENTIFIER_SYSTEM, logger: silentLogger, metrics,
      ecgWaitMs: 0, concurrency: 1, pauseBackoff: { baseDelayMs: 5, maxDelayMs: 20 } });
    closers.push(() => e.stop());
    const statuses: string[] = [];
    const batch = e.handleBatch([leadOff, ...others].map((a, i) => consumed(envelope(a), i)));
    while (await Promise.race([batch.then(() => false), new Promise<boolean>((r) => setTimeout(() => r(true), 2))])) statuses.push(e.health().status);
    await batch;
    const observations = await server.repo.searchResources({ resourceType: 'Observation' });
    const communications = await server.repo.searchResources({ resourceType: 'Communication' });
    const deadLetters = bus.read(STREAMS.deadLetter).map((m) => JSON.parse(m.value.toString('utf8')) as { reason: string; detail: string; outcome?: unknown });
    return { smart, metrics, statuses, observations, communications, deadLetters };
  }

  it('the default scopes cover every request the exporter makes, technical alarms (Communication) included', async () => {
    expect(SCOPE).toBe('system/Observation.crus system/Patient.rs system/Device.crs system/Communication.cs');
    const r = await exportWith(SCOPE);
    expect(r.deadLetters).toEqual([]);
    expect(r.communications).toHaveLength(1);
    expect(r.observations.filter((o) => (o as { code?: { coding?: { code?: string }[] } }).code?.coding?.[0]?.code === '184327')).toHaveLength(3);
  });

  it('a 403 on one resource type dead-letters that message (fhir_forbidden, with the OperationOutcome) without stalling other patients, on one token', async () => {
    const r = await exportWith(SCOPE_WITHOUT_COMMUNICATION);
    expect(r.observations.filter((o) => (o as { code?: { coding?: { code?: string }[] } }).code?.coding?.[0]?.code === '184327')).toHaveLength(3);
    expect(r.communications).toEqual([]);
    expect(r.deadLetters).toHaveLength(1);
    expect(r.deadLetters[0]).toMatchObject({ reason: 'fhir_forbidden', outcome: { resourceType: 'OperationOutcome', issue: [{ code: 'forbidden' }] } });
    expect(r.deadLetters[0]!.detail).toContain('insufficient_scope: system/Communication.cs not granted');
    expect(r.metrics.counter('pb_ehr_dead_letters_total', '').get({ reason: 'fhir_forbidden' })).toBe(1);
    // Not a pause: the export of the others was never held up for it.
    expect(r.statuses).not.toContain('paused');
    expect(r.metrics.counter('pb_ehr_pauses_total', '').get({ code: 'PB_FHIR_REJECTED' })).toBe(0);
    // The 403s (3 tries) did not throw the token away: one token request in all.
    expect(r.smart.attempts).toHaveLength(1);
  });
});

describe('SMART over plain HTTP', () => {
  it('warns once per URL when the FHIR base or the token URL (configured or discovered) is http://', async () => {
    const key = await keyPair('RS384', 'k1');
    const { fhir: server } = await ehr([key.jwk]); // http://127.0.0.1:…, its token URL too
    const warnings: { msg: string; url?: string }[] = [];
    const logger = createLogger('warn', {}, (line) => warnings.push(JSON.parse(line) as { msg: string; url?: string }));
    const auth = createSmartBackendAuth({ fhirBaseUrl: server.baseUrl, clientId: CLIENT_ID, privateKey: key.pem, keyId: 'k1', alg: 'RS384', scope: SCOPE, logger });
    expect(warnings.map((w) => [w.msg, w.url])).toEqual([['SMART over plain HTTP: the FHIR base URL is not https, so the access token travels in clear', server.baseUrl]]);
    const tokenUrl = await auth.tokenUrl();
    await auth.getAccessToken();
    auth.invalidate?.();
    await auth.getAccessToken();
    expect(warnings.map((w) => w.url)).toEqual([server.baseUrl, tokenUrl]);

    warnings.length = 0;
    createSmartBackendAuth({ fhirBaseUrl: 'https://ehr.example.org/fhir/R4', tokenUrl: 'https://ehr.example.org/token', clientId: CLIENT_ID, privateKey: key.pem, keyId: 'k1', alg: 'RS384', scope: SCOPE, logger });
    expect(warnings).toEqual([]);
  });
});

describe('token reuse', () => {
  it('requests refused together with 401 fetch one new token, not one each', async () => {
    const key = await keyPair('RS384', 'k1');
    const { smart, fhir: server } = await ehr([key.jwk]);
    // The answers to the five requests below come 60 ms apart: each 401 after the first arrives
    // when the new token is already cached.
    let staggered = -1;
    const slowAnswers: typeof fetch = async (input, init) => {
      const answer = await fetch(input, init);
      if (staggered >= 0 && staggered < 5) await new Promise((r) => setTimeout(r, 60 * staggered++));
      return answer;
    };
    const client = createHttpFhirClient({ baseUrl: server.baseUrl, fetch: slowAnswers, tokenProvider: createSmartBackendAuth({ fhirBaseUrl: server.baseUrl, clientId: CLIENT_ID, privateKey: key.pem, keyId: 'k1', alg: 'RS384', scope: SCOPE }) });
    await client.searchByIdentifier('Patient', { system: 'urn:mrn', value: '0' });
    smart.revokeAll();
    staggered = 0;
    await Promise.all(Array.from({ length: 5 }, (_, i) => client.searchByIdentifier('Patient', { system: 'urn:mrn', value: String(i) })));
    expect(server.requests.filter((r) => r.url.startsWith('Patient')).map((r) => r.status).filter((s) => s === 200)).toHaveLength(6);
    expect(smart.attempts).toHaveLength(2);
  });
});

async function rejectionOf(p: Promise<unknown>): Promise<unknown> {
  return p.then(() => {
    throw new Error('expected a rejection');
  }, (e: unknown) => e);
}
