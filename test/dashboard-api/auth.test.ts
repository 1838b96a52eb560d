import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { exportJWK, generateKeyPair, importJWK, SignJWT } from 'jose';
import type { CryptoKey, JWK } from 'jose';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { bearerToken, canAccessPatient, createDevTokenVerifier, createOidcTokenVerifier, createTokenVerifier } from '../../dashboard-api/auth.ts';
import { devIssuerKeyPath, openDevIssuer } from '../../dashboard-api/dev-issuer.ts';

let dataDir: string;
beforeEach(async () => { dataDir = await mkdtemp(path.join(os.tmpdir(), 'pb-auth-')); });
afterEach(async () => { await rm(dataDir, { recursive: true, force: true }); });

/** Signs arbitrary claims with the development key, to build tokens the issuer itself would refuse to make. */
async function signWithDevKey(claims: Record<string, unknown>, exp: number): Promise<string> {
  const file = JSON.parse(await readFile(devIssuerKeyPath(dataDir), 'utf8'));
  const key = (await importJWK(file.privateJwk, 'ES256')) as CryptoKey;
  return new SignJWT(claims).setProtectedHeader({ alg: 'ES256', kid: file.kid }).setExpirationTime(exp).sign(key);
}

describe('development verifier', () => {
  test('turns a development token into the principal', async () => {
    const issuer = await openDevIssuer({ dataDir });
    const verifier = createDevTokenVerifier(issuer);
    const token = await issuer.issueToken({ sub: 'dr-a', role: 'clinician', patients: ['p1', 'p2', 'p1'], ttlSeconds: 60 });
    const principal = await verifier.verify(token);
    expect(principal).toEqual({ sub: 'dr-a', role: 'clinician', patients: ['p1', 'p2'], expiresAtMs: expect.any(Number) });
  });

  test('rejects expired tokens, wrong issuer, wrong audience, unknown role and tampered payloads', async () => {
    const issuer = await openDevIssuer({ dataDir });
    const verifier = createDevTokenVerifier(issuer);
    const exp = Math.floor(Date.now() / 1000) + 60;
    const good = { iss: 'pulsebridge-dev', aud: 'pulsebridge', sub: 'dr-a', role: 'clinician', patients: ['p1'] };
    const past = await openDevIssuer({ dataDir, now: () => Date.now() - 3600_000 });
    const cases: [string, Promise<string>][] = [
      ['the token has expired', past.issueToken({ sub: 'dr-a', role: 'clinician', patients: [], ttlSeconds: 60 })],
      ["the token's iss claim is not accepted", signWithDevKey({ ...good, iss: 'someone-else' }, exp)],
      ["the token's aud claim is not accepted", signWithDevKey({ ...good, aud: 'other-api' }, exp)],
      ["the token's role claim must be one of clinician, admin", signWithDevKey({ ...good, role: 'superuser' }, exp)],
      ["the token's patients claim must be an array of patient ids", signWithDevKey({ ...good, patients: 'p1' }, exp)],
      ['the token signature is invalid', issuer.issueToken({ sub: 'dr-a', role: 'clinician', patients: ['p1'], ttlSeconds: 60 }).then(tamper)],
    ];
    for (const [message, tokenPromise] of cases) {
      await expect(verifier.verify(await tokenPromise), message).rejects.toMatchObject({ code: 'PB_AUTH_INVALID_TOKEN', message });
    }
  });

  test('createTokenVerifier without OIDC settings uses the development issuer of the data folder', async () => {
    const verifier = await createTokenVerifier({ dataDir, oidc: undefined });
    const issuer = await openDevIssuer({ dataDir });
    const token = await issuer.issueToken({ sub: 'root', role: 'admin', patients: [], ttlSeconds: 60 });
    await expect(verifier.verify(token)).resolves.toMatchObject({ sub: 'root', role: 'admin', patients: [] });
  });
});

/** Swaps the payload for one that claims admin, keeping the original signature. */
function tamper(token: string): string {
  const [h, p, s] = token.split('.') as [string, string, string];
  const payload = JSON.parse(Buffer.from(p, 'base64url').toString());
  return [h, Buffer.from(JSON.stringify({ ...payload, role: 'admin' })).toString('base64url'), s].join('.');
}

describe('OpenID Connect verifier', () => {
  let server: Server;
  let base: string;
  let key: CryptoKey;
  let publicJwk: JWK;
  let discoveryIssuer: string;
  const requests: string[] = [];

  beforeEach(async () => {
    requests.length = 0;
    const pair = await generateKeyPair('RS256', { extractable: true });
    key = pair.privateKey;
    publicJwk = { ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' };
    server = createServer((req, res) => {
      requests.push(req.url ?? '');
      if (req.url === '/realms/care/.well-known/openid-configuration') {
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ issuer: discoveryIssuer, jwks_uri: `${base}/realms/care/certs` }));
      } else if (req.url === '/realms/care/certs') {
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ keys: [publicJwk] }));
      } else {
        res.statusCode = 404;
        res.end();
      }
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    discoveryIssuer = `${base}/realms/care`;
  });
  afterEach(async () => { await new Promise((r) => server.close(r)); });

  const sign = (claims: Record<string, unknown>) =>
    new SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid: 'k1' }).setIssuedAt().setExpirationTime('5m').sign(key);

  test('discovers the JWKS from the issuer metadata and verifies iss, aud and signature', async () => {
    const issuer = `${base}/realms/care`;
    const verifier = createOidcTokenVerifier({ issuer, audience: 'pulsebridge' });
    const token = await sign({ iss: issuer, aud: 'pulsebridge', sub: 'nurse-1', role: 'clinician', patients: ['p7'] });
    expect(await verifier.verify(token)).toEqual({ sub: 'nurse-1', role: 'clinician', patients: ['p7'], expiresAtMs: expect.any(Number) });
    expect(requests).toEqual(['/realms/care/.well-known/openid-configuration', '/realms/care/certs']);
    await expect(verifier.verify(await sign({ iss: issuer, aud: 'another-app', sub: 'nurse-1', role: 'clinician' })))
      .rejects.toMatchObject({ code: 'PB_AUTH_INVALID_TOKEN', message: "the token's aud claim is not accepted" });
    await expect(verifier.verify(await sign({ iss: 'https://evil.example', aud: 'pulsebridge', sub: 'nurse-1', role: 'admin' })))
      .rejects.toMatchObject({ code: 'PB_AUTH_INVALID_TOKEN', message: "the token's iss claim is not accepted" });
  });

  test('uses a configured JWKS URL without discovery', async () => {
    const issuer = 'https://idp.example/realms/care';
    const verifier = createOidcTokenVerifier({ issuer, audience: 'pulsebridge', jwksUrl: `${base}/realms/care/certs` });
    const token = await sign({ iss: issuer, aud: 'pulsebridge', sub: 'root', role: 'admin' });
    expect(await verifier.verify(token)).toEqual({ sub: 'root', role: 'admin', patients: [], expiresAtMs: expect.any(Number) });
    expect(requests).toEqual(['/realms/care/certs']);
  });

  test('refuses metadata that names a different issuer, and retries discovery on the next token', async () => {
    const issuer = `${base}/realms/care`;
    discoveryIssuer = 'https://impostor.example';
    const verifier = createOidcTokenVerifier({ issuer, audience: 'pulsebridge' });
    const token = await sign({ iss: issuer, aud: 'pulsebridge', sub: 'nurse-1', role: 'clinician' });
    await expect(verifier.verify(token)).rejects.toMatchObject({ code: 'PB_AUTH_DISCOVERY_FAILED' });
    discoveryIssuer = issuer;
    await expect(verifier.verify(token)).resolves.toMatchObject({ sub: 'nurse-1' });
  });
});

test('reads only Bearer authorization headers', () => {
  expect([bearerToken('Bearer abc.def.ghi'), bearerToken('bearer abc'), bearerToken('Basic abc'), bearerToken(undefined), bearerToken('Bearer ')])
    .toEqual(['abc.def.ghi', 'abc', undefined, undefined, undefined]);
});

test('clinicians may access their care team only; admins every patient', () => {
  const clinician = { sub: 'dr-a', role: 'clinician' as const, patients: ['p1'], expiresAtMs: undefined };
  const admin = { sub: 'root', role: 'admin' as const, patients: [], expiresAtMs: undefined };
  expect([canAccessPatient(clinician, 'p1'), canAccessPatient(clinician, 'p2'), canAccessPatient(admin, 'p2')]).toEqual([true, false, true]);
});
