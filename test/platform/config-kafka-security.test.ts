/**
 * KAFKA_SSL* and KAFKA_SASL_* (security review finding 7): what loadConfig accepts and refuses, and
 * what the Kafka adapter makes of the files (platform/bus/kafka-security.ts). The broker side is
 * test/platform/bus/kafka-sasl-ssl.int.test.ts.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../platform/config.ts';
import { kafkaClientSecurity } from '../../platform/bus/index.ts';

const kafka = { PULSEBRIDGE_BUS: 'kafka', KAFKA_BROKERS: 'kafka-1.hospital:9094,kafka-2.hospital:9094' };
const scram = { KAFKA_SASL_MECHANISM: 'scram-sha-512', KAFKA_SASL_USERNAME: 'pulsebridge', KAFKA_SASL_PASSWORD_FILE: '/run/secrets/kafka' };

function refusal(env: Record<string, string>): string {
  try {
    loadConfig(env);
  } catch (err) {
    expect((err as { code?: string }).code).toBe('PB_CONFIG_INVALID');
    return (err as Error).message;
  }
  throw new Error('loadConfig accepted it');
}

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'pb-kafka-config-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
const file = (name: string, text: string) => {
  const p = path.join(tmp, name);
  fs.writeFileSync(p, text, { mode: 0o600 });
  return p;
};

describe('Kafka TLS and SASL settings (loadConfig)', () => {
  it('without them the Kafka bus is PLAINTEXT, exactly as before (no security key at all)', () => {
    expect(loadConfig(kafka).bus).toStrictEqual({ kind: 'kafka', brokers: ['kafka-1.hospital:9094', 'kafka-2.hospital:9094'], clientId: 'pulsebridge' });
    expect(loadConfig({ ...kafka, KAFKA_SSL: 'false' }).bus).toStrictEqual(loadConfig(kafka).bus);
  });

  it('KAFKA_SSL with a CA, a client certificate and SCRAM from a password file', () => {
    const config = loadConfig({
      ...kafka, ...scram, KAFKA_SSL: 'true', KAFKA_SSL_CA_FILE: '/etc/pb/kafka-ca.pem', KAFKA_SSL_CLIENT_CERT: '/etc/pb/c.pem', KAFKA_SSL_CLIENT_KEY: '/etc/pb/c.key',
    });
    expect(config.bus).toStrictEqual({
      kind: 'kafka', brokers: ['kafka-1.hospital:9094', 'kafka-2.hospital:9094'], clientId: 'pulsebridge',
      security: {
        tls: { caFile: '/etc/pb/kafka-ca.pem', certFile: '/etc/pb/c.pem', keyFile: '/etc/pb/c.key' },
        sasl: { mechanism: 'scram-sha-512', username: 'pulsebridge', passwordFile: '/run/secrets/kafka' },
      },
    });
  });

  it('takes the mechanism in Kafka\'s spelling too, and a password in the environment', () => {
    const config = loadConfig({ ...kafka, KAFKA_SSL: 'true', KAFKA_SASL_MECHANISM: 'SCRAM-SHA-256', KAFKA_SASL_USERNAME: 'u', KAFKA_SASL_PASSWORD: 'p' });
    expect(config.bus.kind === 'kafka' && config.bus.security).toStrictEqual({ tls: {}, sasl: { mechanism: 'scram-sha-256', username: 'u', password: 'p' } });
  });

  it('refuses a mechanism without its username and password', () => {
    const message = refusal({ ...kafka, KAFKA_SSL: 'true', KAFKA_SASL_MECHANISM: 'scram-sha-512' });
    expect(message).toMatch(/KAFKA_SASL_USERNAME: required when KAFKA_SASL_MECHANISM is set/);
    expect(message).toMatch(/KAFKA_SASL_PASSWORD_FILE: KAFKA_SASL_PASSWORD_FILE \(or KAFKA_SASL_PASSWORD\) is required/);
  });

  it('refuses PLAIN without TLS: the password would travel in clear', () => {
    expect(refusal({ ...kafka, ...scram, KAFKA_SASL_MECHANISM: 'plain' })).toMatch(/KAFKA_SASL_MECHANISM: plain sends the password in clear without TLS: set KAFKA_SSL=true/);
    expect(() => loadConfig({ ...kafka, ...scram, KAFKA_SASL_MECHANISM: 'plain', KAFKA_SSL: 'true' })).not.toThrow();
  });

  it('refuses an unknown mechanism, SASL settings without a mechanism, and both password settings', () => {
    expect(refusal({ ...kafka, ...scram, KAFKA_SASL_MECHANISM: 'gssapi' })).toMatch(/KAFKA_SASL_MECHANISM/);
    expect(refusal({ ...kafka, KAFKA_SASL_USERNAME: 'u', KAFKA_SASL_PASSWORD_FILE: '/f' })).toMatch(/KAFKA_SASL_USERNAME: needs KAFKA_SASL_MECHANISM/);
    expect(refusal({ ...kafka, ...scram, KAFKA_SASL_PASSWORD: 'p' })).toMatch(/KAFKA_SASL_PASSWORD: set KAFKA_SASL_PASSWORD_FILE or KAFKA_SASL_PASSWORD, not both/);
  });

  it('refuses TLS files without KAFKA_SSL (never PLAINTEXT when TLS was meant), and a certificate without its key', () => {
    expect(refusal({ ...kafka, KAFKA_SSL_CA_FILE: '/ca.pem' })).toMatch(/KAFKA_SSL_CA_FILE: is for TLS to Kafka: set KAFKA_SSL=true/);
    expect(refusal({ ...kafka, KAFKA_SSL: 'true', KAFKA_SSL_CLIENT_CERT: '/c.pem' })).toMatch(/KAFKA_SSL_CLIENT_KEY: KAFKA_SSL_CLIENT_CERT and KAFKA_SSL_CLIENT_KEY go together/);
  });

  it('refuses a scheme in KAFKA_BROKERS (SASL_SSL://…) and says which settings mean it', () => {
    expect(refusal({ ...kafka, KAFKA_BROKERS: 'SASL_SSL://kafka-1:9094' })).toMatch(/KAFKA_BROKERS: is host:port.*without a scheme: for TLS set KAFKA_SSL=true/);
  });
});

describe('kafkaClientSecurity (the files, read when a client is made)', () => {
  const caKey = path.join(tmp, 'ca.key');
  const caCert = path.join(tmp, 'ca.crt');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', caKey, '-out', caCert, '-days', '1', '-subj', '/CN=Test CA'], { stdio: 'ignore' });
  const otherKey = path.join(tmp, 'other.key');
  execFileSync('openssl', ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', otherKey], { stdio: 'ignore' });

  it('adds nothing for PLAINTEXT', () => {
    expect(kafkaClientSecurity(undefined)).toStrictEqual({});
  });

  it('verifies the broker always, trusts the CA file besides the default roots, and sends the client certificate', () => {
    const { ssl } = kafkaClientSecurity({ tls: { caFile: caCert, certFile: caCert, keyFile: caKey } });
    expect(ssl).toMatchObject({ rejectUnauthorized: true, cert: fs.readFileSync(caCert, 'utf8'), key: fs.readFileSync(caKey, 'utf8') });
    const ca = (ssl as tls.ConnectionOptions).ca as string[];
    expect(ca).toContain(fs.readFileSync(caCert, 'utf8'));
    expect(ca.length).toBe(tls.getCACertificates('default').length + 1);
    expect(kafkaClientSecurity({ tls: {} }).ssl).toStrictEqual({ rejectUnauthorized: true });
  });

  it('reads the password file without its trailing line break', () => {
    const pw = file('password', 's3cret-with space \n');
    expect(kafkaClientSecurity({ sasl: { mechanism: 'scram-sha-512', username: 'u', passwordFile: pw } }).sasl).toStrictEqual({ mechanism: 'scram-sha-512', username: 'u', password: 's3cret-with space ' });
  });

  it('names the setting and the file when one cannot be used', () => {
    const missing = path.join(tmp, 'missing.pem');
    expect(() => kafkaClientSecurity({ tls: { caFile: missing } })).toThrow(new RegExp(`cannot read KAFKA_SSL_CA_FILE ${missing}: ENOENT`));
    expect(() => kafkaClientSecurity({ tls: { caFile: file('not-pem', 'hello') } })).toThrow(/KAFKA_SSL_CA_FILE .*not-pem is not a PEM certificate/);
    expect(() => kafkaClientSecurity({ tls: { certFile: caCert, keyFile: otherKey } })).toThrow(/KAFKA_SSL_CLIENT_KEY .*other.key is not the key of KAFKA_SSL_CLIENT_CERT/);
    expect(() => kafkaClientSecurity({ sasl: { mechanism: 'plain', username: 'u', passwordFile: file('empty', '\n') } })).toThrow(/KAFKA_SASL_PASSWORD_FILE .*empty is empty/);
    expect(() => kafkaClientSecurity({ sasl: { mechanism: 'plain', username: 'u', passwordFile: missing } })).toThrow(/cannot read KAFKA_SASL_PASSWORD_FILE/);
  });
});
