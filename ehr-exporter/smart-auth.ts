/**
 * SMART Backend Services (HL7 SMART App Launch 2.x, backend-services.html and
 * client-confidential-asymmetric.html; fhir-and-alarms.md §3): the exporter authenticates as a
 * system with the OAuth 2.0 client_credentials grant and a `private_key_jwt` client assertion.
 *
 * 1. Discovery: `GET {fhirBase}/.well-known/smart-configuration` gives `token_endpoint`; we check
 *    that `token_endpoint_auth_methods_supported` (when present) lists `private_key_jwt` and that
 *    `token_endpoint_auth_signing_alg_values_supported` (when present) lists our algorithm.
 * 2. Assertion: header `alg` RS384|ES384, `kid`, `typ: JWT`; claims `iss` = `sub` = client id,
 *    `aud` = token URL, `exp` = now + 5 min at most, `jti` unique per assertion (the server rejects
 *    a reused jti, so a retry always signs a new one).
 * 3. Token request: `grant_type=client_credentials`, `scope`, `client_assertion_type =
 *    urn:ietf:params:oauth:client-assertion-type:jwt-bearer`, `client_assertion`.
 *
 * The token is cached until `expiresSkewMs` before its `expires_in`; concurrent callers share one
 * request. `invalidate(token)` (the FHIR client calls it once after a 401, never after a 403: a
 * new token would carry the same scopes) drops the cache if it still holds that token. Failures
 * are PB_FHIR_UNAUTHORIZED (the server refused us: a configuration problem that affects every
 * message) or PB_FHIR_UNAVAILABLE (the authorization server could not be reached).
 */
import { randomUUID } from 'node:crypto';
import { importJWK, importPKCS8, SignJWT, type CryptoKey, type JWK } from 'jose';
import { PulsebridgeError } from '../platform/errors.ts';
import type { Logger } from '../platform/log.ts';
import type { AccessTokenProvider } from './fhir-client.ts';

export type SmartSigningAlg = 'RS384' | 'ES384';

export interface SmartBackendOptions {
  /** FHIR base URL; the SMART configuration is read from `{fhirBaseUrl}/.well-known/smart-configuration`. */
  fhirBaseUrl: string;
  /** Overrides discovery (some EHRs publish the token URL only in their documentation). */
  tokenUrl?: string;
  clientId: string;
  /** PKCS#8 PEM private key, or a private JWK. */
  privateKey: string | JWK;
  /** `kid` of the public key registered with the EHR (in our JWKS). */
  keyId: string;
  alg: SmartSigningAlg;
  /** Space-separated SMART scopes, e.g. `system/Observation.crus system/Patient.rs system/Device.crs system/Communication.cs`. */
  scope: string;
  fetch?: typeof fetch;
  now?: () => number;
  /** Renew this long before the token expires, ms. Default 60 s. */
  expiresSkewMs?: number;
  /** Per-request timeout, ms. Default 10 s. */
  requestTimeoutMs?: number;
  /** Warned when the bearer token would travel in clear (an `http://` FHIR base or token URL). */
  logger?: Logger;
}

export interface SmartConfiguration {
  token_endpoint: string;
  token_endpoint_auth_methods_supported?: string[];
  token_endpoint_auth_signing_alg_values_supported?: string[];
}

export const CLIENT_ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
/** The assertion lives 5 minutes at most (client-confidential-asymmetric: "no more than five minutes in the future"). */
const ASSERTION_LIFETIME_S = 240;

export interface SmartBackendAuth extends AccessTokenProvider {
  /** The discovered (or configured) token URL. */
  tokenUrl(signal?: AbortSignal): Promise<string>;
}

export function createSmartBackendAuth(options: SmartBackendOptions): SmartBackendAuth {
  const doFetch = options.fetch ?? globalThis.fetch;
  const now = options.now ?? Date.now;
  const skewMs = options.expiresSkewMs ?? 60_000;
  const timeoutMs = options.requestTimeoutMs ?? 10_000;
  const base = options.fhirBaseUrl.replace(/\/+$/, '');
  let key: Promise<CryptoKey | Uint8Array> | undefined;
  let tokenUrl: Promise<string> | undefined;
  let cached: { token: string; renewAtMs: number } | undefined;
  let inflight: Promise<string> | undefined;

  // Backend Services requires TLS (backend-services.html, "Security"): over http:// the client
  // assertion and the bearer token, which lets anyone write to the EHR as us, can be read on the way.
  const cleartext = new Set<string>();
  const warnIfCleartext = (what: string, url: string) => {
    if (!url.startsWith('http://') || cleartext.has(url)) return;
    cleartext.add(url);
    options.logger?.warn(`SMART over plain HTTP: the ${what} is not https, so the access token travels in clear`, { url });
  };
  warnIfCleartext('FHIR base URL', base);
  if (options.tokenUrl) warnIfCleartext('token URL', options.tokenUrl);

  const signingKey = () =>
    (key ??= (typeof options.privateKey === 'string' ? importPKCS8(options.privateKey, options.alg) : importJWK(options.privateKey, options.alg)).catch((err: unknown) => {
      key = undefined;
      throw new PulsebridgeError('PB_CONFIG_INVALID', `the SMART private key does not import for ${options.alg}: ${(err as Error).message}`, { cause: err });
    }));

  const request = async (url: string, init: RequestInit, what: string, signal?: AbortSignal): Promise<{ status: number; body: unknown }> => {
    const timeout = AbortSignal.timeout(timeoutMs);
    let res: Response;
    try {
      res = await doFetch(url, { ...init, signal: signal ? AbortSignal.any([signal, timeout]) : timeout });
    } catch (err) {
      throw new PulsebridgeError('PB_FHIR_UNAVAILABLE', `${what} ${url} unreachable: ${(err as Error).message}`, { cause: err, details: { url } });
    }
    const text = await res.text();
    let body: unknown = text;
    try {
      body = text === '' ? undefined : JSON.parse(text);
    } catch {
      /* keep the text */
    }
    return { status: res.status, body };
  };

  const discover = async (signal?: AbortSignal): Promise<string> => {
    if (options.tokenUrl) return options.tokenUrl;
    const url = `${base}/.well-known/smart-configuration`;
    const { status, body } = await request(url, { headers: { Accept: 'application/json' } }, 'SMART configuration', signal);
    if (status >= 500) throw new PulsebridgeError('PB_FHIR_UNAVAILABLE', `SMART configuration ${url} answered ${status}`, { details: { url, status } });
    const conf = body as Partial<SmartConfiguration> | undefined;
    if (status !== 200 || typeof conf?.token_endpoint !== 'string') {
      throw new PulsebridgeError('PB_FHIR_UNAUTHORIZED', `SMART configuration ${url} answered ${status} without a token_endpoint`, { details: { url, status } });
    }
    const methods = conf.token_endpoint_auth_methods_supported;
    if (methods && !methods.includes('private_key_jwt')) {
      throw new PulsebridgeError('PB_FHIR_UNAUTHORIZED', `the EHR does not support private_key_jwt (it lists ${methods.join(', ')})`, { details: { url } });
    }
    const algs = conf.token_endpoint_auth_signing_alg_values_supported;
    if (algs && !algs.includes(options.alg)) {
      throw new PulsebridgeError('PB_FHIR_UNAUTHORIZED', `the EHR does not accept ${options.alg} client assertions (it lists ${algs.join(', ')})`, { details: { url } });
    }
    warnIfCleartext('token URL', conf.token_endpoint);
    return conf.token_endpoint;
  };

  const getTokenUrl = (signal?: AbortSignal) =>
    (tokenUrl ??= discover(signal).catch((err: unknown) => {
      tokenUrl = undefined; // discover again next time
      throw err;
    }));

  const fetchToken = async (signal?: AbortSignal): Promise<string> => {
    const url = await getTokenUrl(signal);
    const nowS = Math.floor(now() / 1000);
    const assertion = await new SignJWT({})
      .setProtectedHeader({ alg: options.alg, kid: options.keyId, typ: 'JWT' })
      .setIssuer(options.clientId)
      .setSubject(options.clientId)
      .setAudience(url)
      .setIssuedAt(nowS)
      .setExpirationTime(nowS + ASSERTION_LIFETIME_S)
      .setJti(randomUUID())
      .sign(await signingKey());
    const form = new URLSearchParams({
      grant_type: 'client_credentials',
      scope: options.scope,
      client_assertion_type: CLIENT_ASSERTION_TYPE,
      client_assertion: assertion,
    });
    const { status, body } = await request(url, { method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded', Accept: 'application/json' }, body: form.toString() }, 'SMART token endpoint', signal);
    const answer = body as { access_token?: unknown; expires_in?: unknown; error?: unknown; error_description?: unknown } | undefined;
    if (status >= 500 || status === 429) throw new PulsebridgeError('PB_FHIR_UNAVAILABLE', `SMART token endpoint ${url} answered ${status}`, { details: { url, status } });
    if (status !== 200 || typeof answer?.access_token !== 'string') {
      const why = [answer?.error, answer?.error_description].filter((x) => typeof x === 'string').join(': ') || `status ${status}`;
      throw new PulsebridgeError('PB_FHIR_UNAUTHORIZED', `SMART token request refused (${why})`, { details: { url, status, error: answer?.error } });
    }
    const expiresInS = typeof answer.expires_in === 'number' && answer.expires_in > 0 ? answer.expires_in : 300;
    cached = { token: answer.access_token, renewAtMs: now() + Math.max(0, expiresInS * 1000 - skewMs) };
    return answer.access_token;
  };

  return {
    tokenUrl: getTokenUrl,
    async getAccessToken(signal) {
      if (cached && now() < cached.renewAtMs) return cached.token;
      inflight ??= fetchToken(signal).finally(() => {
        inflight = undefined;
      });
      return inflight;
    },
    invalidate(token) {
      // Requests refused together name the same old token: only the first one costs a token request.
      if (token === undefined || cached?.token === token) cached = undefined;
    },
  };
}
