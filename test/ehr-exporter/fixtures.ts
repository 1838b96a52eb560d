/** Alert fixtures and bus-message helpers shared by the ehr-exporter tests. */
import type { Alert, AlertEnvelope, AlertKind } from '../../contracts/alert.ts';
import { alertId, DEFAULT_PRIORITY, TECHNICAL_KINDS } from '../../contracts/alert.ts';
import type { EcgStrip } from '../../contracts/ecg-strip.ts';
import { STREAMS } from '../../contracts/topics.ts';
import type { ConsumedMessage } from '../../platform/bus/index.ts';
import type { Patient } from '@medplum/fhirtypes';
import { createHttpFhirClient, type FhirClient } from '../../ehr-exporter/fhir-client.ts';
import { startFhirServer, type FhirTestServer } from '../helpers/fhir-server.ts';

export const IDENTIFIER_SYSTEM = 'https://rpm.example.org/fhir/sid/observation-id';

/** A processor snapshot of one episode; onset 2026-01-01T00:00:03Z on patch-0001 for patient p-001. */
export function makeAlert(kind: AlertKind, overrides: Partial<Alert> = {}): Alert {
  const onset = overrides.onset ?? '2026-01-01T00:00:03Z';
  const patientId = overrides.patientId ?? 'p-001';
  return {
    id: alertId(patientId, kind, Date.parse(onset)),
    patientId,
    deviceId: 'patch-0001',
    kind,
    category: TECHNICAL_KINDS.has(kind) ? 'technical' : 'physiological',
    priority: DEFAULT_PRIORITY[kind],
    state: 'active',
    onset,
    detectedAt: '2026-01-01T00:00:09.500Z',
    evidence: { criterion: `${kind} fixture`, thresholds: {} },
    revision: 1,
    updatedAt: '2026-01-01T00:00:09.500Z',
    ...overrides,
  };
}

export function envelope(alert: Alert, source: AlertEnvelope['source'] = 'processor'): AlertEnvelope {
  return { schema: 'pb.alert.v1', source, alert };
}

/** A message as the bus hands it to onBatch. */
export function consumed(value: AlertEnvelope | string, offset = 0): ConsumedMessage {
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  const key = typeof value === 'string' ? 'p-001' : value.alert.patientId;
  return { key, value: Buffer.from(text), stream: STREAMS.alerts, partition: 0, offset: String(offset), timestamp: 0 };
}

/** One second of synthetic ECG at 250 Hz around 2026-01-01T00:00:00Z: sample 7 missing, 100–109 lead-off. */
export function makeStrip(alertId: string, overrides: Partial<EcgStrip> = {}): EcgStrip {
  const uV: (number | null)[] = Array.from({ length: 250 }, (_, i) => Math.round(800 * Math.sin(i / 10)));
  uV[7] = null;
  return { schema: 'pb.ecg-strip.v1', alertId, patientId: 'p-001', deviceId: 'patch-0001', startMs: Date.parse('2026-01-01T00:00:00Z'), fsHz: 250, uV, leadOff: [[100, 110]], beats: [], ...overrides };
}

/** A FHIR test server with one Patient (MRN-1) and a client to it with fast retries: the Bundle tests' setup. */
export async function startEhrWithPatient(): Promise<{ server: FhirTestServer; fhir: FhirClient; patientRef: string }> {
  const server = await startFhirServer();
  const fhir = createHttpFhirClient({ baseUrl: server.baseUrl, retry: { maxAttempts: 2, baseDelayMs: 1, maxDelayMs: 2 } });
  const patient = await server.repo.createResource<Patient>({ resourceType: 'Patient', identifier: [{ system: 'urn:mrn', value: 'MRN-1' }] });
  return { server, fhir, patientRef: `Patient/${patient.id}` };
}
