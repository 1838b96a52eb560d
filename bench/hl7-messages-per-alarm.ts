/**
 * How many HL7 messages and FHIR requests one long alarm makes (EHR walk: 39–46 ORU^R40 per
 * alarm, one per evidence change). Each scenario's frames go through the processor's
 * StreamRuntime (wall clock = device time, escalations when due, no clinician), and every alert
 * snapshot it publishes goes, in order, through the real exporters: the HL7 exporter to a local
 * MLLP listener (@medplum/hl7 Hl7Server, ACKs AA) once with every change sent (default) and once
 * with PULSEBRIDGE_HL7_EVIDENCE_UPDATE_MIN = --interval-min, and the FHIR exporter to the test FHIR
 * server (requests counted by method), likewise without and with PULSEBRIDGE_FHIR_EVIDENCE_UPDATE_MIN.
 * Deterministic (seeded RR jitter); under a minute.
 *
 *   node bench/hl7-messages-per-alarm.ts [--interval-min 5] [--mllp-port 32575] [--fhir-port 32580]
 */
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';
import type { Patient } from '@medplum/fhirtypes';
import type { Alert } from '../contracts/alert.ts';
import { DEFAULT_CRITERIA_VERSION } from '../contracts/criteria.ts';
import { STREAMS } from '../contracts/topics.ts';
import { syntheticEcgSource } from '../device-sim/ecg-synth.ts';
import { buildFrames, type TimedBeat } from '../device-sim/frames.ts';
import { createEhrExporter } from '../ehr-exporter/exporter.ts';
import { createHttpFhirClient } from '../ehr-exporter/fhir-client.ts';
import { createHl7Exporter } from '../ehr-exporter/hl7-exporter.ts';
import { alarmFacets } from '../ehr-exporter/hl7-messages.ts';
import { configuredMrns, createPatientResolver } from '../ehr-exporter/identity.ts';
import { loadMllp, type MllpConnection } from '../ehr-exporter/mllp.ts';
import type { ConsumedMessage } from '../platform/bus/index.ts';
import { InProcessBus } from '../platform/bus/index.ts';
import { silentLogger } from '../platform/log.ts';
import { MetricsRegistry } from '../platform/metrics.ts';
import { StreamRuntime } from '../processor/stream-runtime.ts';
import { startFhirServer } from '../test/helpers/fhir-server.ts';

const { values: args } = parseArgs({ options: { 'interval-min': { type: 'string', default: '5' }, 'mllp-port': { type: 'string', default: '32575' }, 'fhir-port': { type: 'string', default: '32580' } } });
const intervalMs = Number(args['interval-min']) * 60_000;

const T0 = Date.parse('2026-11-25T10:00:00.000Z');
const MIN = 60_000;
interface Segment { bpm: number; ms: number; cls?: 'N' | 'V'; jitter?: number }

function timeline(segments: Segment[], seed: number): TimedBeat[] {
  let state = seed;
  const random = () => (state = (state * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  const out: TimedBeat[] = [];
  let t = T0;
  for (const s of segments) {
    const end = t + s.ms;
    while (t < end) {
      t += Math.round((60_000 / s.bpm) * (1 + (s.jitter ?? 0.02) * (2 * random() - 1)));
      out.push({ tMs: t, cls: s.cls ?? 'N' });
    }
  }
  return out;
}

/** The alert snapshots of one scenario, in publication order. */
function snapshots(segments: Segment[], o: { ecg?: boolean; leadOff?: { startMs: number; endMs: number }[] } = {}): Alert[] {
  const durationMs = segments.reduce((sum, s) => sum + s.ms, 0);
  const frames = buildFrames(timeline(segments, 7), { t0Ms: T0, durationMs, battery: 80, leadOff: o.leadOff ?? [], ...(o.ecg === false ? {} : { ecg: syntheticEcgSource(3, 250), ecgFsHz: 250 }) });
  const rt = new StreamRuntime({ patientId: 'p-001', deviceId: 'patch-0001', criteriaAt: () => DEFAULT_CRITERIA_VERSION, ecgStrips: false });
  const out: Alert[] = [];
  for (const f of frames) {
    const now = f.ts + f.durMs;
    out.push(...rt.ingest(f, new Date(now).toISOString()).alerts);
    const due = rt.nextEscalationDueMs();
    if (due !== undefined && due <= now) out.push(...rt.escalate(now));
  }
  return out;
}

const SCENARIOS: { name: string; segments: Segment[]; ecg?: boolean; leadOff?: { startMs: number; endMs: number }[] }[] = [
  { name: 'tachycardia 7 min at ~140/min', segments: [{ bpm: 75, ms: 10 * MIN }, { bpm: 140, ms: 7 * MIN, jitter: 0.04 }, { bpm: 75, ms: 2 * MIN }] },
  { name: 'tachycardia 7 min ramping 125 → 164/min', segments: [{ bpm: 75, ms: 10 * MIN }, ...Array.from({ length: 14 }, (_, i) => ({ bpm: 125 + i * 3, ms: 30_000 })), { bpm: 75, ms: 2 * MIN }] },
  { name: 'VT 3 min at 180/min (firmware beats)', segments: [{ bpm: 75, ms: 10 * MIN }, { bpm: 180, ms: 3 * MIN, cls: 'V', jitter: 0.03 }, { bpm: 75, ms: 2 * MIN }], ecg: false },
  { name: 'leads off 7 min', segments: [{ bpm: 75, ms: 19 * MIN }], leadOff: [{ startMs: T0 + 10 * MIN, endMs: T0 + 17 * MIN }] },
];

const consumed = (alert: Alert, offset: number): ConsumedMessage => ({
  key: alert.patientId, value: Buffer.from(JSON.stringify({ schema: 'pb.alert.v1', source: 'processor', alert })), stream: STREAMS.alerts, partition: 0, offset: String(offset), timestamp: 0,
});

/** ORU messages the HL7 exporter sends for `alerts` with this interval (a fresh exporter and listener). */
async function hl7Count(alerts: Alert[], interval: number): Promise<{ r01: number; r40: number; phases: Record<string, number> }> {
  const { Hl7Server } = await loadMllp();
  const received: string[] = [];
  const server = new Hl7Server((connection: MllpConnection) => {
    connection.addEventListener('message', (event) => {
      received.push(event.message.toString());
      connection.send(event.message.buildAck({ ackCode: 'AA' }));
    });
  });
  await server.start(Number(args['mllp-port']));
  const bus = new InProcessBus();
  const e = createHl7Exporter({
    bus, host: '127.0.0.1', port: (server.server?.address() as AddressInfo).port, mrns: configuredMrns('urn:mrn', { 'p-001': 'MRN-001' }), logger: silentLogger, metrics: new MetricsRegistry(),
    message: { sendingApplication: 'PULSEBRIDGE', sendingFacility: 'CARDIO', receivingApplication: 'EHR' }, evidenceUpdateIntervalMs: interval,
  });
  try {
    await e.handleBatch(alerts.map(consumed));
  } finally {
    await e.stop();
    await bus.close();
    await server.stop({ forceDrainTimeoutMs: 0 });
  }
  const r40 = received.filter((m) => m.includes('ORU^R40'));
  const phases: Record<string, number> = {};
  for (const m of r40) {
    const phase = /68481\^MDC_ATTR_EVENT_PHASE\^MDC\|[^|]*\|([a-z]+)/.exec(m)?.[1] ?? '?';
    phases[phase] = (phases[phase] ?? 0) + 1;
  }
  return { r01: received.length - r40.length, r40: r40.length, phases };
}

/** FHIR requests the exporter makes for `alerts`, by method. */
async function fhirCount(alerts: Alert[], interval: number): Promise<Record<string, number>> {
  const server = await startFhirServer({ port: Number(args['fhir-port']) });
  await server.repo.createResource<Patient>({ resourceType: 'Patient', identifier: [{ system: 'urn:mrn', value: 'MRN-001' }] });
  const fhir = createHttpFhirClient({ baseUrl: server.baseUrl });
  const bus = new InProcessBus();
  const e = createEhrExporter({
    bus, fhir, patients: createPatientResolver({ fhir, mrns: configuredMrns('urn:mrn', { 'p-001': 'MRN-001' }) }), identifierSystem: 'urn:bench', logger: silentLogger, metrics: new MetricsRegistry(), ecgWaitMs: 0, evidenceUpdateIntervalMs: interval,
  });
  try {
    await e.handleBatch(alerts.map(consumed));
  } finally {
    await e.stop();
    await bus.close();
    await server.close();
  }
  const by: Record<string, number> = {};
  for (const r of server.requests) {
    const what = r.method === 'POST' && r.url === '' ? 'transaction' : r.method === 'GET' && r.url.startsWith('Patient') ? 'GET Patient' : r.method;
    by[what] = (by[what] ?? 0) + 1;
  }
  return by;
}

console.log(`| alarm | length | snapshots (start/update/escalate/end) | HL7 every change | HL7 with ${args['interval-min']} min | FHIR requests, every change | FHIR with ${args['interval-min']} min |`);
console.log('| --- | --- | --- | --- | --- | --- | --- |');
for (const s of SCENARIOS) {
  const all = snapshots(s.segments, s);
  const byAlert = new Map<string, Alert[]>();
  for (const a of all) byAlert.set(a.id, [...(byAlert.get(a.id) ?? []), a]);
  for (const alerts of byAlert.values()) {
    const last = alerts.at(-1)!;
    const phases: Record<string, number> = { start: 0, update: 0, escalate: 0, end: 0 };
    for (const a of alerts) phases[alarmFacets(a).phase]!++;
    const every = await hl7Count(alerts, 0);
    const coalesced = await hl7Count(alerts, intervalMs);
    const fhir = await fhirCount(alerts, 0);
    const fhirCoalesced = await fhirCount(alerts, intervalMs);
    const fmtFhir = (by: Record<string, number>) => Object.entries(by).map(([k, v]) => `${v} ${k}`).join(', ');
    const length = last.end ? `${Math.round((Date.parse(last.end) - Date.parse(last.onset)) / 1000)} s` : 'open';
    const fmt = (c: typeof every) => `${c.r40} ORU^R40 + ${c.r01} ORU^R01 = ${c.r40 + c.r01}`;
    console.log(`| ${s.name}: ${last.kind} | ${length} | ${alerts.length} (${phases.start}/${phases.update}/${phases.escalate}/${phases.end}) | ${fmt(every)} | ${fmt(coalesced)} | ${fmtFhir(fhir)} | ${fmtFhir(fhirCoalesced)} |`);
  }
}
