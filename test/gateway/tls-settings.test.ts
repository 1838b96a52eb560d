/**
 * The gateway's TLS settings (gateway/tls-settings.ts) hold against real clients: an old-protocol
 * client (TLS 1.1, from Node and from `openssl s_client -tls1_1`) and a TLS 1.2 client offering
 * only CBC suites are refused by the server; TLS 1.2 with an AEAD suite and TLS 1.3 connect.
 * The old clients are allowed every legacy option on their side (SECLEVEL=0), so a failure is
 * the server's refusal — the gateway's handshake-refusal counter proves it.
 */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InProcessBus } from '../../platform/bus/index.ts';
import type { DeviceCredentials } from '../../platform/security/index.ts';
import { startGatewayFixture, type GatewayFixture } from '../helpers/gateway-fixture.ts';
import { waitFor } from '../helpers/wait.ts';

let bus: InProcessBus;
let fx: GatewayFixture;
let creds: DeviceCredentials;

beforeAll(async () => {
  bus = new InProcessBus();
  fx = await startGatewayFixture(bus);
  creds = fx.addDevice('dev-tls', 'pat-tls');
});
afterAll(async () => {
  await fx.close();
  await bus.close();
});

const refusals = () => fx.metrics.counter('pb_gateway_connect_refused_total', '').get({ reason: 'tls_handshake' });

function handshake(options: tls.ConnectionOptions): Promise<{ ok: true; protocol: string | null; cipher: string } | { ok: false; error: string }> {
  return new Promise((resolve) => {
    const socket = tls.connect({
      host: '127.0.0.1', port: fx.port, servername: 'localhost',
      ca: fs.readFileSync(creds.ca), cert: fs.readFileSync(creds.cert), key: fs.readFileSync(creds.key), ...options,
    });
    socket.once('secureConnect', () => { resolve({ ok: true, protocol: socket.getProtocol(), cipher: socket.getCipher().name }); socket.destroy(); });
    socket.once('error', (err) => { resolve({ ok: false, error: err.message }); socket.destroy(); });
  });
}

describe('gateway TLS settings', () => {
  it('refuses a TLS 1.1 client (Node, legacy options allowed on the client side)', async () => {
    const before = refusals();
    const result = await handshake({ minVersion: 'TLSv1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT@SECLEVEL=0' });
    expect(result.ok).toBe(false);
    await waitFor('the server-side refusal', () => (refusals() > before ? true : undefined));
  });

  it('refuses a TLS 1.2 client that offers only CBC suites (Node\'s default server list would accept them)', async () => {
    const before = refusals();
    const result = await handshake({ maxVersion: 'TLSv1.2', ciphers: 'ECDHE-ECDSA-AES128-SHA256:ECDHE-ECDSA-AES256-SHA384:ECDHE-ECDSA-AES128-SHA' });
    expect(result.ok).toBe(false);
    await waitFor('the server-side refusal', () => (refusals() > before ? true : undefined));
  });

  it('accepts TLS 1.2 with an ECDHE AEAD suite and TLS 1.3', async () => {
    expect(await handshake({ maxVersion: 'TLSv1.2' })).toMatchObject({ ok: true, protocol: 'TLSv1.2', cipher: 'ECDHE-ECDSA-AES128-GCM-SHA256' });
    expect(await handshake({ minVersion: 'TLSv1.3' })).toMatchObject({ ok: true, protocol: 'TLSv1.3' });
  });

  const openssl = spawnSync('openssl', ['version'], { encoding: 'utf8' });
  it.runIf(openssl.status === 0)('refuses `openssl s_client -tls1_1` (an independent old-protocol client)', async () => {
    const before = refusals();
    // Asynchronous: the gateway under test runs in this process's event loop.
    const run = await new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
      const child = spawn('openssl', ['s_client', '-connect', `127.0.0.1:${fx.port}`, '-tls1_1', '-cipher', 'DEFAULT@SECLEVEL=0',
        '-cert', creds.cert, '-key', creds.key, '-CAfile', creds.ca], { stdio: ['ignore', 'pipe', 'pipe'], timeout: 15_000 });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
      child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
      child.once('close', (status) => resolve({ status, stdout, stderr }));
    });
    expect(run.status).toBe(1);
    expect(`${run.stdout}${run.stderr}`).toMatch(/Cipher is \(NONE\)/);
    await waitFor('the server-side refusal', () => (refusals() > before ? true : undefined));
  });
});
