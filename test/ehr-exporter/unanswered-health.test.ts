/**
 * EHR walk: an EHR that accepts the connection and never answers left /healthz at `ok` for about
 * 50 s (5 attempts × the 10 s request timeout and the waits between them) before the exporter
 * paused. Health now says `degraded` from the moment a request has been outstanding for the
 * request timeout, and stays so until the EHR answers again (no ok between degraded and paused).
 * The EHR here is a local HTTP server that holds every request without answering while `hanging`,
 * and otherwise passes it on to the FHIR test server.
 */
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { Patient } from '@medplum/fhirtypes';
import { afterEach, describe, expect, it } from 'vitest';
import { startEhrExporter } from '../../cli/components.ts';
import { STREAMS } from '../../contracts/topics.ts';
import { createEhrExporter } from '../../ehr-exporter/exporter.ts';
import { createHttpFhirClient } from '../../ehr-exporter/fhir-client.ts';
import { configuredMrns, createPatientResolver } from '../../ehr-exporter/identity.ts';
import { InProcessBus } from '../../platform/bus/index.ts';
import { loadConfig } from '../../platform/config.ts';
import { silentLogger } from '../../platform/log.ts';
import { MetricsRegistry } from '../../platform/metrics.ts';
import { startFhirServer, type FhirTestServer } from '../helpers/fhir-server.ts';
import { consumed, envelope, IDENTIFIER_SYSTEM, makeAlert } from './fixtures.ts';

interface HangingEhr {
  baseUrl: string;
  /** Requests received (answered or held). */
  received: number;
  hanging: boolean;
  close(): Promise<void>;
}

/** In front of `upstream`: holds each request unanswered while `hanging`, else forwards it. */
async function hangingEhr(upstream: FhirTestServer): Promise<HangingEhr> {
  const state = { received: 0, hanging: true };
  const server = http.createServer((req, res) => {
    state.received++;
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (state.hanging) return; // accepted, never answered
      const headers: Record<string, string> = {};
      for (const h of ['accept', 'content-type', 'if-none-exist', 'if-match', 'prefer']) if (typeof req.headers[h] === 'string') headers[h] = req.headers[h];
      const url = `${upstream.baseUrl}${(req.url ?? '').replace(/^\/fhir\/R4/, '')}`;
      void fetch(url, { method: req.method, headers, body: chunks.length > 0 ? Buffer.concat(chunks) : undefined }).then(async (r) => {
        const out: Record<string, string> = {};
        for (const h of ['content-type', 'location', 'etag']) { const v = r.headers.get(h); if (v) out[h] = v; }
        res.writeHead(r.status, out).end(Buffer.from(await r.arrayBuffer()));
      }, () => res.destroy());
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return Object.assign(state, {
    baseUrl: `http://127.0.0.1:${port}/fhir/R4`,
    close: () => new Promise<void>((resolve) => { server.close(() => resolve()); server.closeAllConnections(); }),
  });
}

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});

async function setUp() {
  const upstream = await startFhirServer();
  closers.push(() => upstream.close());
  await upstream.repo.createResource<Patient>({ resourceType: 'Patient', identifier: [{ system: 'urn:mrn', value: 'MRN-001' }] });
  const ehr = await hangingEhr(upstream);
  closers.push(() => ehr.close());
  return { upstream, ehr };
}

async function until(check: () => boolean): Promise<void> {
  while (!check()) await new Promise((r) => setTimeout(r, 2));
}

describe('FHIR client: a request the EHR leaves unanswered', () => {
  it('is reported as stalled once outstanding for the request timeout, before any retry gives up, until the EHR answers', async () => {
    const { ehr } = await setUp();
    let clock = 1_000_000;
    // The timers never run out here: the clock of the report is the test's.
    const client = createHttpFhirClient({ baseUrl: ehr.baseUrl, requestTimeoutMs: 600_000, retry: { maxAttempts: 5 }, now: () => clock });
    const controller = new AbortController();
    const search = client.searchByIdentifier('Patient', { system: 'urn:mrn', value: 'MRN-001' }, { signal: controller.signal }).catch((err: unknown) => err);
    await until(() => ehr.received === 1);
    expect(client.stalled!()).toBeUndefined();
    clock += 599_999;
    expect(client.stalled!()).toBeUndefined();
    clock += 1;
    expect(client.stalled!()).toEqual({ sinceMs: 1_600_000, request: 'GET /Patient?identifier=…', reason: 'no answer yet' });
    // Given up on (the exporter stopping): still nothing answered, so still stalled.
    controller.abort();
    await search;
    expect(client.stalled!()?.request).toBe('GET /Patient?identifier=…');
    ehr.hanging = false;
    expect(await client.searchByIdentifier('Patient', { system: 'urn:mrn', value: 'MRN-001' })).toHaveLength(1);
    expect(client.stalled!()).toBeUndefined();
  });
});

describe('EHR exporter health while the EHR hangs', () => {
  it('says degraded from the first request timeout, then paused, never ok in between, and ok once the EHR answers', async () => {
    const { upstream, ehr } = await setUp();
    // Short timeouts so the test does not wait out 50 s; no assertion depends on how long anything takes.
    const fhir = createHttpFhirClient({ baseUrl: ehr.baseUrl, requestTimeoutMs: 40, retry: { maxAttempts: 4, baseDelayMs: 1, maxDelayMs: 2 } });
    const bus = new InProcessBus();
    closers.push(() => bus.close());
    const e = createEhrExporter({
      bus, fhir, patients: createPatientResolver({ fhir, mrns: configuredMrns('urn:mrn', { 'p-001': 'MRN-001' }) }),
      identifierSystem: IDENTIFIER_SYSTEM, logger: silentLogger, metrics: new MetricsRegistry(), ecgWaitMs: 0, pauseBackoff: { baseDelayMs: 5, maxDelayMs: 20 },
    });
    closers.push(() => e.stop());
    const statuses: string[] = [e.health().status];
    let degradedHealth: ReturnType<typeof e.health> | undefined;
    const batch = e.handleBatch([consumed(envelope(makeAlert('vt')), 0)]);
    await until(() => {
      const h = e.health();
      statuses.push(h.status);
      if (h.status === 'degraded') degradedHealth ??= h;
      return h.status === 'paused';
    });
    ehr.hanging = false;
    let done = false;
    void batch.then(() => { done = true; });
    await until(() => { statuses.push(e.health().status); return done; });
    await batch;
    statuses.push(e.health().status);

    const changes = statuses.filter((s, i) => i === 0 || s !== statuses[i - 1]);
    expect(changes).toEqual(['ok', 'degraded', 'paused', 'ok']);
    expect(degradedHealth?.reason).toMatch(/has not answered GET \/Patient\?identifier=… within the request timeout \((timeout after 40 ms|no answer yet)\)/);
    expect(degradedHealth?.degradedSince).toMatch(/^\d{4}-\d\d-\d\dT/);
    // /healthz needs no token: the request is named without its query values (the MRN).
    expect(JSON.stringify(degradedHealth)).not.toMatch(/MRN-001/);
    expect((await upstream.repo.searchResources({ resourceType: 'Observation' })).length).toBeGreaterThan(0);
  });
});

describe('the request timeout of the configuration (PULSEBRIDGE_FHIR_REQUEST_TIMEOUT_MS)', () => {
  // Was fixed at 10 s in the running exporter: an operator could neither wait longer for a slow EHR
  // nor notice a hanging one sooner. The exporter started from the configuration gives an attempt
  // up after the configured time, and /healthz turns degraded on that time, not on 10 s.
  it('is what the running exporter waits for an answer, and what turns its /healthz degraded', async () => {
    const { ehr } = await setUp();
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'pb-fhir-timeout-'));
    closers.push(async () => fs.rmSync(dataDir, { recursive: true, force: true }));
    const bus = new InProcessBus();
    closers.push(() => bus.close());
    const config = loadConfig({ PULSEBRIDGE_FHIR_BASE_URL: ehr.baseUrl, PULSEBRIDGE_FHIR_REQUEST_TIMEOUT_MS: '1000', PULSEBRIDGE_EHR_HTTP_PORT: '0', PULSEBRIDGE_DATA_DIR: dataDir });
    const running = (await startEhrExporter({ config, bus, logger: silentLogger, metrics: new MetricsRegistry() }, { ecgWaitMs: 0 }))!;
    closers.push(() => running.stop());
    await bus.publish(STREAMS.alerts, [{ key: 'p-001', value: Buffer.from(JSON.stringify(envelope(makeAlert('vt')))) }]);

    type Healthz = { status: string; fhir?: { status: string; reason?: string; degradedSince?: string } };
    const healthz = async () => (await (await fetch(`${running.opsUrl}/healthz`)).json()) as Healthz;
    // Until an attempt has timed out (before it the reason is `no answer yet`), or the lane paused.
    let h = await healthz();
    while (h.status !== 'paused' && !/timeout after/.test(h.fhir?.reason ?? '')) {
      await new Promise((r) => setTimeout(r, 20));
      h = await healthz();
    }
    expect(ehr.received).toBeGreaterThan(0);
    expect(h.status).toBe('degraded');
    expect(h.fhir?.status).toBe('degraded');
    expect(h.fhir?.reason).toMatch(/has not answered .* within the request timeout \(timeout after 1000 ms\)/);
    expect(h.fhir?.degradedSince).toMatch(/^\d{4}-\d\d-\d\dT/);
  }, 30_000);
});
