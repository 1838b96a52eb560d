/**
 * TLS and SASL to Kafka (KAFKA_SSL, KAFKA_SSL_*, KAFKA_SASL_*; platform/config.ts validates their
 * combinations): the files are read and checked once, when a client is made, so a wrong path or a
 * file that is not PEM is one line at start-up, naming the setting, rather than a bus that never
 * connects. Without settings nothing is added to the kafkajs options (PLAINTEXT, as before).
 *
 * TLS: the broker's certificate and host name are always verified (rejectUnauthorized is written
 * out, so NODE_TLS_REJECT_UNAUTHORIZED=0 cannot turn it off; kafkajs passes each broker's host as
 * the server name); KAFKA_SSL_CA_FILE is trusted besides Node's default roots, as the EHR's
 * PULSEBRIDGE_FHIR_CA_FILE / PULSEBRIDGE_HL7_CA_FILE are.
 */
import fs from 'node:fs';
import tls from 'node:tls';
import type { KafkaConfig, SASLOptions } from 'kafkajs';
import { PulsebridgeError } from '../errors.ts';
import { readTlsFiles } from '../security/tls-files.ts';

export const KAFKA_SASL_MECHANISMS = ['scram-sha-256', 'scram-sha-512', 'plain'] as const;
export type KafkaSaslMechanism = (typeof KAFKA_SASL_MECHANISMS)[number];

/** How to reach a secured Kafka: the settings as configured (paths, not contents). */
export interface KafkaSecurity {
  /** TLS to every broker (KAFKA_SSL=true), with optional extra CA and client certificate. */
  tls?: { caFile?: string; certFile?: string; keyFile?: string };
  /** SASL authentication; the password either given or read from a file (a mounted secret). */
  sasl?: { mechanism: KafkaSaslMechanism; username: string; password?: string; passwordFile?: string };
}

/** The kafkajs options for `security` (none for undefined: PLAINTEXT). @throws PB_CONFIG_INVALID naming the setting. */
export function kafkaClientSecurity(security: KafkaSecurity | undefined): Pick<KafkaConfig, 'ssl' | 'sasl'> {
  if (!security) return {};
  const out: Pick<KafkaConfig, 'ssl' | 'sasl'> = {};
  if (security.tls) {
    const files = readTlsFiles('KAFKA_SSL', security.tls);
    out.ssl = {
      rejectUnauthorized: true,
      ...(files.ca ? { ca: [...tls.getCACertificates('default'), files.ca] } : {}),
      ...(files.cert ? { cert: files.cert, key: files.key } : {}),
    };
  }
  if (security.sasl) {
    const s = security.sasl;
    const password = s.passwordFile !== undefined ? readPasswordFile(s.passwordFile) : s.password;
    if (!password) throw new PulsebridgeError('PB_CONFIG_INVALID', 'KAFKA_SASL_PASSWORD or KAFKA_SASL_PASSWORD_FILE is required with KAFKA_SASL_MECHANISM');
    out.sasl = { mechanism: s.mechanism, username: s.username, password } as SASLOptions;
  }
  return out;
}

/**
 * A hint for a refusal that only TLS or SASL settings can mend (appended to the bus's error
 * messages), or '' for any other failure. Nothing is added for a PLAINTEXT client (`security`
 * undefined): its messages stay as they were.
 */
export function kafkaSecurityHint(err: unknown, security: KafkaSecurity | undefined): string {
  if (!security) return '';
  if (kafkaAuthorizationRefusal(err)) return authorizationHint(security);
  let e = err as { name?: unknown; code?: unknown; message?: unknown; originalError?: unknown; cause?: unknown } | undefined;
  for (let depth = 0; e && typeof e === 'object' && depth < 6; depth++) {
    // A SASL_SSL listener closes a TLS client that skips the SASL handshake at its first request.
    if (security.tls && !security.sasl && (e.name === 'KafkaJSConnectionClosedError' || e.message === 'Closed connection')) {
      return ' (the broker closed the connection: if its listener is SASL_SSL, set KAFKA_SASL_MECHANISM, KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD_FILE)';
    }
    const hint = loginOrCertificateHint(e.name, e.code, e.message);
    if (hint) return hint;
    e = (e.originalError ?? e.cause) as typeof e;
  }
  return '';
}

/**
 * The same hint for a line kafkajs logs while the bus runs (a reconnect refused after the broker's
 * certificate changed, a password rotated on the broker): kafkajs logs only the message text —
 * `Connection error: unable to verify the first certificate; … try running Node.js with
 * --use-system-ca`, `SASL SCRAM SHA512 authentication failed: …`, `Crash: KafkaJSSASLAuthenticationError: …`
 * — so the error is recognised by its words. `error`: the entry's `error` field (kafkajs puts a
 * failed response's message there). Not the closed-connection hint: every connection closes
 * during a broker outage, which that hint would misname.
 */
export function kafkaLogSecurityHint(message: string, error: unknown, security: KafkaSecurity | undefined): string {
  if (!security) return '';
  for (const text of [message, typeof error === 'string' ? error : undefined]) {
    if (text !== undefined && AUTHORIZATION_REFUSED.test(text)) return authorizationHint(security);
    const hint = text === undefined ? '' : loginOrCertificateHint(undefined, undefined, text);
    if (hint) return hint;
  }
  return '';
}

/**
 * kafkajs' texts for Kafka's TOPIC_AUTHORIZATION_FAILED (29), GROUP_AUTHORIZATION_FAILED (30) and
 * CLUSTER_AUTHORIZATION_FAILED (31): the broker's ACLs refuse the request to this principal.
 */
const AUTHORIZATION_REFUSED = /Not authorized to access (topics|group|cluster)/;
const AUTHORIZATION_TYPES = new Set(['TOPIC_AUTHORIZATION_FAILED', 'GROUP_AUTHORIZATION_FAILED', 'CLUSTER_AUTHORIZATION_FAILED']);

/** The broker's words when its ACLs refused `err` (it or an error it wraps), else undefined. */
export function kafkaAuthorizationRefusal(err: unknown, depth = 0): string | undefined {
  const e = err as { type?: unknown; message?: unknown; originalError?: unknown; cause?: unknown; errors?: unknown } | undefined;
  if (!e || typeof e !== 'object' || depth >= 6) return undefined;
  const text = typeof e.message === 'string' ? e.message : '';
  if ((typeof e.type === 'string' && AUTHORIZATION_TYPES.has(e.type)) || AUTHORIZATION_REFUSED.test(text)) return text || String(e.type);
  // kafkajs' createTopics throws "Topic creation errors" with each topic's error in `errors`.
  for (const inner of Array.isArray(e.errors) ? e.errors : []) {
    const found = kafkaAuthorizationRefusal(inner, depth + 1);
    if (found) return found;
  }
  return kafkaAuthorizationRefusal(e.originalError ?? e.cause, depth + 1);
}

/** Each component has its own user with only its ACLs (platform/bus/acl-spec.ts): name the user and where the grants are. */
function authorizationHint(security: KafkaSecurity): string {
  const user = security.sasl ? `KAFKA_SASL_USERNAME ${security.sasl.username}` : 'this client';
  return ` (the broker's ACLs do not allow this to ${user}: each component needs its own user with its ACLs, README "Kafka ACLs"; apply them with scripts/kafka-acls.ts)`;
}

function loginOrCertificateHint(name: unknown, code: unknown, message: unknown): string {
  const text = typeof message === 'string' ? message : '';
  if (name === 'KafkaJSSASLAuthenticationError' || SASL_REFUSED.test(text)) {
    return ' (the broker refused the SASL login: check KAFKA_SASL_USERNAME, KAFKA_SASL_PASSWORD_FILE or KAFKA_SASL_PASSWORD, and KAFKA_SASL_MECHANISM)';
  }
  const tlsCode = typeof code === 'string' && TLS_VERIFY_CODES.has(code) ? code : TLS_VERIFY_TEXTS.find(([pattern]) => pattern.test(text))?.[1];
  if (tlsCode) {
    return ` (the broker's TLS certificate is not trusted or does not name the host [${tlsCode}]: check KAFKA_SSL_CA_FILE and the host names in KAFKA_BROKERS)`;
  }
  return '';
}

/** kafkajs' SASL authenticators' message: `SASL SCRAM SHA512 authentication failed: …`, `SASL PLAIN authentication failed: …`. */
const SASL_REFUSED = /\bSASL [A-Z0-9 -]+ authentication failed\b/;

/** Node's codes for a server certificate that fails verification. */
const TLS_VERIFY_CODES = new Set([
  'SELF_SIGNED_CERT_IN_CHAIN', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID', 'CERT_UNTRUSTED', 'CERT_REJECTED',
  'ERR_TLS_CERT_ALTNAME_INVALID', 'INVALID_CA', 'CERT_SIGNATURE_FAILURE',
]);

/**
 * Node's (OpenSSL's) messages for those codes, for a logged line that has lost the code. Node 17+
 * writes "self-signed", earlier "self signed"; Node 24 may add "; if the root CA is installed
 * locally, try running Node.js with --use-system-ca".
 */
const TLS_VERIFY_TEXTS: readonly [RegExp, string][] = [
  [/self[- ]signed certificate in certificate chain/, 'SELF_SIGNED_CERT_IN_CHAIN'],
  [/self[- ]signed certificate/, 'DEPTH_ZERO_SELF_SIGNED_CERT'],
  [/unable to verify the first certificate/, 'UNABLE_TO_VERIFY_LEAF_SIGNATURE'],
  [/unable to get local issuer certificate/, 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY'],
  [/unable to get issuer certificate/, 'UNABLE_TO_GET_ISSUER_CERT'],
  [/certificate has expired/, 'CERT_HAS_EXPIRED'],
  [/certificate is not yet valid/, 'CERT_NOT_YET_VALID'],
  [/certificate not trusted/, 'CERT_UNTRUSTED'],
  [/certificate rejected/, 'CERT_REJECTED'],
  [/Hostname\/IP does not match certificate's altnames/, 'ERR_TLS_CERT_ALTNAME_INVALID'],
  [/invalid CA certificate/, 'INVALID_CA'],
  [/certificate signature failure/, 'CERT_SIGNATURE_FAILURE'],
];

function readFile(setting: string, file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new PulsebridgeError('PB_CONFIG_INVALID', `cannot read ${setting} ${file}: ${(err as Error).message}`, { cause: err });
  }
}

/** The password: the file's text without its trailing line break(s) (a secret written by `echo`). */
function readPasswordFile(file: string): string {
  const password = readFile('KAFKA_SASL_PASSWORD_FILE', file).replace(/(\r?\n)+$/, '');
  if (password === '') throw new PulsebridgeError('PB_CONFIG_INVALID', `KAFKA_SASL_PASSWORD_FILE ${file} is empty`);
  return password;
}
