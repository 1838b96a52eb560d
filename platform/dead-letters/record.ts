/**
 * Reading dead-letter records back (`pb.deadletter.v1`, contracts/telemetry.ts DeadLetterRecord)
 * for operators: `pulsebridge deadletter list|show|replay`.
 *
 * Record format (JSON, one per bus message, keyed by device id), every field after `receivedAt`
 * optional so records of every version parse:
 *   schema 'pb.deadletter.v1' · deviceId · topic (MQTT topic, or the bus stream read) · reason
 *   (stable code) · detail (sentence) · payloadBase64 (raw payload, or its first bytes) ·
 *   receivedAt (ms) · source 'gateway' | 'processor' | 'ehr-exporter' · stream + key (where a
 *   replay re-publishes it) · payloadBytes + payloadTruncated (only a prefix kept) · outcome
 *   (structured error of the receiving system, e.g. a FHIR OperationOutcome).
 *
 * Records written before `source` existed get it from their topic: an MQTT device topic is the
 * gateway's, `pb.telemetry.v1` the processor's, `pb.alerts.v1` the EHR exporter's. Their replay
 * target is filled in the same way: the processor's and the exporter's from the stream they read
 * (the exporter also names it in the `pb-source-stream` header) and the message key.
 */
import type { DeadLetterRecord, DeadLetterSource } from '../../contracts/telemetry.ts';
import { MQTT_TOPIC_PREFIX, STREAMS } from '../../contracts/topics.ts';

/** A dead letter as an operator sees it: an id on its bus (Kafka offset, or archive row) and a complete record. */
export interface DeadLetterEntry {
  id: string;
  record: DeadLetterRecord & { source: DeadLetterSource };
}

/** Shortest listing form: no payload. */
export interface DeadLetterSummary {
  id: string;
  source: DeadLetterSource;
  deviceId: string;
  reason: string;
  receivedAt: string;
  topic: string;
  payloadBytes: number;
  truncated: boolean;
}

export interface DeadLetterFilter {
  source?: DeadLetterSource | undefined;
  reason?: string | undefined;
  deviceId?: string | undefined;
  /** Only records received at or after this time (ms). */
  sinceMs?: number | undefined;
}

function sourceOf(topic: string): DeadLetterSource {
  if (topic.startsWith(MQTT_TOPIC_PREFIX)) return 'gateway';
  if (topic === STREAMS.alerts) return 'ehr-exporter';
  return 'processor';
}

/**
 * Parses one message of the dead-letter stream; undefined when it is not a dead-letter record
 * (e.g. a foreign producer's message), which readers skip.
 */
export function parseDeadLetter(value: Buffer | string, key: string, headers: Record<string, string> = {}): DeadLetterRecord & { source: DeadLetterSource } | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(typeof value === 'string' ? value : value.toString('utf8'));
  } catch {
    return undefined;
  }
  const r = parsed as Partial<DeadLetterRecord>;
  if (!r || typeof r !== 'object' || r.schema !== 'pb.deadletter.v1' || typeof r.topic !== 'string' || typeof r.payloadBase64 !== 'string') return undefined;
  const source = r.source ?? sourceOf(r.topic);
  const record = { ...r, source, deviceId: String(r.deviceId ?? 'unknown'), reason: String(r.reason ?? 'unknown'), detail: String(r.detail ?? ''), receivedAt: Number(r.receivedAt ?? 0) } as DeadLetterRecord & { source: DeadLetterSource };
  if (source !== 'gateway' && record.stream === undefined) {
    record.stream = headers['pb-source-stream'] ?? r.topic;
    record.key ??= key;
  }
  return record;
}

export function summarize(entry: DeadLetterEntry): DeadLetterSummary {
  const r = entry.record;
  return {
    id: entry.id, source: r.source, deviceId: r.deviceId, reason: r.reason, receivedAt: new Date(r.receivedAt).toISOString(), topic: r.topic,
    payloadBytes: r.payloadBytes ?? Buffer.from(r.payloadBase64, 'base64').length, truncated: r.payloadTruncated === true,
  };
}

export function matches(record: DeadLetterEntry['record'], filter: DeadLetterFilter): boolean {
  return (filter.source === undefined || record.source === filter.source)
    && (filter.reason === undefined || record.reason === filter.reason)
    && (filter.deviceId === undefined || record.deviceId === filter.deviceId)
    && (filter.sinceMs === undefined || record.receivedAt >= filter.sinceMs);
}
