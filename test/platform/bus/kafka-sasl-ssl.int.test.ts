/**
 * The Kafka adapter against a broker that asks for TLS and SASL (security review finding 7): the
 * SASL_SSL listener scripts/services.sh opens on the same broker as the PLAINTEXT one (throw-away
 * CA made at start, SCRAM user `pulsebridge`; settings in <state>/kafka/sasl-ssl/sasl-ssl.env).
 * Every client here is configured as an operator would: environment → loadConfig → openBus.
 * Each refusal must come as an error naming what to check, within a bounded time, never a hang.
 */
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { KafkaBus } from '../../../platform/bus/index.ts';
import type { Bus, ConsumedMessage } from '../../../platform/bus/index.ts';
import { openBus } from '../../../platform/adapters.ts';
import { loadConfig } from '../../../platform/config.ts';
import { PulsebridgeError } from '../../../platform/errors.ts';
import { silentLogger } from '../../../platform/log.ts';
import { describeWithService, kafkaSaslSsl, kafkaSaslSslAvailable, kafkaSaslSslSettings } from '../../helpers/services.ts';

const streamName = (what: string) => `pb.test.sasl.${what}.${randomUUID()}`;

/** A bus opened like the product opens it: environment → loadConfig → openBus. */
async function busFrom(env: Record<string, string>): Promise<Bus> {
  const config = loadConfig(env);
  return openBus({ bus: config.bus, streams: { telemetryPartitions: 1 } }, silentLogger);
}

/** How a bus that must not open fails: the error and how long it took. */
async function refusal(env: Record<string, string>): Promise<{ error: PulsebridgeError; ms: number }> {
  const started = Date.now();
  let bus: Bus | undefined;
  try {
    bus = await busFrom(env);
  } catch (err) {
    return { error: err as PulsebridgeError, ms: Date.now() - started };
  } finally {
    await bus?.close();
  }
  throw new Error('the bus opened, but the broker should have refused it');
}

/** Publishes one message on a fresh stream and reads it back through a subscription. */
async function roundTrip(bus: Bus, what: string): Promise<ConsumedMessage> {
  const stream = streamName(what);
  await bus.ensureStreams([{ name: stream, partitions: 1 }]);
  let got: (m: ConsumedMessage) => void = () => {};
  const received = new Promise<ConsumedMessage>((resolve) => (got = resolve));
  const subscription = await bus.subscribe(stream, {
    groupId: `pb-test-sasl-${randomUUID()}`, fromBeginning: true, ephemeralGroup: true,
    onBatch: async (batch) => { if (batch[0]) got(batch[0]); },
  });
  try {
    await bus.publish(stream, [{ key: 'patient-7', value: Buffer.from(`ecg over ${what}`), headers: { 'content-type': 'text/plain' } }]);
    return await received;
  } finally {
    await subscription.stop();
  }
}

/** Refusals are retried by kafkajs with back-off; they must still end well within this. */
const BOUND_MS = 30_000;

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'pb-kafka-sasl-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

await describeWithService('KafkaBus over SASL_SSL (TLS + SCRAM) against a real broker', kafkaSaslSslAvailable, () => {
  const settings = kafkaSaslSsl ? kafkaSaslSslSettings() : {};

  it('publishes and consumes through a bus opened from KAFKA_SSL, KAFKA_SSL_CA_FILE and SCRAM-SHA-512 settings', async () => {
    expect(settings).toMatchObject({ KAFKA_SSL: 'true', KAFKA_SASL_MECHANISM: 'scram-sha-512' });
    expect(settings.KAFKA_SASL_PASSWORD_FILE).toBeTruthy();
    const bus = await busFrom(settings);
    try {
      const m = await roundTrip(bus, 'scram-sha-512');
      expect({ key: m.key, value: m.value.toString('utf8'), headers: m.headers }).toEqual({
        key: 'patient-7', value: 'ecg over scram-sha-512', headers: { 'content-type': 'text/plain' },
      });
    } finally {
      await bus.close();
    }
  });

  it('logs in with SCRAM-SHA-256 and with PLAIN inside TLS, the password given in the environment', async () => {
    const password = fs.readFileSync(settings.KAFKA_SASL_PASSWORD_FILE!, 'utf8');
    const { KAFKA_SASL_PASSWORD_FILE: _file, ...rest } = settings;
    for (const mechanism of ['SCRAM-SHA-256', 'plain']) {
      const bus = await busFrom({ ...rest, KAFKA_SASL_MECHANISM: mechanism, KAFKA_SASL_PASSWORD: password });
      try {
        expect((await roundTrip(bus, mechanism.toLowerCase())).value.toString('utf8')).toBe(`ecg over ${mechanism.toLowerCase()}`);
      } finally {
        await bus.close();
      }
    }
  });

  it('connects with a client certificate (mutual TLS) from KAFKA_SSL_CLIENT_CERT/_KEY', async () => {
    const bus = await busFrom({ ...settings, KAFKA_SSL_CLIENT_CERT: kafkaSaslSsl!.SERVICES_KAFKA_SASL_CLIENT_CERT!, KAFKA_SSL_CLIENT_KEY: kafkaSaslSsl!.SERVICES_KAFKA_SASL_CLIENT_KEY! });
    try {
      expect((await roundTrip(bus, 'mtls')).key).toBe('patient-7');
    } finally {
      await bus.close();
    }
  });

  it('a wrong password is refused at once with an error naming the SASL settings', async () => {
    const wrong = path.join(tmp, 'wrong-password');
    fs.writeFileSync(wrong, 'not-the-password\n', { mode: 0o600 });
    const { error, ms } = await refusal({ ...settings, KAFKA_SASL_PASSWORD_FILE: wrong });
    expect(error).toBeInstanceOf(PulsebridgeError);
    expect(error.code).toBe('PB_BUS_UNAVAILABLE');
    expect(error.message).toMatch(/SASL SCRAM SHA512 authentication failed/);
    expect(error.message).toMatch(/check KAFKA_SASL_USERNAME, KAFKA_SASL_PASSWORD_FILE/);
    // Not retried: a refused login is final.
    expect(ms).toBeLessThan(5_000);
  });

  it('an unknown user is refused the same way', async () => {
    const { error, ms } = await refusal({ ...settings, KAFKA_SASL_USERNAME: `nobody-${randomUUID()}` });
    expect(error.message).toMatch(/authentication failed.*invalid credentials/);
    expect(ms).toBeLessThan(5_000);
  });

  it('a client that does not trust the broker\'s CA (default roots only) refuses the broker: certificate verification', async () => {
    const { KAFKA_SSL_CA_FILE: _ca, ...withoutCa } = settings;
    const { error, ms } = await refusal(withoutCa);
    expect(error.code).toBe('PB_BUS_UNAVAILABLE');
    expect(error.message).toMatch(/unable to verify the first certificate/);
    expect(error.message).toMatch(/check KAFKA_SSL_CA_FILE/);
    expect(ms).toBeLessThan(BOUND_MS);
  });

  it('a KAFKA_SSL_CA_FILE that did not issue the broker\'s certificate does not make it trusted', async () => {
    const foreignKey = path.join(tmp, 'foreign-ca.key');
    const foreignCa = path.join(tmp, 'foreign-ca.crt');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', foreignKey, '-out', foreignCa, '-days', '1', '-subj', '/CN=Foreign CA'], { stdio: 'ignore' });
    const { error } = await refusal({ ...settings, KAFKA_SSL_CA_FILE: foreignCa });
    expect(error.message).toMatch(/unable to verify the first certificate/);
  });

  it('verifies the host name: the broker\'s certificate names 127.0.0.1, so "localhost" is refused', async () => {
    const port = settings.KAFKA_BROKERS!.split(':')[1];
    const { error, ms } = await refusal({ ...settings, KAFKA_BROKERS: `localhost:${port}` });
    expect(error.message).toMatch(/Hostname\/IP does not match certificate's altnames: Host: localhost/);
    expect(error.message).toMatch(/ERR_TLS_CERT_ALTNAME_INVALID/);
    expect(ms).toBeLessThan(BOUND_MS);
  });

  it('PLAINTEXT to the SASL_SSL port fails, within a bounded time, and publishes nothing', async () => {
    const started = Date.now();
    const bus = new KafkaBus({ brokers: [settings.KAFKA_BROKERS!], logger: silentLogger, publishTimeoutMs: 15_000 });
    try {
      const created = await bus.ensureStreams([{ name: streamName('plaintext'), partitions: 1 }]).then(() => 'created', (err: unknown) => err as PulsebridgeError);
      expect(created).toBeInstanceOf(PulsebridgeError);
      expect((created as PulsebridgeError).message).toMatch(/could not create streams .*: Closed connection/);
      const published = await bus.publish(streamName('plaintext'), [{ key: 'k', value: Buffer.from('v') }]).then(() => 'published', (err: unknown) => err as PulsebridgeError);
      expect((published as PulsebridgeError).code).toBe('PB_BUS_UNAVAILABLE');
    } finally {
      await bus.close();
    }
    expect(Date.now() - started).toBeLessThan(2 * BOUND_MS);
  });

  it('TLS without the SASL login is closed by the listener, with a hint to set KAFKA_SASL_*', async () => {
    const { KAFKA_SASL_MECHANISM: _m, KAFKA_SASL_USERNAME: _u, KAFKA_SASL_PASSWORD_FILE: _p, ...tlsOnly } = settings;
    const { error, ms } = await refusal(tlsOnly);
    expect(error.message).toMatch(/Closed connection \(the broker closed the connection: if its listener is SASL_SSL, set KAFKA_SASL_MECHANISM/);
    expect(ms).toBeLessThan(BOUND_MS);
  });
});
