/**
 * How the web page signs in against an external OpenID Connect issuer: Authorization Code with
 * PKCE (RFC 7636, S256) as a public client, and renewal with the issuer's refresh token
 * (OAuth 2.0 for Browser-Based Apps). The server only tells the page where to go
 * (`GET /v1/auth/config`, no token needed) and allows the token endpoint in the page's CSP; the
 * code, the verifier and the tokens stay between the browser and the issuer.
 */
import { PulsebridgeError } from '../platform/errors.ts';

export interface BrowserLoginConfig {
  issuer: string;
  /** The page's public client id at the issuer (PULSEBRIDGE_OIDC_CLIENT_ID). */
  clientId: string;
  /** Default `openid offline_access` (offline_access: a refresh token, so a session lasts a shift). */
  scope?: string;
  /** From the issuer's discovery document when absent. */
  authorizationEndpoint?: string;
  tokenEndpoint?: string;
}

export interface BrowserLogin {
  kind: 'oidc';
  issuer: string;
  clientId: string;
  scope: string;
  authorizationEndpoint: string;
  tokenEndpoint: string;
}

/** Completes the endpoints from `<issuer>/.well-known/openid-configuration` (OIDC Discovery 1.0). */
export async function resolveBrowserLogin(c: BrowserLoginConfig, fetchImpl: typeof fetch = globalThis.fetch, timeoutMs = 5000): Promise<BrowserLogin> {
  let authorizationEndpoint = c.authorizationEndpoint;
  let tokenEndpoint = c.tokenEndpoint;
  if (!authorizationEndpoint || !tokenEndpoint) {
    const url = `${c.issuer.replace(/\/+$/, '')}/.well-known/openid-configuration`;
    let doc: { issuer?: unknown; authorization_endpoint?: unknown; token_endpoint?: unknown };
    try {
      const res = await fetchImpl(url, { headers: { accept: 'application/json' }, signal: AbortSignal.timeout(timeoutMs) });
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      doc = (await res.json()) as typeof doc;
    } catch (err) {
      throw new PulsebridgeError('PB_AUTH_DISCOVERY_FAILED', `cannot read the OpenID configuration at ${url}: ${(err as Error).message}`, { cause: err });
    }
    if (doc.issuer !== c.issuer) throw new PulsebridgeError('PB_AUTH_DISCOVERY_FAILED', `the OpenID configuration at ${url} names issuer ${String(doc.issuer)}, not ${c.issuer}`);
    if (typeof doc.authorization_endpoint !== 'string' || typeof doc.token_endpoint !== 'string') {
      throw new PulsebridgeError('PB_AUTH_DISCOVERY_FAILED', `the OpenID configuration at ${url} has no authorization_endpoint or token_endpoint`);
    }
    authorizationEndpoint ??= doc.authorization_endpoint;
    tokenEndpoint ??= doc.token_endpoint;
  }
  return { kind: 'oidc', issuer: c.issuer, clientId: c.clientId, scope: c.scope ?? 'openid offline_access', authorizationEndpoint, tokenEndpoint };
}
