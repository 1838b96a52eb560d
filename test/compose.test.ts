/**
 * docker-compose.yml is the operators' contract (product.md "operators"): it must parse, describe
 * the whole production stack, and configure every Pulsebridge component only through environment
 * variables that platform/config.ts accepts, selecting Kafka and InfluxDB.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { loadConfig } from '../platform/config.ts';

const root = path.resolve(import.meta.dirname, '..');
const composeText = fs.readFileSync(path.join(root, 'docker-compose.yml'), 'utf8');

interface ComposeService {
  image?: string;
  build?: unknown;
  command?: string[];
  environment?: Record<string, unknown> | string[];
  profiles?: string[];
  depends_on?: Record<string, unknown>;
}

/**
 * The secrets compose refuses to start without (`${NAME:?message}`): no default password or token
 * may be written in the repository (session 33's security review: the admin token and password
 * had trial defaults). The test supplies these values, as an operator's .env file would.
 */
const REQUIRED_SECRETS: Record<string, string> = { INFLUX_TOKEN: 'token-from-the-env-file', INFLUX_ADMIN_PASSWORD: 'password-from-the-env-file' };

/**
 * Compose's interpolation with a shell environment holding only {@link REQUIRED_SECRETS}:
 * `${NAME:-default}` and `${NAME-default}` give the default, `${NAME:?message}` the secret, `$$` a
 * dollar; any other variable without a default would be unset, which this test refuses.
 */
function interpolate(value: string): string {
  return value.replace(/\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?-)([^}]*)|:\?([^}]*))?\}/g, (match, name: string | undefined, dash: string | undefined, fallback: string | undefined, required: string | undefined) => {
    if (match === '$$') return '$';
    if (required !== undefined) {
      const secret = REQUIRED_SECRETS[name!];
      if (secret === undefined) throw new Error(`\${${name}:?…} is required by docker-compose.yml but is not a listed secret`);
      return secret;
    }
    if (dash === undefined) throw new Error(`\${${name}} has no default in docker-compose.yml`);
    return fallback ?? '';
  });
}

/** A service's environment as compose passes it to the container. */
function environmentOf(service: ComposeService): Record<string, string> {
  const raw = service.environment ?? {};
  const entries = Array.isArray(raw) ? raw.map((line) => line.split(/=(.*)/s).slice(0, 2) as [string, string]) : Object.entries(raw);
  return Object.fromEntries(entries.map(([k, v]) => [k, interpolate(String(v ?? ''))]));
}

// Compose files use YAML merge keys (`<<: *anchor`), which YAML 1.2 leaves off by default.
const compose = parse(composeText, { merge: true }) as { services: Record<string, ComposeService> };
const COMPONENTS = ['gateway', 'processor', 'dashboard-api', 'ehr-exporter', 'sim'] as const;

describe('docker-compose.yml', () => {
  it('declares Kafka, InfluxDB and every Pulsebridge component, with the simulator only under the sim profile', () => {
    expect(Object.keys(compose.services).sort()).toEqual(['dashboard-api', 'ehr-exporter', 'gateway', 'influxdb', 'kafka', 'processor', 'sim']);
    expect(compose.services.kafka!.image).toMatch(/^apache\/kafka:3\.9\./);
    expect(compose.services.influxdb!.image).toMatch(/^influxdb:2\./);
    expect(Object.fromEntries(COMPONENTS.map((c) => [c, compose.services[c]!.profiles]))).toEqual({
      gateway: undefined,
      processor: undefined,
      'dashboard-api': undefined,
      'ehr-exporter': undefined,
      sim: ['sim'],
    });
  });

  it('runs each component from the one image with node cli/main.ts <component>', () => {
    for (const name of COMPONENTS) {
      const service = compose.services[name]!;
      expect({ name, build: service.build, image: service.image, command: service.command?.slice(0, 3) }).toEqual({
        name,
        build: '.',
        image: 'pulsebridge:latest',
        command: ['node', 'cli/main.ts', name === 'sim' ? 'sim' : name],
      });
    }
  });

  it('gives every component an environment that loadConfig accepts and that selects Kafka and InfluxDB', () => {
    const influxEnv = environmentOf(compose.services.influxdb!);
    for (const name of COMPONENTS) {
      const config = loadConfig(environmentOf(compose.services[name]!));
      expect({ name, bus: config.bus, store: config.store }).toEqual({
        name,
        bus: { kind: 'kafka', brokers: ['kafka:9092'], clientId: `pulsebridge-${name}` },
        store: {
          kind: 'influxdb',
          url: 'http://influxdb:8086',
          // The v1 database is the bucket the DBRP init script maps, and the token is the one InfluxDB was set up with.
          database: influxEnv.DOCKER_INFLUXDB_INIT_BUCKET,
          token: influxEnv.DOCKER_INFLUXDB_INIT_ADMIN_TOKEN,
          username: undefined,
          password: undefined,
        },
      });
    }
  });

  it('writes no secret: InfluxDB\'s admin token and password have no default and must be set (.env)', () => {
    for (const name of Object.keys(REQUIRED_SECRETS)) {
      expect(composeText).not.toMatch(new RegExp(`\\$\\{${name}:?-`));
      expect(composeText).toMatch(new RegExp(`\\$\\{${name}:\\?`));
    }
    const influxEnv = environmentOf(compose.services.influxdb!);
    expect(influxEnv.DOCKER_INFLUXDB_INIT_PASSWORD).toBe(REQUIRED_SECRETS.INFLUX_ADMIN_PASSWORD);
    expect(influxEnv.DOCKER_INFLUXDB_INIT_ADMIN_TOKEN).toBe(REQUIRED_SECRETS.INFLUX_TOKEN);
  });

  it('keeps the dashboard API off the gateway\'s volume, which holds the device CA key', () => {
    const volumesOf = (name: string) => ((compose.services[name] as { volumes?: string[] }).volumes ?? []).map((v) => v.split(':')[0]);
    expect(volumesOf('gateway')).toContain('pulsebridge-data');
    expect(volumesOf('dashboard-api')).toEqual(['dashboard-data']);
    for (const name of ['processor', 'ehr-exporter']) expect(volumesOf(name)).not.toContain('pulsebridge-data');
  });

  it('publishes the dashboard API only on the host\'s loopback (plain HTTP: a TLS proxy goes in front)', () => {
    expect((compose.services['dashboard-api'] as { ports?: string[] }).ports).toEqual(['127.0.0.1:8080:8080']);
  });

  it('makes the components wait for healthy Kafka and InfluxDB', () => {
    for (const name of ['gateway', 'processor', 'dashboard-api', 'ehr-exporter']) {
      expect(compose.services[name]!.depends_on).toEqual({ kafka: { condition: 'service_healthy' }, influxdb: { condition: 'service_healthy' } });
    }
  });

  it('advertises the Kafka listener the components connect to, and maps the v1 database onto the InfluxDB bucket', () => {
    const kafkaEnv = environmentOf(compose.services.kafka!);
    expect(kafkaEnv.KAFKA_ADVERTISED_LISTENERS).toBe('PLAINTEXT://kafka:9092');
    expect(kafkaEnv.KAFKA_PROCESS_ROLES).toBe('broker,controller');
    const initScript = fs.readFileSync(path.join(root, 'infra/influxdb/init/v1-dbrp.sh'), 'utf8');
    expect(initScript).toMatch(/influx v1 dbrp create[\s\S]*--db "\$\{DOCKER_INFLUXDB_INIT_BUCKET\}"/);
  });
});

describe('Dockerfile', () => {
  it('builds on Node 24 and installs only production dependencies', () => {
    const dockerfile = fs.readFileSync(path.join(root, 'Dockerfile'), 'utf8');
    expect(dockerfile).toMatch(/^FROM node:24(-slim)?\s*$/m);
    expect(dockerfile).toMatch(/^RUN npm ci --omit=dev\b/m);
  });
});
