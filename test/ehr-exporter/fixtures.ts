/** Alert fixtures and bus-message helpers shared by the ehr-exporter tests. */
import type { Alert, AlertEnvelope, AlertKind } from '../../contracts/alert.ts';
import { alertId, DEFAULT_PRIORITY, TECHNICAL_KINDS } from '../../contracts/alert.ts';
import { STREAMS } from '../../contracts/topics.ts';
import type { ConsumedMessage } from '../../platform/bus/index.ts';

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
