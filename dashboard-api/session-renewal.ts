/**
 * Sessions that last a shift: `POST /v1/session/renew` trades a valid token for a fresh one with
 * the same subject, role, care team and lifetime, so the board never falls back to sign-in
 * mid-shift. Only the development issuer (embedded mode) can do this here; with an external
 * OpenID Connect issuer renewal is that issuer's job (refresh tokens / a new authorization), and
 * the route answers 404.
 *
 * A session still ends: renewal is refused once `maxSessionMs` has passed since the original
 * sign-in (claim `sst`, carried over by every renewal), so a leaked token cannot be kept alive forever.
 */
import { decodeJwt } from 'jose';
import { PulsebridgeError } from '../platform/errors.ts';
import type { Principal } from './auth.ts';
import type { DevIssuer } from './dev-issuer.ts';

export interface RenewedToken {
  token: string;
  /** ms since epoch */
  expiresAtMs: number;
}

export interface TokenRenewer {
  /** A new token for an already verified one; PB_AUTH_INVALID_TOKEN when the session is over. */
  renew(principal: Principal, token: string): Promise<RenewedToken>;
}

/** 16 h: a 12 h shift plus hand-over; then the clinician signs in again. */
export const DEFAULT_MAX_SESSION_MS = 16 * 60 * 60 * 1000;

export function devTokenRenewer(issuer: DevIssuer, options: { maxSessionMs?: number; now?: () => number } = {}): TokenRenewer {
  const maxSessionMs = options.maxSessionMs ?? DEFAULT_MAX_SESSION_MS;
  const now = options.now ?? Date.now;
  return {
    async renew(principal, token) {
      const claims = decodeJwt(token);
      const iat = typeof claims.iat === 'number' ? claims.iat : undefined;
      const exp = typeof claims.exp === 'number' ? claims.exp : undefined;
      if (iat === undefined || exp === undefined || exp <= iat) {
        throw new PulsebridgeError('PB_AUTH_INVALID_TOKEN', 'only a token with iat and exp can be renewed');
      }
      const sessionStartedAt = typeof claims['sst'] === 'number' ? claims['sst'] : iat;
      if (now() - sessionStartedAt * 1000 > maxSessionMs) {
        throw new PulsebridgeError('PB_AUTH_INVALID_TOKEN', `the session started more than ${Math.round(maxSessionMs / 3_600_000)} h ago; sign in again`);
      }
      const ttlSeconds = exp - iat;
      const fresh = await issuer.issueToken({ sub: principal.sub, role: principal.role, patients: [...principal.patients], ttlSeconds, sessionStartedAt });
      // The expiry the client is told is the fresh token's own (the issuer's clock, not this one's:
      // the two can fall on either side of a second boundary).
      return { token: fresh, expiresAtMs: decodeJwt(fresh).exp! * 1000 };
    },
  };
}
