/**
 * Names shared by every component: MQTT topics (device-protocol.md) and bus streams.
 * Devices in the field depend on the MQTT names; never change them, only add.
 */

/** Device ids are the certificate CN: device-protocol.md "Connection and identity". */
export const DEVICE_ID_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;

/** Patient ids: the same alphabet (they are bus keys, InfluxDB tags and URL path segments). */
export const PATIENT_ID_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;

export const MQTT_TOPIC_PREFIX = 'pb/v1/dev/';

export const deviceTopics = (deviceId: string) => ({
  telemetry: `${MQTT_TOPIC_PREFIX}${deviceId}/telemetry`,
  status: `${MQTT_TOPIC_PREFIX}${deviceId}/status`,
  cmd: `${MQTT_TOPIC_PREFIX}${deviceId}/cmd`,
  cmdAck: `${MQTT_TOPIC_PREFIX}${deviceId}/cmd/ack`,
});

export type DeviceTopicKind = 'telemetry' | 'status' | 'cmd' | 'cmd/ack';

/** Splits `pb/v1/dev/{id}/{kind}`; returns undefined for anything else. */
export function parseDeviceTopic(topic: string): { deviceId: string; kind: DeviceTopicKind } | undefined {
  if (!topic.startsWith(MQTT_TOPIC_PREFIX)) return undefined;
  const rest = topic.slice(MQTT_TOPIC_PREFIX.length);
  const slash = rest.indexOf('/');
  if (slash <= 0) return undefined;
  const deviceId = rest.slice(0, slash);
  const kind = rest.slice(slash + 1);
  if (!DEVICE_ID_PATTERN.test(deviceId)) return undefined;
  if (kind === 'telemetry' || kind === 'status' || kind === 'cmd' || kind === 'cmd/ack') return { deviceId, kind };
  return undefined;
}

/** Bus streams (Kafka topic names; the in-process bus uses the same names). */
export const STREAMS = {
  /** Canonical telemetry records, keyed by patient id so one patient's frames stay ordered. */
  telemetry: 'pb.telemetry.v1',
  /** Alert snapshots (every lifecycle change), keyed by patient id. One partition: the offset is the event id. */
  alerts: 'pb.alerts.v1',
  /** Rejected input with the reason, keyed by device id. */
  deadLetter: 'pb.deadletter.v1',
  /** Per-patient alarm criteria (contracts/criteria.ts), keyed by patient id; compacted, one partition. */
  criteria: 'pb.criteria.v1',
  /** The processor's changelog of open episodes per patient stream (processor/stream-state.ts); compacted, one partition. */
  processorState: 'pb.processor-state.v1',
  /**
   * Operator alarms (processor/infrastructure-gap.ts: telemetry not reaching the processor), keyed by
   * source (`processor/{instance}`); compacted, one partition: the latest record is each source's state.
   */
  operatorAlarms: 'pb.operator-alarms.v1',
  /**
   * Each processor instance's heartbeat (contracts/processor-heartbeat.ts), keyed by instance;
   * compacted, one partition. The dashboard API raises an operator alarm when none comes.
   */
  processorHeartbeats: 'pb.processor-heartbeats.v1',
  /**
   * Heart-rate and RR points of beats the processor detected in ECG (devices that send no beats),
   * keyed by patient: the processor's store sink writes them (processor/store-sink.ts).
   */
  derivedVitals: 'pb.derived-vitals.v1',
  /** ECG strips around alarms (contracts/ecg-strip.ts), keyed by patient id; one per alert with ECG. */
  ecgStrips: 'pb.ecg-strips.v1',
  /**
   * The EHR exporter's parking lot: alert snapshots and strips of patients the EHR does not know
   * yet (ehr-exporter/exporter.ts), retried with backoff without holding up other patients. Keyed by patient.
   */
  ehrRetry: 'pb.ehr-retry.v1',
} as const;

export type StreamName = (typeof STREAMS)[keyof typeof STREAMS];
