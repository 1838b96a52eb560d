/**
 * HL7 v2 export over MLLP (issue 11 §6): a consumer of the alerts stream (own group) that sends
 * IHE PCD-04 ORU^R40 for every lifecycle snapshot and, when an alert is raised, PCD-01 ORU^R01 with
 * the heart rate at the event (hl7-messages.ts), to an interface engine. Framing, connection and
 * ACK matching come from @medplum/hl7 (Hl7Client: MLLP client with sendAndWait; mllp.ts), not hand-written.
 *
 * ACK handling (HL7 v2.6 §2.9, original/enhanced mode): AA/CA = delivered. AR/CR (rejected: the
 * message itself is wrong) = dead-lettered with the ACK text. AE/CE (application error), no ACK in
 * time or no connection = the engine cannot take messages now: the export pauses and retries the
 * same message with backoff until it is ACKed (nothing is committed before), like the FHIR path.
 * The same control id is re-sent on a retry, so a de-duplicating engine records it once.
 */
import { Hl7Message } from '@medplum/core';
import type { AlertEnvelope } from '../contracts/alert.ts';
import type { DeadLetterRecord } from '../contracts/telemetry.ts';
import { STREAMS } from '../contracts/topics.ts';
import type { Bus, ConsumedMessage, Subscription } from '../platform/bus/index.ts';
import { PulsebridgeError } from '../platform/errors.ts';
import type { Logger } from '../platform/log.ts';
import type { MetricsRegistry } from '../platform/metrics.ts';
import { backoffDelayMs, sleep } from './backoff.ts';
import { pcd01HeartRate, pcd04Alarm, type Hl7Options } from './hl7-messages.ts';
import type { MrnSource } from './identity.ts';
import { loadMllp, type MllpClient } from './mllp.ts';

export interface Hl7ExporterOptions {
  bus: Bus;
  host: string;
  port: number;
  mrns: MrnSource;
  message: Omit<Hl7Options, 'mrn'>;
  logger: Logger;
  metrics: MetricsRegistry;
  groupId?: string;
  fromBeginning?: boolean;
  /** Wait for an ACK, ms. Default 10 000. */
  ackTimeoutMs?: number;
  /** Retries while the engine is unreachable or answers AE. Default 500 ms doubling to 30 s. */
  backoff?: { baseDelayMs: number; maxDelayMs: number };
  now?: () => number;
}

export interface Hl7Exporter {
  start(): Promise<void>;
  stop(): Promise<void>;
  handleBatch(messages: ConsumedMessage[]): Promise<void>;
  health(): { status: 'ok' | 'paused'; reason?: string };
}

export function createHl7Exporter(o: Hl7ExporterOptions): Hl7Exporter {
  const now = o.now ?? Date.now;
  const policy = { maxAttempts: Number.POSITIVE_INFINITY, baseDelayMs: 500, maxDelayMs: 30_000, ...o.backoff };
  const sent = o.metrics.counter('pb_hl7_messages_total', 'HL7 v2 messages ACKed by the receiver, by message type');
  const naks = o.metrics.counter('pb_hl7_naks_total', 'HL7 v2 negative acknowledgements and failed sends, by code');
  const paused = o.metrics.gauge('pb_hl7_export_paused', '1 while the HL7 export waits for the receiver');
  paused.set({}, 0);
  let client: MllpClient | undefined;
  let subscription: Subscription | undefined;
  let controller = new AbortController();
  let pause: string | undefined;

  const connection = async () => (client ??= new (await loadMllp()).Hl7Client({ host: o.host, port: o.port, keepAlive: true, connectTimeout: 5_000 }));
  const drop = async () => {
    const c = client;
    client = undefined;
    await c?.close().catch(() => {});
  };

  /** Sends one message until it is ACKed; throws PB_HL7_NAK on a reject (AR/CR). */
  const deliver = async (text: string, type: string, signal: AbortSignal): Promise<void> => {
    for (let round = 1; ; round++) {
      let reason: string;
      try {
        const ack = await (await connection()).sendAndWait(Hl7Message.parse(text), { timeoutMs: o.ackTimeoutMs ?? 10_000 });
        const code = ack.getSegment('MSA')?.getComponent(1, 1) ?? '';
        const detail = ack.getSegment('MSA')?.getComponent(3, 1) || ack.getSegment('ERR')?.toString() || '';
        if (code === 'AA' || code === 'CA') {
          sent.inc({ type });
          if (pause !== undefined) {
            o.logger.info('HL7 export resumed', { after: pause });
            pause = undefined;
            paused.set({}, 0);
          }
          return;
        }
        naks.inc({ code: code || 'none' });
        if (code === 'AR' || code === 'CR') throw new PulsebridgeError('PB_HL7_NAK', `HL7 receiver rejected ${type} (${code}${detail ? `: ${detail}` : ''})`, { details: { code, detail } });
        reason = `ACK ${code || '(none)'}${detail ? `: ${detail}` : ''}`;
      } catch (err) {
        if (err instanceof PulsebridgeError) throw err;
        if (signal.aborted) throw new PulsebridgeError('PB_FHIR_UNAVAILABLE', 'HL7 exporter stopping', { cause: err });
        naks.inc({ code: 'transport' });
        reason = (err as Error).message;
        await drop();
      }
      if (pause === undefined) o.logger.error('HL7 export paused: the receiver does not ACK; retrying until it does', { reason });
      pause = reason;
      paused.set({}, 1);
      try {
        await sleep(backoffDelayMs(round, policy) + policy.baseDelayMs / 2, signal);
      } catch (err) {
        throw new PulsebridgeError('PB_FHIR_UNAVAILABLE', 'HL7 exporter stopping', { cause: err });
      }
    }
  };

  const handleBatch = async (messages: ConsumedMessage[]) => {
    const signal = controller.signal;
    const dead: { message: ConsumedMessage; deviceId: string; reason: string; detail: string }[] = [];
    for (const message of messages) {
      let envelope: AlertEnvelope;
      try {
        envelope = JSON.parse(message.value.toString('utf8')) as AlertEnvelope;
        if (envelope?.schema !== 'pb.alert.v1' || typeof envelope.alert?.id !== 'string') throw new Error('not an alert envelope');
      } catch (err) {
        dead.push({ message, deviceId: 'unknown', reason: 'schema', detail: (err as Error).message });
        continue;
      }
      const alert = envelope.alert;
      try {
        const options: Hl7Options = { ...o.message, mrn: o.mrns.mrnOf(alert.patientId) };
        const at = new Date(now()).toISOString();
        const hr = alert.revision === 1 ? pcd01HeartRate(alert, options, at) : undefined;
        if (hr) await deliver(hr, 'ORU^R01', signal);
        await deliver(pcd04Alarm(alert, options, at), 'ORU^R40', signal);
      } catch (err) {
        if (signal.aborted) throw err;
        if (!(err instanceof PulsebridgeError) || (err.code !== 'PB_HL7_NAK' && err.code !== 'PB_EHR_PATIENT_UNKNOWN')) throw err;
        // An MRN missing from the configured file: an HL7 message without PID-3 is useless to the engine.
        dead.push({ message, deviceId: alert.deviceId, reason: err.code === 'PB_HL7_NAK' ? 'hl7_rejected' : 'mrn_unknown', detail: err.message });
      }
    }
    if (dead.length > 0) {
      await o.bus.publish(STREAMS.deadLetter, dead.map((d) => {
        const record: DeadLetterRecord = {
          schema: 'pb.deadletter.v1', deviceId: d.deviceId, topic: STREAMS.alerts, reason: d.reason, detail: d.detail,
          payloadBase64: d.message.value.toString('base64'), receivedAt: now(), source: 'ehr-exporter', stream: d.message.stream, key: d.message.key,
        };
        return { key: d.deviceId, value: Buffer.from(JSON.stringify(record)), headers: { 'pb-source-stream': d.message.stream, 'pb-source-offset': d.message.offset } };
      }));
    }
  };

  return {
    handleBatch,
    health: () => (pause === undefined ? { status: 'ok' } : { status: 'paused', reason: pause }),
    async start() {
      if (subscription) return;
      controller = new AbortController();
      subscription = await o.bus.subscribe(STREAMS.alerts, { groupId: o.groupId ?? 'hl7-exporter', fromBeginning: o.fromBeginning ?? true, onBatch: handleBatch });
    },
    async stop() {
      const s = subscription;
      subscription = undefined;
      const stopped = s?.stop();
      controller.abort();
      await stopped;
      await drop();
    },
  };
}
