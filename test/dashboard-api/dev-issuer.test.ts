import { mkdtemp, readFile, rm, stat, writeFile, chmod } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import { afterEach, beforeEach, expect, test } from 'vitest';
import { devIssuerKeyPath, openDevIssuer } from '../../dashboard-api/dev-issuer.ts';

let dataDir: string;
beforeEach(async () => { dataDir = await mkdtemp(path.join(os.tmpdir(), 'pb-dev-issuer-')); });
afterEach(async () => { await rm(dataDir, { recursive: true, force: true }); });

test('generates one ES256 key pair into <dataDir>/auth/dev-issuer-key.json, readable only by its owner', async () => {
  const issuer = await openDevIssuer({ dataDir });
  const keyPath = path.join(dataDir, 'auth', 'dev-issuer-key.json');
  expect(issuer.keyPath).toBe(keyPath);
  expect(devIssuerKeyPath(dataDir)).toBe(keyPath);
  expect((await stat(keyPath)).mode & 0o777).toBe(0o600);
  const file = JSON.parse(await readFile(keyPath, 'utf8'));
  expect(Object.keys(file).sort()).toEqual(['alg', 'createdAt', 'kid', 'privateJwk', 'publicJwk']);
  expect(file.alg).toBe('ES256');
  expect(file.kid).toBe(issuer.kid);
  expect(file.publicJwk).toEqual({ kty: 'EC', crv: 'P-256', x: expect.any(String), y: expect.any(String), kid: issuer.kid });
  expect(file.privateJwk).toEqual({ ...file.publicJwk, d: expect.any(String) });
  expect(issuer.jwks()).toEqual({ keys: [{ kty: 'EC', crv: 'P-256', x: file.publicJwk.x, y: file.publicJwk.y, kid: issuer.kid, alg: 'ES256', use: 'sig' }] });
});

test('reuses the key on the next open, so tokens issued by one process verify in another', async () => {
  const first = await openDevIssuer({ dataDir });
  const token = await first.issueToken({ sub: 'dr-a', role: 'clinician', patients: ['p1'], ttlSeconds: 60 });
  const second = await openDevIssuer({ dataDir });
  expect(second.kid).toBe(first.kid);
  await expect(jwtVerify(token, createLocalJWKSet(second.jwks()))).resolves.toBeTruthy();
});

test('two processes opening a fresh data folder at once end up with one shared key', async () => {
  const [a, b, c] = await Promise.all([openDevIssuer({ dataDir }), openDevIssuer({ dataDir }), openDevIssuer({ dataDir })]);
  expect(new Set([a.kid, b.kid, c.kid]).size).toBe(1);
});

test('issues a compact JWT with iss, aud, sub, role, patients and the requested lifetime', async () => {
  const nowMs = Date.parse('2026-03-01T10:00:00.000Z');
  const issuer = await openDevIssuer({ dataDir, now: () => nowMs });
  const token = await issuer.issueToken({ sub: 'dr-a', role: 'clinician', patients: ['p1', 'p2'], ttlSeconds: 900 });
  expect(token.split('.')).toHaveLength(3);
  expect(decodeProtectedHeader(token)).toEqual({ alg: 'ES256', kid: issuer.kid, typ: 'JWT' });
  const { payload } = await jwtVerify(token, createLocalJWKSet(issuer.jwks()), { currentDate: new Date(nowMs) });
  expect(payload).toEqual({
    iss: 'pulsebridge-dev', aud: 'pulsebridge', sub: 'dr-a', role: 'clinician', patients: ['p1', 'p2'],
    iat: nowMs / 1000, exp: nowMs / 1000 + 900, jti: expect.stringMatching(/^[0-9a-f-]{36}$/),
    // The sign-in this session started with (session-renewal.ts): a fresh token starts one.
    sst: nowMs / 1000,
  });
});

test('refuses to issue a token with an unknown role, a bad patient id or a lifetime out of range', async () => {
  const issuer = await openDevIssuer({ dataDir });
  await expect(issuer.issueToken({ sub: 'x', role: 'root' as 'admin', patients: [], ttlSeconds: 60 })).rejects.toMatchObject({ code: 'PB_AUTH_INVALID_TOKEN' });
  await expect(issuer.issueToken({ sub: 'x', role: 'clinician', patients: ['p 1'], ttlSeconds: 60 })).rejects.toMatchObject({ code: 'PB_AUTH_INVALID_TOKEN' });
  await expect(issuer.issueToken({ sub: 'x', role: 'clinician', patients: [], ttlSeconds: 0 })).rejects.toMatchObject({ code: 'PB_AUTH_INVALID_TOKEN' });
  await expect(issuer.issueToken({ sub: '', role: 'clinician', patients: [], ttlSeconds: 60 })).rejects.toMatchObject({ code: 'PB_AUTH_INVALID_TOKEN' });
});

test('a corrupt key file is reported, not silently replaced (that would invalidate every token)', async () => {
  await openDevIssuer({ dataDir });
  await writeFile(devIssuerKeyPath(dataDir), '{"kid":1}');
  await expect(openDevIssuer({ dataDir })).rejects.toMatchObject({ code: 'PB_AUTH_KEY_INVALID' });
});

test('tightens a key file that others can read back to 0600', async () => {
  await openDevIssuer({ dataDir });
  await chmod(devIssuerKeyPath(dataDir), 0o644);
  await openDevIssuer({ dataDir });
  expect((await stat(devIssuerKeyPath(dataDir))).mode & 0o777).toBe(0o600);
});
