import type { Patient } from '@medplum/fhirtypes';
import { exportJWK, exportPKCS8, generateKeyPair, type JWK } from 'jose';
import { afterEach, describe, expect, it } from 'vitest';
import { STREAMS } from '../../contracts/topics.ts';
import { createEhrExporter } from '../../ehr-exporter/exporter.ts';
import { createHttpFhirClient } from '../../ehr-exporter/fhir-client.ts';
import { configuredMrns, createPatientResolver } from '../../ehr-exporter/identity.ts';
import { CLIENT_ASSERTION_TYPE, createSmartBackendAuth, type SmartSigningAlg } from '../../ehr-exporter/smart-auth.ts';
import { InProcessBus } from '../../platform/bus/index.ts';
import { PulsebridgeError } from '../../platform/errors.ts';
import { silentLogger } from '../../platform/log.ts';
import { MetricsRegistry } from '../../platform/metrics.ts';
import { startFhirServer, type FhirTestServer } from '../helpers/fhir-server.ts';
import { startSmartServer, type SmartTestServer } from '../helpers/smart-server.ts';
import { envelope, IDENTIFIER_SYSTEM, makeAlert } from './fixtures.ts';

const CLIENT_ID = 'pulsebridge-exporter';
const SCOPE = 'system/Observation.crus system/Patient.rs system/Device.crs';
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

async function rejectionOf(p: Promise<unknown>): Promise<unknown> {
  return p.then(() => {
    throw new Error('expected a rejection');
  }, (e: unknown) => e);
}
