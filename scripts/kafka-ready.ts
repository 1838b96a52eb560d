/**
 * Readiness probe for scripts/services.sh: exits 0 once the Kafka broker at the given address
 * answers a metadata request (list topics), 1 otherwise. A bare TCP connect is not enough: a
 * KRaft broker accepts connections before its metadata log is loaded.
 *
 * Usage: node scripts/kafka-ready.ts [host:port]   (default 127.0.0.1:9092)
 */
import { Kafka, logLevel } from 'kafkajs';

const broker = process.argv[2] ?? '127.0.0.1:9092';
const kafka = new Kafka({
  clientId: 'pulsebridge-ready-probe',
  brokers: [broker],
  connectionTimeout: 2_000,
  requestTimeout: 5_000,
  retry: { retries: 0 },
  logLevel: logLevel.NOTHING,
});
const admin = kafka.admin();
try {
  await admin.connect();
  const topics = await admin.listTopics();
  await admin.disconnect();
  process.stdout.write(`kafka at ${broker} is ready (${topics.length} topics)\n`);
  process.exit(0);
} catch (err) {
  process.stderr.write(`kafka at ${broker} is not ready: ${(err as Error).message}\n`);
  await admin.disconnect().catch(() => {});
  process.exit(1);
}
