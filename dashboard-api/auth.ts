/**
 * Bearer-token authentication and care-team authorization of the clinician API (product.md
 * "Clinician API"). Embedded mode verifies against the development issuer's public key;
 * production against an external OpenID Connect issuer's JWKS. Either way the caller becomes a
 * {@link Principal}: who, which role, which patients.
 */
import { createLocalJWKSet, createRemoteJWKSet, customFetch, errors as joseErrors, jwtVerify } from 'jose';
import type { JWTPayload, JWTVerifyGetKey } from 'jose';
import { PulsebridgeError } from '../platform/errors.ts';
import { DEV_ALG, DEV_AUDIENCE, DEV_ISSUER, openDevIssuer, ROLES } from './dev-issuer.ts';
import type { DevIssuer, Role } from './dev-issuer.ts';

export type { Role } from './dev-issuer.ts';

/** The authenticated caller. */
export interface Principal {
  /** Token subject: the user id. */
  sub: string;
  role: Role;
  /** Care team (clinicians): the only patients this caller may see. Ignored for admins. */
  patients: readonly string[];
  /** Token expiry, ms since epoch; long-lived streams are closed when it passes. */
  expiresAtMs: number | undefined;
}

/**
 * PB_AUTH_INVALID_TOKEN for a token that is genuine but expired: its signature, issuer and audience
 * verified and only `exp` is past. The request is refused like any other 401; only the audit trail
 * names {@link subject} as the actor of the failed access instead of `anonymous`. Never thrown
 * for a token that did not verify: its claims could say anything.
 */
export class ExpiredTokenError extends PulsebridgeError {
  readonly subject: { sub: string; role: Role };

  constructor(message: string, subject: { sub: string; role: Role }, cause: unknown) {
    super('PB_AUTH_INVALID_TOKEN', message, { cause });
    this.subject = subject;
  }
}

/** Turns a bearer token into a principal, or throws PB_AUTH_INVALID_TOKEN (an {@link ExpiredTokenError} for a genuine expired one). */
export interface TokenVerifier {
  verify(token: string): Promise<Principal>;
}

/** Maps verified JWT claims to a principal (external issuers may name their claims differently). */
export type ClaimsMapper = (payload: JWTPayload) => Principal;

/** Default claims: `sub`, `role` ('clinician' | 'admin'), `patients` (string array). */
export const defaultClaimsMapper: ClaimsMapper = (payload) => {
  const role = payload['role'];
  if (typeof role !== 'string' || !(ROLES as readonly string[]).includes(role)) {
    throw new PulsebridgeError('PB_AUTH_INVALID_TOKEN', `the token's role claim must be one of ${ROLES.join(', ')}`);
  }
  const patients = payload['patients'] ?? [];
  if (!Array.isArray(patients) || !patients.every((p) => typeof p === 'string')) {
    throw new PulsebridgeError('PB_AUTH_INVALID_TOKEN', "the token's patients claim must be an array of patient ids");
  }
  if (typeof payload.sub !== 'string' || payload.sub === '') {
    throw new PulsebridgeError('PB_AUTH_INVALID_TOKEN', 'the token has no subject');
  }
  return {
    sub: payload.sub,
    role: role as Role,
    patients: Object.freeze([...new Set(patients as string[])]),
    expiresAtMs: typeof payload.exp === 'number' ? payload.exp * 1000 : undefined,
  };
};

/** Asymmetric JWS algorithms accepted from an OIDC issuer (never `none` or HMAC). */
export const OIDC_ALGORITHMS = ['ES256', 'ES384', 'ES512', 'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'EdDSA', 'Ed25519'];

export interface VerifierCommonOptions {
  /** Allowed clock difference for exp/nbf/iat, seconds. Default 30 (NTP-synchronised hosts). */
  clockToleranceSeconds?: number;
  claimsMapper?: ClaimsMapper;
}

/** Verifies tokens of the development issuer (embedded mode): ES256, iss `pulsebridge-dev`, aud `pulsebridge`. */
export function createDevTokenVerifier(issuer: Pick<DevIssuer, 'jwks'>, options: VerifierCommonOptions = {}): TokenVerifier {
  return jwtTokenVerifier(createLocalJWKSet(issuer.jwks()), { issuer: DEV_ISSUER, audience: DEV_AUDIENCE, algorithms: [DEV_ALG] }, options);
}

export interface OidcVerifierOptions extends VerifierCommonOptions {
  /** Issuer identifier, exactly as it appears in the tokens' `iss` (PULSEBRIDGE_OIDC_ISSUER). */
  issuer: string;
  /** Expected `aud` (PULSEBRIDGE_OIDC_AUDIENCE). */
  audience: string;
  /** JWKS URL (PULSEBRIDGE_OIDC_JWKS_URL); without it, discovered from the issuer's metadata. */
  jwksUrl?: string | undefined;
  /** Accepted algorithms; default {@link OIDC_ALGORITHMS}. */
  algorithms?: string[];
  /** HTTP client for discovery and JWKS (default global fetch). */
  fetch?: typeof fetch;
  /** Timeout of each discovery/JWKS request, ms. Default 5000 (jose's default). */
  timeoutMs?: number;
}

/**
 * Verifies tokens of an external OpenID Connect issuer: signature against the issuer's JWKS
 * (fetched and cached by jose's createRemoteJWKSet, refetched when an unknown `kid` appears),
 * then iss, aud and exp. The JWKS URL is discovered lazily on first use when not configured.
 */
export function createOidcTokenVerifier(options: OidcVerifierOptions): TokenVerifier {
  const fetchImpl = options.fetch ?? globalThis.fetch;
  const timeoutMs = options.timeoutMs ?? 5000;
  let keySet: Promise<JWTVerifyGetKey> | undefined;
  const getKeySet = () => {
    keySet ??= (async () => {
      const jwksUrl = options.jwksUrl ?? (await discoverJwksUrl(options.issuer, fetchImpl, timeoutMs));
      return createRemoteJWKSet(new URL(jwksUrl), { timeoutDuration: timeoutMs, [customFetch]: fetchImpl });
    })();
    // A failed discovery is retried on the next request instead of being cached forever.
    keySet.catch(() => { keySet = undefined; });
    return keySet;
  };
  const getKey: JWTVerifyGetKey = async (header, token) => (await getKeySet())(header, token);
  return jwtTokenVerifier(getKey, { issuer: options.issuer, audience: options.audience, algorithms: options.algorithms ?? OIDC_ALGORITHMS }, options);
}

/**
 * Reads `jwks_uri` from `<issuer>/.well-known/openid-configuration` (OpenID Connect Discovery
 * 1.0 §4), checking that the document names the same issuer (§4.3).
 */
export async function discoverJwksUrl(issuer: string, fetchImpl: typeof fetch = globalThis.fetch, timeoutMs = 5000): Promise<string> {
  const url = `${issuer.replace(/\/+$/, '')}/.well-known/openid-configuration`;
  let body: unknown;
  try {
    const res = await fetchImpl(url, { headers: { accept: 'application/json' }, signal: AbortSignal.timeout(timeoutMs) });
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    body = await res.json();
  } catch (err) {
    throw new PulsebridgeError('PB_AUTH_DISCOVERY_FAILED', `cannot fetch ${url}: ${(err as Error).message}`, { cause: err });
  }
  const doc = (body ?? {}) as { issuer?: unknown; jwks_uri?: unknown };
  if (doc.issuer !== issuer) {
    throw new PulsebridgeError('PB_AUTH_DISCOVERY_FAILED', `${url} names issuer ${JSON.stringify(doc.issuer)}, expected ${JSON.stringify(issuer)}`);
  }
  if (typeof doc.jwks_uri !== 'string' || !URL.canParse(doc.jwks_uri)) {
    throw new PulsebridgeError('PB_AUTH_DISCOVERY_FAILED', `${url} has no valid jwks_uri`);
  }
  return doc.jwks_uri;
}

/**
 * Picks the verifier for a configuration (platform/config.ts `dashboard.oidc`): the external
 * issuer when configured, otherwise the development issuer of `dataDir`.
 */
export async function createTokenVerifier(options: {
  dataDir: string;
  oidc: { issuer: string; jwksUrl?: string | undefined; audience: string } | undefined;
}): Promise<TokenVerifier> {
  if (options.oidc) return createOidcTokenVerifier(options.oidc);
  return createDevTokenVerifier(await openDevIssuer({ dataDir: options.dataDir }));
}

function jwtTokenVerifier(
  getKey: JWTVerifyGetKey,
  expected: { issuer: string; audience: string; algorithms: string[] },
  options: VerifierCommonOptions,
): TokenVerifier {
  const mapClaims = options.claimsMapper ?? defaultClaimsMapper;
  return {
    async verify(token: string): Promise<Principal> {
      let payload: JWTPayload;
      try {
        ({ payload } = await jwtVerify(token, getKey, {
          issuer: expected.issuer,
          audience: expected.audience,
          algorithms: expected.algorithms,
          requiredClaims: ['exp', 'sub'],
          clockTolerance: options.clockToleranceSeconds ?? 30,
        }));
      } catch (err) {
        if (err instanceof PulsebridgeError) throw err;
        // The issuer's keys being unreachable is our outage, not the caller's bad token (→ 503).
        if (err instanceof joseErrors.JWKSTimeout || err instanceof joseErrors.JWKSInvalid || !(err instanceof joseErrors.JOSEError)) {
          throw new PulsebridgeError('PB_AUTH_DISCOVERY_FAILED', `cannot load the issuer's signing keys: ${(err as Error).message}`, { cause: err });
        }
        const subject = expiredSubject(err, expected, mapClaims);
        if (subject) throw new ExpiredTokenError(describeJoseError(err), subject, err);
        throw new PulsebridgeError('PB_AUTH_INVALID_TOKEN', describeJoseError(err), { cause: err });
      }
      return mapClaims(payload);
    },
  };
}

/**
 * Who presented a token that failed only because `exp` is past, else undefined. jose verifies the
 * signature before it reads a claim, and checks `exp` after the required claims, `iss` and `aud`
 * (jose 6, lib/jwt_claims_set.js validateClaimsSet), so its JWTExpired for `exp` carries a payload
 * that verified in every other respect. Issuer and audience are compared here again all the same:
 * a jose that reordered its checks must not turn an unverified subject into an audited actor.
 */
function expiredSubject(err: unknown, expected: { issuer: string; audience: string }, mapClaims: ClaimsMapper): { sub: string; role: Role } | undefined {
  if (!(err instanceof joseErrors.JWTExpired) || err.claim !== 'exp') return undefined;
  const { iss, aud } = err.payload;
  if (iss !== expected.issuer || !(aud === expected.audience || (Array.isArray(aud) && aud.includes(expected.audience)))) return undefined;
  try {
    const { sub, role } = mapClaims(err.payload);
    return { sub, role };
  } catch {
    return undefined; // claims this API would refuse anyway: nobody to name
  }
}

function describeJoseError(err: InstanceType<typeof joseErrors.JOSEError>): string {
  if (err instanceof joseErrors.JWTExpired) return 'the token has expired';
  if (err instanceof joseErrors.JWTClaimValidationFailed) return `the token's ${err.claim} claim is not accepted`;
  if (err instanceof joseErrors.JWSSignatureVerificationFailed) return 'the token signature is invalid';
  if (err instanceof joseErrors.JWKSNoMatchingKey) return 'the token was not signed by a known key';
  if (err instanceof joseErrors.JOSEAlgNotAllowed) return 'the token algorithm is not accepted';
  return 'the token is malformed or invalid';
}

/** Extracts the token of an `Authorization: Bearer <token>` header (RFC 6750 §2.1). */
export function bearerToken(authorization: string | undefined): string | undefined {
  if (!authorization) return undefined;
  const match = /^Bearer[ ]+([A-Za-z0-9\-._~+/]+=*)\s*$/i.exec(authorization);
  return match?.[1];
}

/** Care-team rule: admins may access every patient, clinicians only those in their `patients` claim. */
export function canAccessPatient(principal: Principal, patientId: string): boolean {
  return principal.role === 'admin' || principal.patients.includes(patientId);
}

/** What {@link AuthFailureLogLimit} reports at the end of a window in which it kept lines back. */
export interface SuppressedAuthFailures {
  /** Failures not written out in the window. */
  suppressed: number;
  /** The addresses with the most of them (at most 10), count each. */
  byAddress: Record<string, number>;
  /** Every address with failures not written out, most first ({@link OTHER_ADDRESSES} last). */
  all: [string, number][];
}

/** The addresses over the limit of one window, counted together. */
export const OTHER_ADDRESSES = '(other addresses)';

/**
 * Bounds what a flood of failed authentications writes, per window (a minute): the first
 * `perAddress` failures of each remote address are admitted (logged, or recorded in the audit
 * trail one by one) and the rest only counted; {@link roll} ends the window and returns the counts,
 * for one summary line or one audit entry per address. At most `maxAddresses` addresses are told
 * apart per window (a spray from many addresses is counted together), so what is written grows by
 * at most `maxAddresses × perAddress + maxAddresses + 1` lines per window and memory by
 * `maxAddresses` entries, whatever the number of failures.
 */
export class AuthFailureLogLimit {
  readonly #maxAddresses: number;
  readonly #perAddress: number;
  /** Addresses seen in this window → failures admitted and failures only counted. */
  #window = new Map<string, { admitted: number; counted: number }>();
  /** Failures of addresses over `maxAddresses` in this window. */
  #others = 0;

  constructor(options: { maxAddresses?: number; perAddress?: number } = {}) {
    this.#maxAddresses = options.maxAddresses ?? 100;
    this.#perAddress = options.perAddress ?? 1;
  }

  /** Whether to write this failure out; false: counted for the window's summary. */
  admit(address: string): boolean {
    const seen = this.#window.get(address);
    if (seen !== undefined) {
      if (seen.admitted < this.#perAddress) {
        seen.admitted++;
        return true;
      }
      seen.counted++;
      return false;
    }
    if (this.#window.size >= this.#maxAddresses) {
      this.#others++;
      return false;
    }
    this.#window.set(address, { admitted: 1, counted: 0 });
    return true;
  }

  /** Ends the window: what was kept back, or undefined when every failure was logged. */
  roll(): SuppressedAuthFailures | undefined {
    const counted = [...this.#window].map(([address, n]) => [address, n.counted] as const).filter(([, n]) => n > 0).sort((a, b) => b[1] - a[1]);
    const suppressed = counted.reduce((sum, [, n]) => sum + n, this.#others);
    const others = this.#others;
    this.#window = new Map();
    this.#others = 0;
    if (suppressed === 0) return undefined;
    const all: [string, number][] = counted.map(([a, n]) => [a, n]);
    if (others > 0) all.push([OTHER_ADDRESSES, others]);
    const byAddress = Object.fromEntries(all.slice(0, 10));
    return { suppressed, byAddress, all };
  }
}
