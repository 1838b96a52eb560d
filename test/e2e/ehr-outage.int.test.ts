/**
 * EHR down, scaled down to what a test can afford: on real Kafka, the exporter exports alerts,
 * the FHIR server stops answering (its port closed, connections refused) while more alerts and
 * acknowledgements arrive and the exporter itself is restarted, then the EHR comes back on the same
 * port with the same data. Counts compared: every alert is in the EHR exactly once, every
 * acknowledgement is recorded, nothing was dead-lettered, and /healthz showed the pause.
 */
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseSearchRequest } from '@medplum/core';
import { MemoryRepository } from '@medplum/fhir-router';
import type { Observation, Patient } from '@medplum/fhirtypes';
import { afterAll, expect, it } from 'vitest';
import { startEhrExporter, type RunningEhrExporter } from '../../cli/components.ts';
import { DEFAULT_PRIORITY, type Alert, type AlertEnvelope, type AlertKind } from '../../contracts/alert.ts';
import { alertId } from '../../contracts/alert.ts';
import { STREAMS } from '../../contracts/topics.ts';
import { demoPatientIdentity } from '../../dashboard-api/patient-directory.ts';
import { loadConfig } from '../../platform/config.ts';
import { KafkaBus } from '../../platform/bus/index.ts';
import { silentLogger } from '../../platform/log.ts';
import { MetricsRegistry } from '../../platform/metrics.ts';
import { startFhirServer, type FhirTestServer } from '../helpers/fhir-server.ts';
import { loadFhirDefinitions } from '../helpers/fhir-validate.ts';
import { describeWithService, kafkaAvailable, kafkaBrokers } from '../helpers/services.ts';
import { sleep, waitFor } from '../helpers/wait.ts';

const OUTAGE_MS = 8_000;
const KINDS: AlertKind[] = ['asystole', 'extreme_brady', 'extreme_tachy', 'vt', 'afib', 'pause'];

await describeWithService('EHR outage on real Kafka', kafkaAvailable, () => {
  const runId = randomUUID().slice(0, 8);
  const patients = [0, 1, 2].map((i) => `outage-${runId}-p${i}`);
  const bus = new KafkaBus({ brokers: kafkaBrokers, clientId: `ehr-outage-${runId}` });
  const repo = new MemoryRepository();
  const identifierSystem = `urn:pulsebridge:outage:${runId}`;
  let fhir: FhirTestServer | undefined;
  const exporters: RunningEhrExporter[] = [];
  const deadLetters: string[] = [];
  const stops: (() => Promise<void>)[] = [];

  afterAll(async () => {
    for (const e of exporters) await e.stop().catch(() => {});
    for (const s of stops) await s();
    await fhir?.close();
    await bus.close();
  });

  const alertFor = (n: number): Alert => {
    const patientId = patients[n % patients.length]!;
    const kind = KINDS[n % KINDS.length]!;
    const onsetMs = Date.parse('2026-06-01T00:00:00Z') + n * 60_000;
    const at = new Date().toISOString();
    return {
      id: alertId(patientId, kind, onsetMs), patientId, deviceId: `dev-${runId}-${n % patients.length}`, kind, category: 'physiological', priority: DEFAULT_PRIORITY[kind],
      state: 'active', onset: new Date(onsetMs).toISOString(), detectedAt: at, evidence: { hrBpm: 30 + n, criterion: 'outage test', thresholds: {} }, revision: 1, updatedAt: at,
    };
  };
  const publish = (alerts: Alert[], source: AlertEnvelope['source'] = 'processor') =>
    bus.publish(STREAMS.alerts, alerts.map((alert) => ({ key: alert.patientId, value: Buffer.from(JSON.stringify({ schema: 'pb.alert.v1', source, alert } satisfies AlertEnvelope)) })));
  const rhythms = async () => (await repo.searchResources<Observation>(parseSearchRequest('Observation')))
    .filter((o) => o.code?.coding?.[0]?.code === '184327' && o.identifier?.[0]?.system === identifierSystem);
  // The exporter's PHI audit trail goes to its data folder: a throw-away one, never ./data.
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'pb-ehr-outage-'));
  const start = async () => {
    const config = loadConfig({ PULSEBRIDGE_DATA_DIR: dataDir, PULSEBRIDGE_FHIR_BASE_URL: fhirUrl, PULSEBRIDGE_FHIR_IDENTIFIER_SYSTEM: identifierSystem, PULSEBRIDGE_EHR_HTTP_PORT: '0', PULSEBRIDGE_EHR_ECG_WAIT_MS: '0' });
    const running = (await startEhrExporter({ config, bus, logger: silentLogger, metrics: new MetricsRegistry() },
      { groupId: `ehr-outage-${runId}`, fromBeginning: false, pauseBackoff: { baseDelayMs: 200, maxDelayMs: 1_000 } }))!;
    exporters.push(running);
    return running;
  };
  const health = async (e: RunningEhrExporter) => (await (await fetch(`${e.opsUrl}/healthz`)).json()) as { status: string; fhir?: { status: string; reason?: string } };
  let fhirUrl = '';

  it('loses and duplicates no alert while the EHR is down, shows the pause in /healthz, and catches up by itself', async () => {
    loadFhirDefinitions();
    await bus.ensureStreams([{ name: STREAMS.alerts, partitions: 1 }, { name: STREAMS.ecgStrips, partitions: 6 }, { name: STREAMS.ehrRetry, partitions: 6 }, { name: STREAMS.deadLetter, partitions: 1 }]);
    const dl = await bus.subscribe(STREAMS.deadLetter, { groupId: `ehr-outage-dl-${runId}`, fromBeginning: false, onBatch: async (ms) => {
      for (const m of ms) if (m.value.toString().includes(runId)) deadLetters.push(m.value.toString());
    } });
    stops.push(() => dl.stop());
    for (const p of patients) await repo.createResource<Patient>({ resourceType: 'Patient', identifier: [demoPatientIdentity(p).mrn] });
    fhir = await startFhirServer({ repo });
    fhirUrl = fhir.baseUrl;
    const port = Number(new URL(fhirUrl).port);
    let exporter = await start();

    // A first alert gives the fresh consumer group a committed position. (The test's group starts at
    // the stream's end, because the shared broker holds other tests' alerts; a group that never
    // committed would start at the end again after the restart. Production groups start at the
    // beginning, where this cannot happen.)
    await publish([alertFor(100)]);
    await waitFor('the first alert in the EHR', async () => ((await rhythms()).length === 1 ? true : undefined), 60_000);
    await sleep(1_000);

    // Before: 10 alerts go through.
    const before = Array.from({ length: 10 }, (_, n) => alertFor(n));
    await publish(before);
    await waitFor('the first 10 alerts in the EHR', async () => ((await rhythms()).length === 11 ? true : undefined), 60_000);

    // EHR down: the port is closed; 20 more alerts and 5 acknowledgements arrive.
    await fhir.close();
    fhir = undefined;
    const during = Array.from({ length: 20 }, (_, n) => alertFor(10 + n));
    const acks = before.slice(0, 5).map((a) => ({ ...a, state: 'acknowledged' as const, acknowledgedBy: 'dr-outage', acknowledgedAt: new Date().toISOString(), revision: 2 }));
    await publish(during);
    await publish(acks, 'clinician');
    const paused = await waitFor('/healthz to show the pause', async () => {
      const h = await health(exporter);
      return h.status === 'paused' ? h : undefined;
    }, 30_000);
    expect(paused.fhir?.reason).toMatch(/ECONNREFUSED|fetch failed|failed after/);

    // The exporter restarts in the middle of the outage: what it had not exported is still on the bus.
    await sleep(OUTAGE_MS / 2);
    await exporter.stop();
    exporter = await start();
    // Joining the consumer group again can take a Kafka rebalance (up to the 30 s session timeout).
    await waitFor('the restarted exporter to pause too', async () => ((await health(exporter)).status === 'paused' ? true : undefined), 90_000);
    await sleep(OUTAGE_MS / 2);
    expect((await rhythms()).length).toBe(11);

    // The EHR comes back on the same port with the same data.
    fhir = await startFhirServer({ repo, port });
    await waitFor('all 31 alerts and 5 acknowledgements in the EHR', async () => {
      const obs = await rhythms();
      const acked = obs.filter((o) => o.note?.some((n) => n.text === 'Pulsebridge: acknowledged by dr-outage'));
      return obs.length >= 31 && acked.length === 5 ? true : undefined;
    }, 120_000);
    await waitFor('/healthz back to ok', async () => ((await health(exporter)).status === 'ok' ? true : undefined), 30_000);
    await sleep(1_000);

    const obs = await rhythms();
    const published = [alertFor(100), ...before, ...during].map((a) => a.id).sort();
    const exported = obs.map((o) => o.identifier?.find((i) => i.value?.startsWith('alert/'))?.value?.slice('alert/'.length)).sort();
    expect(exported).toEqual(published); // zero lost, zero duplicated
    const hr = (await repo.searchResources<Observation>(parseSearchRequest('Observation'))).filter((o) => o.code?.coding?.[0]?.code === '8867-4' && o.identifier?.[0]?.system === identifierSystem);
    expect(hr).toHaveLength(31);
    const devices = (await repo.searchResources(parseSearchRequest('Device'))).filter((d) => (d as { identifier?: { value?: string }[] }).identifier?.[0]?.value?.includes(runId));
    expect(devices).toHaveLength(patients.length);
    expect(deadLetters).toEqual([]);
  }, 360_000);
});
