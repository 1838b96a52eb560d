/**
 * Reads the dead-letter stream on Kafka for `pulsebridge deadletter` from any host: every
 * partition from its start to the high watermark taken when the read began (the stream keeps
 * growing; later records are for the next read). A throw-away consumer group, deleted afterwards,
 * so no committed position is left behind. The id of a record is `partition:offset` (the stream
 * has one partition, STREAM_PARTITIONS in platform/adapters.ts; the partition is in the id anyway).
 */
import { randomUUID } from 'node:crypto';
import { Kafka, logLevel, type IHeaders } from 'kafkajs';
import { STREAMS } from '../../contracts/topics.ts';
import { parseDeadLetter, type DeadLetterEntry } from './record.ts';
import { mendKafkajsRequestQueue } from '../bus/kafkajs-request-queue.ts';
import { kafkaClientSecurity, type KafkaSecurity } from '../bus/kafka-security.ts';

/** The start of each read's throw-away consumer group (its Kafka ACL is on this prefix: platform/bus/acl-spec.ts). */
export const DEAD_LETTER_READER_GROUP_PREFIX = 'pb-deadletter-reader-';

export interface KafkaDeadLetterSource {
  brokers: string[];
  clientId: string;
  /** TLS and SASL, as the bus uses them (config.bus.security). */
  security?: KafkaSecurity;
}

function headersOf(headers: IHeaders | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers ?? {})) if (v !== undefined) out[k] = Array.isArray(v) ? String(v[0]) : String(v);
  return out;
}

/**
 * Calls `visit` with every dead letter in offset order, per partition. `from` (an id) starts at
 * that record of its partition (for `show`, which stops at it by returning false).
 */
export async function scanKafkaDeadLetters(source: KafkaDeadLetterSource, visit: (entry: DeadLetterEntry) => boolean | void, options: { timeoutMs?: number; from?: string } = {}): Promise<void> {
  mendKafkajsRequestQueue();
  const kafka = new Kafka({ clientId: source.clientId, brokers: source.brokers, logLevel: logLevel.NOTHING, connectionTimeout: 3_000, retry: { retries: 3 }, ...kafkaClientSecurity(source.security) });
  const admin = kafka.admin();
  await admin.connect();
  const groupId = `${DEAD_LETTER_READER_GROUP_PREFIX}${randomUUID()}`;
  try {
    const offsets = await admin.fetchTopicOffsets(STREAMS.deadLetter);
    const from = options.from ? /^(\d+):(\d+)$/.exec(options.from) : null;
    const remaining = new Map<number, bigint>();
    const starts = new Map<number, bigint>();
    for (const o of offsets) {
      const high = BigInt(o.high);
      if (from && Number(from[1]) !== o.partition) continue;
      const start = from ? BigInt(from[2]!) : BigInt(o.low);
      if (high > start) { remaining.set(o.partition, high); starts.set(o.partition, start); }
    }
    if (remaining.size === 0) return;
    const consumer = kafka.consumer({ groupId, sessionTimeout: 10_000, heartbeatInterval: 1_000 });
    await consumer.connect();
    try {
      let stopped = false;
      const done = new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`reading ${STREAMS.deadLetter} did not finish within ${(options.timeoutMs ?? 60_000) / 1000} s`)), options.timeoutMs ?? 60_000);
        const finish = () => { clearTimeout(timer); resolve(); };
        consumer.subscribe({ topic: STREAMS.deadLetter, fromBeginning: true }).then(() => consumer.run({
          autoCommit: false,
          eachMessage: async ({ partition, message }) => {
            const high = remaining.get(partition);
            if (stopped || high === undefined) return;
            const offset = BigInt(message.offset);
            if (offset >= high || offset < (starts.get(partition) ?? 0n)) return;
            const record = message.value ? parseDeadLetter(message.value, message.key?.toString() ?? '', headersOf(message.headers)) : undefined;
            if (record && visit({ id: `${partition}:${message.offset}`, record }) === false) { stopped = true; finish(); return; }
            if (offset + 1n >= high) {
              remaining.delete(partition);
              if (remaining.size === 0) { stopped = true; finish(); }
            }
          },
        })).then(() => {
          if (from) for (const p of remaining.keys()) consumer.seek({ topic: STREAMS.deadLetter, partition: p, offset: from[2]! });
        }, reject);
      });
      await done;
    } finally {
      await consumer.disconnect().catch(() => {});
    }
  } finally {
    await admin.deleteGroups([groupId]).catch(() => {});
    await admin.disconnect().catch(() => {});
  }
}
