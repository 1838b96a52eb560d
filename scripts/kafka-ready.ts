/**
 * Readiness probe for scripts/services.sh: exits 0 once the Kafka broker at the given address
 * answers a metadata request (platform/bus/kafka.ts `kafkaAnswers`), 1 otherwise.
 *
 * Usage: node scripts/kafka-ready.ts [host:port]   (default 127.0.0.1:9092)
 */
import { kafkaAnswers } from '../platform/bus/index.ts';

const broker = process.argv[2] ?? '127.0.0.1:9092';
if (await kafkaAnswers([broker], 'pulsebridge-ready-probe')) {
  process.stdout.write(`kafka at ${broker} is ready\n`);
  process.exit(0);
}
process.stderr.write(`kafka at ${broker} is not ready\n`);
process.exit(1);
