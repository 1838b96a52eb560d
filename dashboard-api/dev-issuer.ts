/**
 * The development token issuer of the embedded mode (product.md "Two ways to run"): one ES256
 * key pair, generated on first use into `<dataDir>/auth/dev-issuer-key.json` (mode 0600) and
 * reused afterwards, so `pulsebridge token` in one process and the dashboard in another agree.
 * Production uses an external OpenID Connect issuer instead (auth.ts).
 */
import { randomUUID } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, importJWK, SignJWT } from 'jose';
import type { CryptoKey, JSONWebKeySet, JWK } from 'jose';
import { z } from 'zod';
import { PulsebridgeError } from '../platform/errors.ts';
import { describeZodIssues } from '../platform/zod-issues.ts';
import { PATIENT_ID_PATTERN } from '../contracts/topics.ts';

/** `iss` of every development token. */
export const DEV_ISSUER = 'pulsebridge-dev';
/** `aud` of every Pulsebridge token (development issuer; default for OIDC too). */
export const DEV_AUDIENCE = 'pulsebridge';
/** JWS algorithm of the development key (P-256 ECDSA, RFC 7518 §3.4). */
export const DEV_ALG = 'ES256';
/** Longest lifetime a development token may have: 30 days. */
export const DEV_MAX_TTL_SECONDS = 30 * 24 * 60 * 60;

/** Clinicians see their care team's patients; admins see every patient. */
export const ROLES = ['clinician', 'admin'] as const;
export type Role = (typeof ROLES)[number];

/** Patient ids follow the registry's pattern (platform/registry/). */

export interface IssueTokenInput {
  /** The user, e.g. `dr-jones`. */
  sub: string;
  role: Role;
  /** Care team: the patients a clinician may see. Admins see all regardless. */
  patients: string[];
  /** Lifetime in seconds, 1 … {@link DEV_MAX_TTL_SECONDS}. */
  ttlSeconds: number;
  /**
   * When the sign-in that this token continues happened (seconds since epoch), claim `sst`;
   * default: now. Renewed tokens carry the original one, so a session cannot be renewed forever
   * (session-renewal.ts).
   */
  sessionStartedAt?: number;
}

export interface DevIssuer {
  /** Key id (RFC 7638 JWK thumbprint of the public key), the `kid` header of every token. */
  readonly kid: string;
  /** Where the key pair lives. */
  readonly keyPath: string;
  /** Signs a compact JWT: iss {@link DEV_ISSUER}, aud {@link DEV_AUDIENCE}, claims `role`, `patients`. */
  issueToken(input: IssueTokenInput): Promise<string>;
  /** The public key as a JWKS, for verification (auth.ts createDevTokenVerifier). */
  jwks(): JSONWebKeySet;
}

export interface DevIssuerOptions {
  /** PULSEBRIDGE_DATA_DIR; the key goes to `<dataDir>/auth/dev-issuer-key.json`. */
  dataDir: string;
  /** Clock, ms since epoch (tests). */
  now?: () => number;
}

const jwkSchema = z.looseObject({ kty: z.literal('EC'), crv: z.literal('P-256'), x: z.string().min(1), y: z.string().min(1) });
const keyFileSchema = z.object({
  kid: z.string().min(1),
  alg: z.literal(DEV_ALG),
  createdAt: z.string(),
  privateJwk: jwkSchema.extend({ d: z.string().min(1) }),
  publicJwk: jwkSchema,
});
type KeyFile = z.infer<typeof keyFileSchema>;

const issueSchema = z.object({
  sub: z.string().min(1).max(256),
  role: z.enum(ROLES),
  patients: z.array(z.string().regex(PATIENT_ID_PATTERN, 'patient ids must match ' + PATIENT_ID_PATTERN)),
  ttlSeconds: z.number().int().min(1).max(DEV_MAX_TTL_SECONDS),
  sessionStartedAt: z.number().int().min(0).optional(),
});

/** Path of the development key file inside a data folder. */
export function devIssuerKeyPath(dataDir: string): string {
  return path.join(dataDir, 'auth', 'dev-issuer-key.json');
}

/**
 * Opens the development issuer of `dataDir`, generating its key pair on first use. Safe when two
 * processes start at once: the file appears atomically (hard link of a complete temp file), and
 * the loser of the race reads the winner's key.
 */
export async function openDevIssuer(options: DevIssuerOptions): Promise<DevIssuer> {
  const keyPath = devIssuerKeyPath(options.dataDir);
  const now = options.now ?? Date.now;
  const file = (await readKeyFile(keyPath)) ?? (await createKeyFile(keyPath, now));
  const privateKey = (await importJWK(file.privateJwk as JWK, DEV_ALG)) as CryptoKey;
  const publicJwk: JWK = { kty: 'EC', crv: 'P-256', x: file.publicJwk.x, y: file.publicJwk.y, kid: file.kid, alg: DEV_ALG, use: 'sig' };

  return {
    kid: file.kid,
    keyPath,
    async issueToken(input: IssueTokenInput): Promise<string> {
      const parsed = issueSchema.safeParse(input);
      if (!parsed.success) {
        const detail = describeZodIssues(parsed.error);
        throw new PulsebridgeError('PB_AUTH_INVALID_TOKEN', `cannot issue token: ${detail}`);
      }
      const { sub, role, patients, ttlSeconds, sessionStartedAt } = parsed.data;
      const iat = Math.floor(now() / 1000);
      return new SignJWT({ role, patients, sst: sessionStartedAt ?? iat })
        .setProtectedHeader({ alg: DEV_ALG, kid: file.kid, typ: 'JWT' })
        .setIssuer(DEV_ISSUER)
        .setAudience(DEV_AUDIENCE)
        .setSubject(sub)
        .setIssuedAt(iat)
        .setExpirationTime(iat + ttlSeconds)
        .setJti(randomUUID())
        .sign(privateKey);
    },
    jwks: () => ({ keys: [{ ...publicJwk }] }),
  };
}

async function readKeyFile(keyPath: string): Promise<KeyFile | undefined> {
  let text: string;
  try {
    text = await fs.readFile(keyPath, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new PulsebridgeError('PB_AUTH_KEY_INVALID', `cannot read ${keyPath}`, { cause: err });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new PulsebridgeError('PB_AUTH_KEY_INVALID', `${keyPath} is not JSON; delete it to generate a new key (existing tokens stop working)`, { cause: err });
  }
  const parsed = keyFileSchema.safeParse(json);
  if (!parsed.success) {
    throw new PulsebridgeError('PB_AUTH_KEY_INVALID', `${keyPath} is not a development issuer key: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  }
  // A private key readable by others would let them mint admin tokens: tighten it if an operator
  // copied the folder with a loose umask.
  const stat = await fs.stat(keyPath);
  if ((stat.mode & 0o077) !== 0) await fs.chmod(keyPath, 0o600);
  return parsed.data;
}

async function createKeyFile(keyPath: string, now: () => number): Promise<KeyFile> {
  await fs.mkdir(path.dirname(keyPath), { recursive: true, mode: 0o700 });
  const { privateKey, publicKey } = await generateKeyPair(DEV_ALG, { extractable: true });
  const privateJwk = await exportJWK(privateKey);
  const publicJwk = await exportJWK(publicKey);
  const kid = await calculateJwkThumbprint(publicJwk, 'sha256');
  const file: KeyFile = keyFileSchema.parse({ kid, alg: DEV_ALG, createdAt: new Date(now()).toISOString(), privateJwk: { ...privateJwk, kid }, publicJwk: { ...publicJwk, kid } });
  const tmp = `${keyPath}.${process.pid}.${randomUUID()}.tmp`;
  await fs.writeFile(tmp, JSON.stringify(file, null, 2) + '\n', { mode: 0o600, flag: 'wx' });
  try {
    await fs.link(tmp, keyPath);
  } catch (err) {
    // Another process won the race: use its key so both sign with the same one.
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw new PulsebridgeError('PB_AUTH_KEY_INVALID', `cannot write ${keyPath}`, { cause: err });
    const theirs = await readKeyFile(keyPath);
    if (!theirs) throw new PulsebridgeError('PB_AUTH_KEY_INVALID', `${keyPath} vanished while being created`, { cause: err });
    return theirs;
  } finally {
    await fs.unlink(tmp).catch(() => {});
  }
  return file;
}
