/**
 * A small SMART Backend Services authorization server for tests (HL7 SMART App Launch 2.x,
 * client-confidential-asymmetric): the token endpoint verifies the client assertion the way the
 * spec asks — signature against the client's registered JWKS (RS384/ES384), `iss` = `sub` =
 * client id, `aud` = the token URL, `exp` present and at most 5 minutes ahead, `jti` never seen
 * before — and answers `invalid_client` otherwise. Issued tokens are random and expire.
 */
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify, type JSONWebKeySet, type JWK } from 'jose';

export interface SmartTestServer {
  tokenUrl: string;
  /** For the FHIR server's `authorize` option. */
  authorize(authorization: string | undefined): boolean;
  /** What a SMART-enabled FHIR server publishes at .well-known/smart-configuration. */
  configuration(): object;
  /** Every token request: accepted or the reason it was refused. */
  attempts: { ok: boolean; reason?: string; scope?: string }[];
  /** Registers another public key of the client (what an EHR administrator does with our JWKS). */
  register(jwk: JWK): void;
  /** Revokes every issued token (the next FHIR call gets 401). */
  revokeAll(): void;
  close(): Promise<void>;
}

export async function startSmartServer(o: { clientId: string; jwks: JSONWebKeySet; expiresInS?: number; now?: () => number }): Promise<SmartTestServer> {
  const now = o.now ?? Date.now;
  const jwks: JSONWebKeySet = { keys: [...o.jwks.keys] };
  const seenJti = new Set<string>();
  const tokens = new Map<string, number>();
  const attempts: SmartTestServer['attempts'] = [];
  let tokenUrl = '';

  const refuse = (res: http.ServerResponse, reason: string) => {
    attempts.push({ ok: false, reason });
    res.writeHead(401, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'invalid_client', error_description: reason }));
  };

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void (async () => {
        const form = new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
        if (req.method !== 'POST' || form.get('grant_type') !== 'client_credentials') return refuse(res, 'grant_type must be client_credentials');
        if (form.get('client_assertion_type') !== 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer') return refuse(res, 'bad client_assertion_type');
        const assertion = form.get('client_assertion') ?? '';
        try {
          const alg = decodeProtectedHeader(assertion).alg;
          if (alg !== 'RS384' && alg !== 'ES384') return refuse(res, `alg ${alg} not accepted`);
          const { payload } = await jwtVerify(assertion, createLocalJWKSet(jwks), { issuer: o.clientId, subject: o.clientId, audience: tokenUrl, algorithms: ['RS384', 'ES384'], currentDate: new Date(now()), requiredClaims: ['exp', 'jti'] });
          if (payload.exp! * 1000 > now() + 5 * 60_000 + 5_000) return refuse(res, 'exp more than 5 minutes ahead');
          if (seenJti.has(payload.jti!)) return refuse(res, 'jti replayed');
          seenJti.add(payload.jti!);
        } catch (err) {
          return refuse(res, `assertion rejected: ${(err as Error).message}`);
        }
        const token = randomBytes(24).toString('base64url');
        const expiresIn = o.expiresInS ?? 300;
        tokens.set(token, now() + expiresIn * 1000);
        attempts.push({ ok: true, scope: form.get('scope') ?? undefined });
        res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(JSON.stringify({ access_token: token, token_type: 'bearer', expires_in: expiresIn, scope: form.get('scope') }));
      })();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  tokenUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/token`;

  return {
    tokenUrl,
    attempts,
    authorize(authorization) {
      const token = /^Bearer (.+)$/.exec(authorization ?? '')?.[1];
      const until = token ? tokens.get(token) : undefined;
      return until !== undefined && now() < until;
    },
    configuration: () => ({
      token_endpoint: tokenUrl,
      token_endpoint_auth_methods_supported: ['private_key_jwt'],
      token_endpoint_auth_signing_alg_values_supported: ['RS384', 'ES384'],
      grant_types_supported: ['client_credentials'],
      scopes_supported: ['system/Observation.crus', 'system/Patient.rs', 'system/Device.crs', 'system/Communication.cs'],
      capabilities: ['client-confidential-asymmetric'],
    }),
    register: (jwk) => void jwks.keys.push(jwk),
    revokeAll: () => tokens.clear(),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
