/**
 * scripts/services.sh keeps the SASL_SSL listener's CA and certificates across broker restarts: a
 * running client holds the CA it read at its start, so a new CA at `stop kafka; start kafka` left
 * every SASL_SSL component refusing the restarted broker ("unable to verify the first
 * certificate") until restarted itself (hardened walk, 2026-12-07). Runs the script's PKI step
 * alone (the script sourced: functions only), no broker.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';

const SCRIPT = path.resolve(import.meta.dirname, '..', '..', 'scripts', 'services.sh');
const dirs: string[] = [];
afterEach(() => { for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true }); });

function prepare(state: string, port = 39094): void {
  const r = spawnSync('bash', ['-c', `source "${SCRIPT}" && prepare_sasl_ssl`], {
    env: { ...process.env, SERVICES_STATE_DIR: state, SERVICES_KAFKA_SASL_PORT: String(port) }, encoding: 'utf8', timeout: 60_000,
  });
  expect(r.status, `${r.stdout}\n${r.stderr}`).toBe(0);
}

const read = (state: string, f: string) => fs.readFileSync(path.join(state, 'kafka', 'sasl-ssl', f), 'utf8');

describe('services.sh SASL_SSL files', () => {
  it('keeps the CA, certificates and password at a second broker start, and rewrites the settings', () => {
    const state = fs.mkdtempSync(path.join(os.tmpdir(), 'pb-sasl-pki-'));
    dirs.push(state);
    prepare(state, 39094);
    const first = Object.fromEntries(['ca.crt', 'server.crt', 'server.pem', 'client.crt', 'password'].map((f) => [f, read(state, f)]));
    expect(read(state, 'sasl-ssl.env')).toContain('KAFKA_SASL_SSL_BROKERS=127.0.0.1:39094');
    prepare(state, 39096);
    for (const [f, text] of Object.entries(first)) expect(read(state, f), f).toBe(text);
    expect(read(state, 'sasl-ssl.env')).toContain('KAFKA_SASL_SSL_BROKERS=127.0.0.1:39096');
  });

  it('makes new ones when a file is missing (and keeps the password)', () => {
    const state = fs.mkdtempSync(path.join(os.tmpdir(), 'pb-sasl-pki-'));
    dirs.push(state);
    prepare(state);
    const ca = read(state, 'ca.crt');
    const password = read(state, 'password');
    fs.rmSync(path.join(state, 'kafka', 'sasl-ssl', 'server.pem'));
    prepare(state);
    expect(read(state, 'ca.crt')).not.toBe(ca);
    expect(read(state, 'server.pem')).toContain('BEGIN CERTIFICATE');
    expect(read(state, 'password')).toBe(password);
  });
});
