/**
 * The spine, end to end: a simulated device with a scripted extreme-bradycardia episode, over
 * mutual TLS, through the gateway, the bus, the processor and the store, to a clinician's
 * WebSocket and to a real FHIR server (medplum FhirRouter). Runs twice: on the embedded adapters
 * (in-process bus, SQLite) and on the real ones (Apache Kafka, InfluxDB).
 */
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { startDashboard, startEhrExporter, startGateway, startProcessor, type Running } from '../../cli/components.ts';
import type { Alert, AlertEnvelope } from '../../contracts/alert.ts';
import type { TelemetryFrame } from '../../contracts/telemetry.ts';
import { STREAMS } from '../../contracts/topics.ts';
import type { Patient } from '@medplum/fhirtypes';
import { openDevIssuer } from '../../dashboard-api/dev-issuer.ts';
import { demoPatientIdentity } from '../../dashboard-api/patient-directory.ts';
import { runSim, scenarioFromPhases } from '../../device-sim/index.ts';
import { KafkaBus } from '../../platform/bus/index.ts';
import type { Bus } from '../../platform/bus/index.ts';
import { InProcessBus } from '../../platform/bus/index.ts';
import { loadConfig, type PulsebridgeConfig } from '../../platform/config.ts';
import { ensureDevPki, issueDeviceCertificate } from '../../platform/security/index.ts';
import type { Registry } from '../../platform/registry/index.ts';
import { openRegistry } from '../../platform/adapters.ts';
import { silentLogger } from '../../platform/log.ts';
import { MetricsRegistry } from '../../platform/metrics.ts';
import type { VitalsStore } from '../../platform/store/index.ts';
import { SqliteVitalsStore } from '../../platform/store/index.ts';
import { InfluxVitalsStore } from '../../platform/store/index.ts';
import { startFhirServer, type FhirTestServer } from '../helpers/fhir-server.ts';
import { ecgObservationProblems, heartRateObservationProblems, rhythmObservationProblems, validateFhir } from '../helpers/fhir-validate.ts';
import { startSmartServer, type SmartTestServer } from '../helpers/smart-server.ts';
import { createSmartBackendAuth } from '../../ehr-exporter/smart-auth.ts';
import { exportJWK, exportPKCS8, generateKeyPair } from 'jose';
import { makeTempDir } from '../helpers/gateway-fixture.ts';
import { sleep, waitFor as waitForWithin } from '../helpers/wait.ts';
import { influxAuth, influxAvailable, influxUrl, kafkaAvailable, kafkaBrokers, requireService } from '../helpers/services.ts';

/** The scripted run takes ~20 s of wall time; its alerts and points arrive within that. */
const waitFor = <T>(what: string, probe: () => T | undefined | Promise<T | undefined>) => waitForWithin(what, probe, 90_000);

/** A WebSocket client of /v1/stream that records every message. */
async function openStream(baseUrl: string, token: string) {
  const messages: { type: string; alert?: Alert }[] = [];
  const ws = new WebSocket(`${baseUrl.replace(/^http/, 'ws')}/v1/stream?access_token=${encodeURIComponent(token)}`);
  ws.on('message', (data) => messages.push(JSON.parse(data.toString())));
  await new Promise<void>((resolve, reject) => { ws.once('open', () => resolve()); ws.once('error', reject); });
  return { ws, messages, alerts: () => messages.filter((m) => m.type === 'alert').map((m) => m.alert!) };
}

interface Variant {
  name: string;
  available: () => Promise<boolean>;
  open: (runId: string) => Promise<{ bus: Bus; store: VitalsStore; env: Record<string, string> }>;
}

const VARIANTS: Variant[] = [
  {
    name: 'embedded adapters (in-process bus, SQLite)',
    available: async () => true,
    open: async () => ({ bus: new InProcessBus(), store: new SqliteVitalsStore(':memory:'), env: {} }),
  },
  {
    name: 'real services (Apache Kafka, InfluxDB)',
    available: async () => (await requireService('kafka', kafkaAvailable)) && (await requireService('influxdb', influxAvailable)),
    open: async (runId) => {
      const bus = new KafkaBus({ brokers: kafkaBrokers, clientId: `e2e-${runId}` });
      const store = new InfluxVitalsStore({ url: influxUrl, database: `e2e_${runId.replace(/-/g, '_')}`, ...influxAuth });
      await store.init();
      return { bus, store, env: { PULSEBRIDGE_BUS: 'kafka', PULSEBRIDGE_STORE: 'influxdb' } };
    },
  },
];

for (const variant of VARIANTS) {
  const available = await variant.available();
  describe.runIf(available)(`end to end on ${variant.name}`, () => {
    const runId = randomUUID().slice(0, 8);
    const patientId = `pat-${runId}`;
    const otherPatientId = `other-${runId}`;
    const deviceId = `dev-${runId}`;
    const dataDir = makeTempDir('pb-e2e-');
    const identifierSystem = `urn:pulsebridge:test:${runId}`;
    const running: Running[] = [];
    const sentFrames: TelemetryFrame[] = [];
    let bus: Bus;
    let store: VitalsStore;
    let registry: Registry;
    let fhir: FhirTestServer;
    let config: Readonly<PulsebridgeConfig>;
    let dashboardUrl: string;
    let careTeam: Awaited<ReturnType<typeof openStream>>;
    let outsider: Awaited<ReturnType<typeof openStream>>;
    let outsiderToken: string;
    let scriptedOnsetMs: number;
    let ehrPatientId: string;
    let smart: SmartTestServer;
    let careToken: string;
    let simEndMs: number;

    beforeAll(async () => {
      const opened = await variant.open(runId);
      bus = opened.bus;
      store = opened.store;
      await bus.ensureStreams([{ name: STREAMS.telemetry, partitions: 6 }, { name: STREAMS.alerts, partitions: 1 }, { name: STREAMS.deadLetter, partitions: 1 }, { name: STREAMS.ecgStrips, partitions: 6 }, { name: STREAMS.ehrRetry, partitions: 6 }]);
      // The EHR: a SMART authorization server that knows only the key made here, in front of the FHIR server.
      const { privateKey, publicKey } = await generateKeyPair('ES384', { extractable: true });
      const keyFile = path.join(dataDir, 'smart-client.pem');
      fs.mkdirSync(dataDir, { recursive: true });
      fs.writeFileSync(keyFile, await exportPKCS8(privateKey), { mode: 0o600 });
      smart = await startSmartServer({ clientId: 'pulsebridge', jwks: { keys: [{ ...(await exportJWK(publicKey)), kid: 'e2e', alg: 'ES384' }] } });
      fhir = await startFhirServer({ authorize: smart.authorize, smartConfiguration: smart.configuration });
      ensureDevPki(dataDir);
      config = loadConfig({ ...opened.env, PULSEBRIDGE_DATA_DIR: dataDir, PULSEBRIDGE_MQTT_PORT: '0', PULSEBRIDGE_HTTP_PORT: '0',
        PULSEBRIDGE_FHIR_BASE_URL: fhir.baseUrl, PULSEBRIDGE_FHIR_IDENTIFIER_SYSTEM: identifierSystem, PULSEBRIDGE_EHR_HTTP_PORT: '0',
        PULSEBRIDGE_SMART_CLIENT_ID: 'pulsebridge', PULSEBRIDGE_SMART_KEY_FILE: keyFile, PULSEBRIDGE_SMART_KEY_ID: 'e2e', PULSEBRIDGE_SMART_ALG: 'ES384',
        PULSEBRIDGE_EHR_ECG_WAIT_MS: '30000' });
      // The EHR knows the patient by the MRN the patient directory gives them.
      ehrPatientId = (await fhir.repo.createResource<Patient>({ resourceType: 'Patient', identifier: [demoPatientIdentity(patientId).mrn] })).id!;
      // The registry the configuration selects: the SQLite file embedded, the bus on Kafka.
      registry = await openRegistry(config, bus, silentLogger);
      await registry.add(deviceId, patientId, 'e2e', Date.now() - 3_600_000);
      const ctx = { config, bus, logger: silentLogger, metrics: new MetricsRegistry() };
      running.push(await startProcessor(ctx, store, { groupId: `e2e-processor-${runId}` }));
      // A fresh group from the stream's end: Kafka is shared, its older alerts name patients this EHR never admitted.
      running.push((await startEhrExporter(ctx, { groupId: `e2e-ehr-${runId}`, fromBeginning: false }))!);
      const dashboard = await startDashboard(ctx, store, registry);
      running.push(dashboard);
      dashboardUrl = dashboard.url;
      const gateway = await startGateway(ctx, registry);
      running.push(gateway);

      const issuer = await openDevIssuer({ dataDir });
      careToken = await issuer.issueToken({ sub: 'dr-care', role: 'clinician', patients: [patientId], ttlSeconds: 600 });
      careTeam = await openStream(dashboardUrl, careToken);
      outsiderToken = await issuer.issueToken({ sub: 'dr-other', role: 'clinician', patients: [otherPatientId], ttlSeconds: 600 });
      outsider = await openStream(dashboardUrl, outsiderToken);

      // 20 s normal, 20 s extreme bradycardia, 45 s normal (its end is final 30 s after the rate
      // recovered, extreme-brady.ts, then confirmed 10 s later); device time runs 5× faster.
      const creds = issueDeviceCertificate(dataDir, deviceId);
      const summary = await runSim({
        devices: [deviceId],
        scenario: scenarioFromPhases('e2e-brady', [{ kind: 'normal', durationMs: 20_000 }, { kind: 'extreme_brady', durationMs: 20_000 }, { kind: 'normal', durationMs: 45_000 }]),
        durationMs: 85_000,
        speed: 5,
        t0Ms: Date.now() - 90_000,
        seed: runId,
        connect: { url: `mqtts://localhost:${gateway.port}`, ca: fs.readFileSync(creds.ca), certFor: () => fs.readFileSync(creds.cert), keyFor: () => fs.readFileSync(creds.key) },
        groundTruthPath: path.join(dataDir, 'ground-truth.json'),
        onFrame: (_id, frame) => sentFrames.push(frame),
      });
      expect(summary.framesAcked).toBe(summary.framesSent);
      const brady = summary.episodes.filter((e) => e.kind === 'extreme_brady');
      expect(brady).toHaveLength(1);
      scriptedOnsetMs = brady[0]!.onsetMs;
      simEndMs = summary.t0Ms + summary.durationMs;
    });

    afterAll(async () => {
      careTeam?.ws.close();
      outsider?.ws.close();
      for (const r of running.reverse()) await r.stop();
      await fhir?.close();
      await smart?.close();
      await store?.close();
      await registry?.close();
      await bus?.close();
    });

    it('delivers an extreme_brady alert to the care team over the WebSocket, onset within 1 s of the scripted onset', async () => {
      const alert = await waitFor('the extreme_brady alert', () => careTeam.alerts().find((a) => a.kind === 'extreme_brady'));
      expect(alert).toMatchObject({ patientId, deviceId, kind: 'extreme_brady', category: 'physiological', priority: 'high' });
      expect(Math.abs(Date.parse(alert.onset) - scriptedOnsetMs)).toBeLessThanOrEqual(1000);
      expect(alert.evidence.hrBpm).toBeLessThan(40);
    });

    it('shows a clinician outside the care team nothing of the patient: no stream events and 403 on every route', async () => {
      await waitFor('the care team alert', () => careTeam.alerts().find((a) => a.kind === 'extreme_brady'));
      expect(outsider.alerts().filter((a) => a.patientId === patientId)).toEqual([]);
      const headers = { Authorization: `Bearer ${outsiderToken}` };
      for (const route of [`/v1/patients/${patientId}`, `/v1/patients/${patientId}/vitals`, `/v1/alerts?patientId=${patientId}`]) {
        expect((await fetch(`${dashboardUrl}${route}`, { headers })).status, route).toBe(403);
      }
    });

    it('stores the heart rate of every frame in the time-series store with the values the device measured', async () => {
      // Expected independently from what the device sent: 60000 / mean RR of each frame's beats.
      const expected = sentFrames
        .filter((f) => !f.leadOff && f.beats.some((b) => b.rr > 0))
        .map((f) => {
          const rr = f.beats.filter((b) => b.rr > 0).map((b) => b.rr);
          return { timeMs: f.ts + f.durMs, hrBpm: Math.round((60000 / (rr.reduce((a, b) => a + b, 0) / rr.length)) * 10) / 10 };
        });
      const stored = await waitFor('all heart-rate points', async () => {
        const points = await store.queryHeartRate(patientId, scriptedOnsetMs - 60_000, simEndMs + 1000);
        return points.length >= expected.length ? points : undefined;
      });
      expect(stored.map((p) => ({ timeMs: p.timeMs, hrBpm: p.hrBpm }))).toEqual(expected);
      const duringBrady = stored.filter((p) => p.timeMs > scriptedOnsetMs + 3000 && p.timeMs < scriptedOnsetMs + 18_000);
      expect(duringBrady.length).toBeGreaterThan(5);
      for (const p of duringBrady) expect(p.hrBpm).toBeLessThan(40);
    });

    /** A token of our own for reading the protected FHIR server from the test. */
    const bearer = () => testToken ??= createSmartBackendAuth({ fhirBaseUrl: fhir.baseUrl, clientId: 'pulsebridge', privateKey: fs.readFileSync(path.join(dataDir, 'smart-client.pem'), 'utf8'), keyId: 'e2e', alg: 'ES384', scope: 'system/*.rs' }).getAccessToken();
    let testToken: Promise<string> | undefined;

    it('records the alert as one transaction Bundle through SMART: alert + ECG SampledData + HR + mean RR Observations + Device, once although delivered twice; an acknowledgement reaches the EHR', async () => {
      const alert = await waitFor('the ended extreme_brady alert', () => careTeam.alerts().find((a) => a.kind === 'extreme_brady' && a.end));
      const search = async () => {
        const res = await fetch(`${fhir.baseUrl}/Observation?subject=Patient/${ehrPatientId}`, { headers: { Accept: 'application/fhir+json', Authorization: `Bearer ${await bearer()}` } });
        const bundle = (await res.json()) as { entry?: { resource: Record<string, any> }[] };
        // Only this alert's Observations: the brady limit alarm (HR < 50) fires during the
        // extreme bradycardia too and is recorded as its own Observation.
        return (bundle.entry ?? []).map((e) => e.resource)
          .filter((r) => (r.identifier ?? []).some((i: { system?: string; value?: string }) => i.system === identifierSystem && i.value?.split('/')[1] === '184327' && i.value?.split('/')[2] === 'extreme_brady'));
      };
      await waitFor('the Observation with its end', async () => {
        const obs = await search();
        return obs.length > 0 && obs[0]!.effectivePeriod?.end ? obs : undefined;
      });
      // Deliver the same alert again, as a re-delivery after a crash would.
      const envelope: AlertEnvelope = { schema: 'pb.alert.v1', source: 'processor', alert };
      await bus.publish(STREAMS.alerts, [{ key: patientId, value: Buffer.from(JSON.stringify(envelope)) }]);
      const requestsBefore = fhir.requests.length;
      await waitFor('the exporter to handle the re-delivery', () => (fhir.requests.length > requestsBefore ? true : undefined));
      await sleep(500);
      const observations = await search();
      expect(observations).toHaveLength(1);
      const obs = observations[0]!;
      expect(validateFhir(obs as never).errors).toEqual([]);
      expect(rhythmObservationProblems(obs, identifierSystem)).toEqual([]);
      expect(obs).toMatchObject({
        status: 'preliminary',
        subject: { reference: `Patient/${ehrPatientId}` },
        device: { reference: expect.stringMatching(/^Device\//) },
        code: { coding: [expect.objectContaining({ system: 'urn:iso:std:iso:11073:10101', code: '184327' })] },
        effectivePeriod: { start: alert.onset, end: alert.end },
      });
      // One transaction Bundle carried the alert, its ECG strip, its HR and the Device.
      const transactions = fhir.requests.filter((r) => r.method === 'POST' && r.url === '' && (r.body as { entry?: { resource?: { identifier?: { value?: string }[] } }[] }).entry?.some((e) => e.resource?.identifier?.some((i) => i.value?.includes(alert.id))));
      expect(transactions.length).toBeGreaterThanOrEqual(1);
      expect((transactions[0]!.body as { type: string; entry: { resource: { resourceType: string; code?: { coding?: { code?: string }[] } } }[] }).entry.map((e) => e.resource.code?.coding?.[0]?.code ?? e.resource.resourceType))
        .toEqual(['Device', '131328', '8867-4', '147240', '184327']);
      const read = async (ref: string) => (await (await fetch(`${fhir.baseUrl}/${ref}`, { headers: { Authorization: `Bearer ${await bearer()}` } })).json()) as Record<string, any>;
      const refs = (obs.derivedFrom as { reference: string }[]).map((r) => r.reference);
      const evidence = await Promise.all(refs.map(read));
      const ecg = evidence.find((r) => r.code.coding[0].code === '131328')!;
      const hr = evidence.find((r) => r.code.coding[0].code === '8867-4')!;
      // Mean RR of the qualifying beats (ehr-exporter/rr-hrv.ts); no SDNN: an extreme bradycardia gives far fewer than 20 intervals.
      const rr = evidence.find((r) => r.code.coding[0].code === '147240')!;
      expect(rr).toMatchObject({ category: [{ coding: [expect.objectContaining({ code: 'procedure' })] }], valueQuantity: { code: 'ms', system: 'http://unitsofmeasure.org' } });
      expect(rr.valueQuantity.value).toBeGreaterThan(1000); // a bradycardia: RR > 1000 ms (< 60 bpm)
      expect(Date.parse(rr.effectivePeriod.end)).toBeGreaterThan(Date.parse(rr.effectivePeriod.start));
      expect(ecgObservationProblems(ecg)).toEqual([]);
      // The processor's strip (processor/ecg-strips.ts): 16 s around the onset at the device's sampling rate.
      expect(Date.parse(ecg.effectivePeriod.end) - Date.parse(ecg.effectivePeriod.start)).toBeGreaterThan(10_000);
      expect(heartRateObservationProblems(hr)).toEqual([]);
      for (const r of [ecg, hr, rr]) expect(validateFhir(r as never).errors).toEqual([]);
      expect(validateFhir(hr as never, 'http://hl7.org/fhir/StructureDefinition/heartrate').errors).toEqual([]);
      const device = await read(obs.device.reference);
      expect(device.identifier).toEqual([{ system: 'urn:pulsebridge:device', value: deviceId }]);
      expect(smart.attempts.every((a) => a.ok)).toBe(true);
      expect(fhir.requests.filter((r) => r.status === 401)).toEqual([]);

      // The clinician acknowledges it in the dashboard API; the EHR's Observation gets the annotation (If-Match).
      const ack = await fetch(`${dashboardUrl}/v1/alerts/${alert.id}/ack`, { method: 'POST', headers: { Authorization: `Bearer ${careToken}` } });
      expect(ack.status).toBe(200);
      const acked = await waitFor('the acknowledgement in the EHR', async () => {
        const [o] = await search();
        return o?.note?.some((n: { text: string }) => n.text === 'Pulsebridge: acknowledged by dr-care') ? o : undefined;
      });
      expect(acked.note.find((n: { authorString?: string }) => n.authorString === 'dr-care').time).toMatch(/Z$/);
      expect(acked.status).toBe('preliminary');
      const puts = fhir.requests.filter((r) => r.method === 'PUT');
      expect(puts.every((r) => typeof r.headers['if-match'] === 'string')).toBe(true);
    });
  });
}
