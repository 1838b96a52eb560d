/**
 * Readiness probe for scripts/services.sh: exits 0 once the Kafka broker at the given address
 * answers a metadata request (platform/bus/kafka.ts `kafkaAnswers`), 1 otherwise.
 *
 * Usage: node scripts/kafka-ready.ts [host:port]   (default 127.0.0.1:9092; PLAINTEXT, the
 *          environment is not read)
 *        node scripts/kafka-ready.ts --secure host:port   (TLS and SASL from the product's
 *          KAFKA_SSL* and KAFKA_SASL_* settings in the environment, checked as the product checks them)
 */
import { kafkaAnswers } from '../platform/bus/index.ts';
import type { KafkaSecurity } from '../platform/bus/index.ts';
import { loadConfig } from '../platform/config.ts';

const secure = process.argv[2] === '--secure';
const broker = process.argv[secure ? 3 : 2] ?? '127.0.0.1:9092';
let security: KafkaSecurity | undefined;
if (secure) {
  const config = loadConfig({ ...process.env, PULSEBRIDGE_BUS: 'kafka', KAFKA_BROKERS: broker });
  security = config.bus.kind === 'kafka' ? config.bus.security : undefined;
  if (!security) {
    process.stderr.write('--secure needs KAFKA_SSL=true and/or KAFKA_SASL_MECHANISM in the environment\n');
    process.exit(2);
  }
}
if (await kafkaAnswers([broker], 'pulsebridge-ready-probe', security)) {
  process.stdout.write(`kafka at ${broker} is ready\n`);
  process.exit(0);
}
process.stderr.write(`kafka at ${broker} is not ready\n`);
process.exit(1);
