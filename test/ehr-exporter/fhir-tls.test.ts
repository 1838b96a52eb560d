/**
 * TLS to the EHR: a hospital FHIR endpoint whose certificate a private CA signed, with or without
 * mutual TLS. The "EHR" is an HTTPS front (a throwaway dev PKI made for the test: the server CA
 * signs its certificate, the device CA our client certificate) over the FHIR test server.
 */
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { Patient } from '@medplum/fhirtypes';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createHttpFhirClient, fetchWithTls, readFhirTls } from '../../ehr-exporter/fhir-client.ts';
import { loadConfig } from '../../platform/config.ts';
import { PulsebridgeError } from '../../platform/errors.ts';
import { ensureDevPki, issueDeviceCertificate, type DevPkiPaths } from '../../platform/security/index.ts';
import { startFhirServer, type FhirTestServer } from '../helpers/fhir-server.ts';

const ONE_TRY = { maxAttempts: 1, baseDelayMs: 1, maxDelayMs: 1 };
let dir: string;
let pki: DevPkiPaths;
let client: { cert: string; key: string };
let fhirServer: FhirTestServer;
const closers: (() => Promise<void>)[] = [];

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pb-fhir-tls-'));
  pki = ensureDevPki(dir);
  client = issueDeviceCertificate(dir, 'pulsebridge-exporter');
  fhirServer = await startFhirServer();
  await fhirServer.repo.createResource<Patient>({ resourceType: 'Patient', identifier: [{ system: 'urn:mrn', value: 'MRN-1' }] });
});
afterEach(async () => {
  for (const close of closers.splice(0)) await close();
});
afterAll(async () => {
  await fhirServer.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** An HTTPS front for the FHIR test server; with `mutual`, it asks for a client certificate from the device CA. */
async function httpsEhr(mutual: boolean, handler?: http.RequestListener): Promise<string> {
  const upstream = new URL(fhirServer.baseUrl);
  const server = https.createServer({
    key: fs.readFileSync(pki.gatewayKey), cert: fs.readFileSync(pki.gatewayCert),
    ...(mutual ? { ca: fs.readFileSync(pki.deviceCaCert), requestCert: true, rejectUnauthorized: true } : {}),
  }, handler ?? ((req, res) => {
    const forward = http.request({ host: upstream.hostname, port: upstream.port, path: req.url, method: req.method, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    req.pipe(forward);
  }));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  closers.push(() => new Promise<void>((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  }));
  return `https://127.0.0.1:${(server.address() as AddressInfo).port}${upstream.pathname}`;
}

async function rejection(p: Promise<unknown>): Promise<PulsebridgeError> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  if (!(err instanceof PulsebridgeError)) throw new Error(`expected a PulsebridgeError, got ${String(err)}`);
  return err;
}

const search = (c: ReturnType<typeof createHttpFhirClient>) => c.searchByIdentifier('Patient', { system: 'urn:mrn', value: 'MRN-1' });

describe('TLS to the EHR', () => {
  it('an EHR signed by a private CA: refused by default, trusted with PULSEBRIDGE_FHIR_CA_FILE', async () => {
    const baseUrl = await httpsEhr(false);
    const err = await rejection(search(createHttpFhirClient({ baseUrl, retry: ONE_TRY })));
    expect(err.code).toBe('PB_FHIR_UNAVAILABLE');
    expect(String(err.details?.lastReason)).toMatch(/certificate/);

    const tls = readFhirTls({ caFile: pki.serverCaCert })!;
    const fhir = createHttpFhirClient({ baseUrl, retry: ONE_TRY, fetch: fetchWithTls(tls) });
    expect(await search(fhir)).toHaveLength(1);
    const created = await fhir.createIfNoneExist({ resourceType: 'Device', identifier: [{ system: 'urn:pulsebridge:device', value: 'patch-1' }] } as never, { system: 'urn:pulsebridge:device', value: 'patch-1' });
    expect(created).toMatchObject({ outcome: 'created', status: 201 });
  });

  it('mutual TLS: the EHR refuses a client without a certificate and takes ours (PULSEBRIDGE_FHIR_CLIENT_CERT/KEY)', async () => {
    const baseUrl = await httpsEhr(true);
    const caOnly = createHttpFhirClient({ baseUrl, retry: ONE_TRY, fetch: fetchWithTls(readFhirTls({ caFile: pki.serverCaCert })!) });
    expect((await rejection(search(caOnly))).code).toBe('PB_FHIR_UNAVAILABLE');
    const mutual = createHttpFhirClient({ baseUrl, retry: ONE_TRY, fetch: fetchWithTls(readFhirTls({ caFile: pki.serverCaCert, certFile: client.cert, keyFile: client.key })!) });
    expect(await search(mutual)).toHaveLength(1);
  });

  it('the per-request timeout and the caller\'s abort work as with the global fetch', async () => {
    const baseUrl = await httpsEhr(false, () => {}); // accepts, never answers
    const fhir = createHttpFhirClient({ baseUrl, retry: ONE_TRY, requestTimeoutMs: 200, fetch: fetchWithTls(readFhirTls({ caFile: pki.serverCaCert })!) });
    expect((await rejection(search(fhir))).details?.lastReason).toBe('timeout after 200 ms');
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 50);
    const slow = createHttpFhirClient({ baseUrl, retry: ONE_TRY, requestTimeoutMs: 10_000, fetch: fetchWithTls(readFhirTls({ caFile: pki.serverCaCert })!) });
    expect((await rejection(slow.searchByIdentifier('Patient', { system: 'urn:mrn', value: 'x' }, { signal: controller.signal }))).details).toMatchObject({ aborted: true });
  });

  it('a file that is missing, not PEM or not the pair is one clear line at start-up', () => {
    const messageOf = (files: Parameters<typeof readFhirTls>[0]) => {
      try {
        readFhirTls(files);
      } catch (err) {
        expect((err as PulsebridgeError).code).toBe('PB_CONFIG_INVALID');
        return (err as Error).message;
      }
      return 'accepted';
    };
    const absent = path.join(dir, 'absent.pem');
    expect(messageOf({ caFile: absent })).toBe(`cannot read PULSEBRIDGE_FHIR_CA_FILE ${absent}: ENOENT: no such file or directory, open '${absent}'`);
    expect(messageOf({ caFile: client.key })).toMatch(new RegExp(`^PULSEBRIDGE_FHIR_CA_FILE ${client.key} is not a PEM certificate: `));
    expect(messageOf({ certFile: client.cert, keyFile: pki.gatewayKey })).toBe(`PULSEBRIDGE_FHIR_CLIENT_KEY ${pki.gatewayKey} is not the key of PULSEBRIDGE_FHIR_CLIENT_CERT ${client.cert}`);
    for (const m of [messageOf({ caFile: absent }), messageOf({ caFile: client.key })]) expect(m).not.toContain('\n');
    expect(readFhirTls({})).toBeUndefined();
  });

  it('configuration: the three settings, and a client certificate without its key is refused', () => {
    const c = loadConfig({ PULSEBRIDGE_FHIR_CA_FILE: '/etc/ehr/ca.pem', PULSEBRIDGE_FHIR_CLIENT_CERT: '/etc/ehr/pb.crt', PULSEBRIDGE_FHIR_CLIENT_KEY: '/etc/ehr/pb.key' });
    expect(c.ehr.tls).toEqual({ caFile: '/etc/ehr/ca.pem', certFile: '/etc/ehr/pb.crt', keyFile: '/etc/ehr/pb.key' });
    expect(() => loadConfig({ PULSEBRIDGE_FHIR_CLIENT_CERT: '/etc/ehr/pb.crt' })).toThrow(/PULSEBRIDGE_FHIR_CLIENT_KEY.*go together/);
  });
});
