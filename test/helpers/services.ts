/**
 * Real services for `*.int.test.ts` files: where they are, whether they answer, and the rule that
 * an unreachable service SKIPS the tests on a developer machine but FAILS them in CI
 * (PULSEBRIDGE_REQUIRE_SERVICES=1, set by .ci/run after scripts/services.sh start).
 *
 * Start them locally with `bash scripts/services.sh start` (Kafka 127.0.0.1:9092, InfluxDB
 * http://127.0.0.1:8086). Tests may read the environment; product code below main may not.
 *
 * Usage in a test file (top-level await is fine in vitest):
 *
 *   import { describeWithService, kafkaAvailable, kafkaBrokers } from './services.ts';
 *   await describeWithService('KafkaBus against a real broker', kafkaAvailable, () => {
 *     it('…', async () => { const bus = new KafkaBus({ brokers: kafkaBrokers }); … });
 *   });
 *
 * or `const kafka = await requireService('kafka', kafkaAvailable); it.runIf(kafka)(…)`.
 */
import { describe, it } from 'vitest';
import { kafkaAnswers } from '../../platform/bus/index.ts';

/** Kafka bootstrap brokers: KAFKA_BROKERS (comma-separated) or the local single-node broker. */
export const kafkaBrokers: string[] = (process.env.KAFKA_BROKERS ?? '127.0.0.1:9092')
  .split(',')
  .map((b) => b.trim())
  .filter(Boolean);

/** InfluxDB base URL (v1 HTTP API): INFLUX_URL or the local InfluxDB 1.x. */
export const influxUrl: string = (process.env.INFLUX_URL ?? 'http://127.0.0.1:8086').replace(/\/+$/, '');

/** Optional credentials for a secured InfluxDB (2.x/3.x v1 compatibility token, or 1.x user). */
export const influxAuth: { token?: string; username?: string; password?: string } = {
  ...(process.env.INFLUX_TOKEN ? { token: process.env.INFLUX_TOKEN } : {}),
  ...(process.env.INFLUX_USERNAME ? { username: process.env.INFLUX_USERNAME } : {}),
  ...(process.env.INFLUX_PASSWORD ? { password: process.env.INFLUX_PASSWORD } : {}),
};

/** True in CI: a missing service is a failure, not a skip. */
export const servicesRequired: boolean = process.env.PULSEBRIDGE_REQUIRE_SERVICES === '1';

let kafkaProbe: Promise<boolean> | undefined;
let influxProbe: Promise<boolean> | undefined;

/** Whether the Kafka cluster answers a metadata request (memoised per test file). */
export function kafkaAvailable(): Promise<boolean> {
  kafkaProbe ??= kafkaAnswers(kafkaBrokers, 'pulsebridge-test-probe');
  return kafkaProbe;
}

/** Whether InfluxDB answers GET /ping with 204 (memoised per test file). */
export function influxAvailable(): Promise<boolean> {
  influxProbe ??= (async () => {
    try {
      const res = await fetch(`${influxUrl}/ping`, { signal: AbortSignal.timeout(3_000) });
      return res.status === 204;
    } catch {
      return false;
    }
  })();
  return influxProbe;
}

/**
 * Resolves true when the service answers. When it does not: resolves false locally (callers skip)
 * and throws in CI, which fails the test file with the reason.
 */
export async function requireService(name: string, probe: () => Promise<boolean>): Promise<boolean> {
  if (await probe()) return true;
  if (servicesRequired) {
    throw new Error(`${name} is not reachable but PULSEBRIDGE_REQUIRE_SERVICES=1: start it with \`bash scripts/services.sh start\``);
  }
  return false;
}

/**
 * `describe` that runs when the service answers; otherwise the block is skipped locally, and in CI
 * (PULSEBRIDGE_REQUIRE_SERVICES=1) replaced by one failing test naming the missing service.
 */
export async function describeWithService(name: string, probe: () => Promise<boolean>, fn: () => void): Promise<void> {
  if (await probe()) {
    describe(name, fn);
  } else if (servicesRequired) {
    describe(name, () => {
      it('needs its service, which is not reachable', () => {
        throw new Error(`service for "${name}" is not reachable but PULSEBRIDGE_REQUIRE_SERVICES=1: run \`bash scripts/services.sh start\``);
      });
    });
  } else {
    describe.skip(`${name} (service not reachable: run \`bash scripts/services.sh start\`)`, fn);
  }
}
