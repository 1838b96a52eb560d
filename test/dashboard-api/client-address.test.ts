/**
 * The audit trail names the workstation, not the reverse proxy (dashboard-api/client-address.ts).
 * Found by the security re-check (session 33): with the dashboard API behind the TLS proxy that
 * docker-compose.yml now asks for, every audit entry carried the proxy's address.
 */
import { readFile } from 'node:fs/promises';
import { afterEach, describe, expect, test } from 'vitest';
import type { AuditEntry } from '../../dashboard-api/audit.ts';
import { clientAddress } from '../../dashboard-api/client-address.ts';
import { loadConfig } from '../../platform/config.ts';
import { http, startFixture, type Fixture } from './helpers.ts';

const req = (remoteAddress: string, forwarded?: string | string[]) => ({ socket: { remoteAddress }, headers: forwarded === undefined ? {} : { 'x-forwarded-for': forwarded } }) as Parameters<typeof clientAddress>[0];
const proxies = new Set(['10.0.0.5', '10.0.0.6']);

describe('clientAddress', () => {
  test('believes X-Forwarded-For only from a listed proxy, read right to left past the listed ones', () => {
    expect(clientAddress(req('10.0.0.5', '192.168.7.21'), proxies)).toBe('192.168.7.21');
    expect(clientAddress(req('::ffff:10.0.0.5', '192.168.7.21'), proxies)).toBe('192.168.7.21');
    // Two proxies in a row; a client that wrote its own header cannot hide behind it.
    expect(clientAddress(req('10.0.0.5', '6.6.6.6, 192.168.7.21, 10.0.0.6'), proxies)).toBe('192.168.7.21');
    expect(clientAddress(req('10.0.0.5', ['6.6.6.6', '192.168.7.21']), proxies)).toBe('192.168.7.21');
    // Not from a proxy: the header is anyone's to write.
    expect(clientAddress(req('192.168.7.30', '1.2.3.4'), proxies)).toBe('192.168.7.30');
    expect(clientAddress(req('10.0.0.5', '1.2.3.4'), new Set())).toBe('10.0.0.5');
    // From a proxy without a header, or with one that holds no address: the proxy.
    expect(clientAddress(req('10.0.0.5'), proxies)).toBe('10.0.0.5');
    expect(clientAddress(req('10.0.0.5', 'unknown'), proxies)).toBe('10.0.0.5');
    expect(clientAddress(req('10.0.0.5', '10.0.0.6'), proxies)).toBe('10.0.0.5');
  });

  test('PULSEBRIDGE_TRUSTED_PROXIES takes IP addresses only', () => {
    expect(loadConfig({ PULSEBRIDGE_TRUSTED_PROXIES: '10.0.0.5, ::1' }).dashboard.trustedProxies).toEqual(['10.0.0.5', '::1']);
    expect(loadConfig({}).dashboard.trustedProxies).toEqual([]);
    expect(() => loadConfig({ PULSEBRIDGE_TRUSTED_PROXIES: 'proxy.example.org' })).toThrow(/PULSEBRIDGE_TRUSTED_PROXIES.*IP addresses/);
    expect(() => loadConfig({ PULSEBRIDGE_TRUSTED_PROXIES: '10.0.0.0/8' })).toThrow(/PULSEBRIDGE_TRUSTED_PROXIES/);
  });
});

describe('the audit trail behind a reverse proxy', () => {
  let fx: Fixture | undefined;
  afterEach(async () => { await fx?.close(); fx = undefined; });
  const trail = async (f: Fixture) => (await readFile(f.auditPath, 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as AuditEntry);

  test('names the workstation of a PHI read and of a failed authentication when the API trusts the proxy', async () => {
    fx = await startFixture({ trustedProxies: ['127.0.0.1'] });
    const token = await fx.token('dr-a', 'clinician', ['p1']);
    expect((await http('GET', `${fx.url}/v1/patients/p1`, token, { 'x-forwarded-for': '192.168.7.21' })).status).toBe(200);
    expect((await http('GET', `${fx.url}/v1/patients/p1`, 'forged', { 'x-forwarded-for': '192.168.7.22' })).status).toBe(401);
    expect((await trail(fx)).map((e) => [e.action, e.remoteAddress])).toEqual([['patient.read', '192.168.7.21'], ['auth.failed', '192.168.7.22']]);
  });

  test('ignores X-Forwarded-For from a connection that is not a listed proxy', async () => {
    fx = await startFixture();
    const token = await fx.token('dr-a', 'clinician', ['p1']);
    expect((await http('GET', `${fx.url}/v1/patients/p1`, token, { 'x-forwarded-for': '192.168.7.21' })).status).toBe(200);
    expect((await trail(fx)).map((e) => e.remoteAddress)).toEqual(['127.0.0.1']);
  });
});
