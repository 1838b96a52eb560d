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
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'vitest';
import { kafkaAnswers } from '../../platform/bus/index.ts';
import { loadConfig } from '../../platform/config.ts';

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

/**
 * The local broker's SASL_SSL listener (scripts/services.sh: same broker, TLS with a throw-away CA,
 * SCRAM user), from the settings file services.sh writes at each broker start:
 * KAFKA_SASL_SSL_ENV, or <SERVICES_STATE_DIR or .services>/kafka/sasl-ssl/sasl-ssl.env. Its keys
 * are the product's KAFKA_SSL* / KAFKA_SASL_* settings plus KAFKA_SASL_SSL_BROKERS and the
 * client certificate the listener accepts (SERVICES_KAFKA_SASL_CLIENT_CERT/_KEY). Undefined
 * without that file (the tests then skip, or fail in CI).
 */
export const kafkaSaslSslEnvFile: string = process.env.KAFKA_SASL_SSL_ENV
  ?? path.join(process.env.SERVICES_STATE_DIR ?? path.resolve(import.meta.dirname, '..', '..', '.services'), 'kafka', 'sasl-ssl', 'sasl-ssl.env');

export const kafkaSaslSsl: Readonly<Record<string, string>> | undefined = (() => {
  let text: string;
  try {
    text = fs.readFileSync(kafkaSaslSslEnvFile, 'utf8');
  } catch {
    return undefined;
  }
  const settings: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^([A-Z0-9_]+)=(.*)$/.exec(line.trim());
    if (m) settings[m[1]!] = m[2]!;
  }
  return settings.KAFKA_SASL_SSL_BROKERS ? settings : undefined;
})();

/** The product's settings for the SASL_SSL listener (PULSEBRIDGE_BUS=kafka, its brokers, TLS, SCRAM), for loadConfig. */
export function kafkaSaslSslSettings(): Record<string, string> {
  if (!kafkaSaslSsl) throw new Error(`no SASL_SSL listener settings at ${kafkaSaslSslEnvFile}: run \`bash scripts/services.sh start\``);
  const product = Object.fromEntries(Object.entries(kafkaSaslSsl).filter(([k]) => k.startsWith('KAFKA_') && k !== 'KAFKA_SASL_SSL_BROKERS'));
  return { ...product, PULSEBRIDGE_BUS: 'kafka', KAFKA_BROKERS: kafkaSaslSsl.KAFKA_SASL_SSL_BROKERS! };
}

let kafkaSaslSslProbe: Promise<boolean> | undefined;

/** Whether the SASL_SSL listener answers a metadata request with its settings (memoised per test file). */
export function kafkaSaslSslAvailable(): Promise<boolean> {
  kafkaSaslSslProbe ??= (async () => {
    if (!kafkaSaslSsl) return false;
    const config = loadConfig(kafkaSaslSslSettings());
    return config.bus.kind === 'kafka' && kafkaAnswers([...config.bus.brokers], 'pulsebridge-test-probe', config.bus.security);
  })();
  return kafkaSaslSslProbe;
}
