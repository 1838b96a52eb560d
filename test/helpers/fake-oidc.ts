/**
 * A minimal OpenID Connect provider for browser tests (the real protocol, not a mock of our code):
 * discovery, JWKS, an authorization endpoint that signs the configured user in at once and
 * redirects back with a code, and a token endpoint that checks PKCE (S256) and issues short-lived
 * ES256 access tokens and refresh tokens. CORS on the token endpoint, as real providers do for
 * browser-based public clients.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';

export interface FakeOidc {
  issuer: string;
  /** Codes issued, token requests seen (tests assert on the protocol). */
  log: { authorize: URLSearchParams[]; token: URLSearchParams[] };
  close(): Promise<void>;
}

export async function startFakeOidc(user: { sub: string; role: string; patients: string[] }, o: { clientId: string; audience: string; accessTtlSeconds: number }): Promise<FakeOidc> {
  const { privateKey, publicKey } = await generateKeyPair('ES256');
  const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' };
  const codes = new Map<string, { challenge: string; redirectUri: string }>();
  const refreshTokens = new Set<string>();
  const log = { authorize: [] as URLSearchParams[], token: [] as URLSearchParams[] };
  let issuer = '';
  const b64url = (b: Buffer) => b.toString('base64url');
  const json = (res: ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json', 'access-control-allow-origin': '*', 'cache-control': 'no-store' });
    res.end(JSON.stringify(body));
  };
  const accessToken = () => new SignJWT({ role: user.role, patients: user.patients })
    .setProtectedHeader({ alg: 'ES256', kid: 'k1' }).setIssuer(issuer).setAudience(o.audience).setSubject(user.sub)
    .setIssuedAt().setExpirationTime(`${o.accessTtlSeconds}s`).sign(privateKey);
  const body = (req: IncomingMessage) => new Promise<URLSearchParams>((resolve) => {
    let text = '';
    req.on('data', (c: Buffer) => { text += c.toString('utf8'); });
    req.on('end', () => resolve(new URLSearchParams(text)));
  });

  const server: Server = createServer((req, res) => void (async () => {
    const url = new URL(req.url ?? '/', issuer);
    if (url.pathname === '/.well-known/openid-configuration') {
      return json(res, 200, { issuer, authorization_endpoint: `${issuer}/authorize`, token_endpoint: `${issuer}/token`, jwks_uri: `${issuer}/jwks`, code_challenge_methods_supported: ['S256'] });
    }
    if (url.pathname === '/jwks') return json(res, 200, { keys: [jwk] });
    if (url.pathname === '/authorize') {
      const q = url.searchParams;
      log.authorize.push(q);
      if (q.get('client_id') !== o.clientId || q.get('response_type') !== 'code' || q.get('code_challenge_method') !== 'S256' || !q.get('code_challenge')) {
        return json(res, 400, { error: 'invalid_request' });
      }
      const code = b64url(randomBytes(16));
      codes.set(code, { challenge: q.get('code_challenge')!, redirectUri: q.get('redirect_uri')! });
      const back = new URL(q.get('redirect_uri')!);
      back.searchParams.set('code', code);
      back.searchParams.set('state', q.get('state') ?? '');
      res.writeHead(302, { location: back.toString() });
      return res.end();
    }
    if (url.pathname === '/token' && req.method === 'POST') {
      const f = await body(req);
      log.token.push(f);
      if (f.get('client_id') !== o.clientId) return json(res, 401, { error: 'invalid_client' });
      if (f.get('grant_type') === 'authorization_code') {
        const c = codes.get(f.get('code') ?? '');
        codes.delete(f.get('code') ?? '');
        const verifier = f.get('code_verifier') ?? '';
        if (!c || c.redirectUri !== f.get('redirect_uri') || b64url(createHash('sha256').update(verifier).digest()) !== c.challenge) {
          return json(res, 400, { error: 'invalid_grant', error_description: 'code, redirect_uri or PKCE verifier do not match' });
        }
      } else if (f.get('grant_type') === 'refresh_token') {
        if (!refreshTokens.delete(f.get('refresh_token') ?? '')) return json(res, 400, { error: 'invalid_grant' });
      } else {
        return json(res, 400, { error: 'unsupported_grant_type' });
      }
      const refresh = b64url(randomBytes(16)); // rotated on every use
      refreshTokens.add(refresh);
      return json(res, 200, { access_token: await accessToken(), token_type: 'Bearer', expires_in: o.accessTtlSeconds, refresh_token: refresh });
    }
    json(res, 404, { error: 'not_found' });
  })());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    issuer,
    log,
    close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}
