/**
 * Certificate revocation lists of the device CA (security review finding 5): parsed and checked
 * here so that a wrong file is refused with a sentence before the gateway hands it to OpenSSL
 * (Node's `crl` option says only "Failed to parse CRL", and a CRL of another CA would make
 * OpenSSL refuse every device: UNABLE_TO_GET_CRL).
 *
 * A file may hold several PEM `X509 CRL` blocks (one per CA of the device CA bundle). Each must
 * be signed by a CA of the bundle (verified here), and each CA of the bundle must have one:
 * with a CRL configured, OpenSSL checks revocation for every certificate of the chain (Node sets
 * X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL) and refuses a certificate whose issuer has
 * no CRL.
 *
 * Only what the gateway needs is read from the DER (RFC 5280 §5.1): issuer, thisUpdate,
 * nextUpdate, the revoked serial numbers, and the signature over tbsCertList.
 */
import crypto, { X509Certificate } from 'node:crypto';
import fs from 'node:fs';
import { PulsebridgeError } from '../errors.ts';
import { followFile } from '../followed-file.ts';
import type { Logger } from '../log.ts';

export interface ParsedCrl {
  /** The issuer as text, e.g. "CN=Hospital device CA, O=…" (for messages). */
  issuer: string;
  thisUpdate: number;
  /** ms since the epoch; undefined when the CRL has none (never stale). */
  nextUpdate: number | undefined;
  /** Revoked serial numbers, upper-case hex without leading zeros. */
  revokedSerials: Set<string>;
  /** This block as PEM, for the TLS context. */
  pem: string;
  tbs: Buffer;
  signatureAlgorithm: string;
  signature: Buffer;
}

/** The device CRLs in force: one or more per CA of the device CA bundle. */
export interface DeviceCrl {
  /** Each CRL as one PEM string: Node's `crl` option reads one CRL per array entry. */
  pems: string[];
  crls: { crl: ParsedCrl; ca: X509Certificate }[];
  /** Number of revoked certificates listed (all CRLs). */
  revokedCount: number;
  /**
   * From when some CA of the bundle has no current CRL: the earliest, over the CAs, of each CA's
   * latest nextUpdate (ms since the epoch); undefined when none has one.
   */
  nextUpdate: number | undefined;
}

// ---- DER ---------------------------------------------------------------------------------

interface Tlv { tag: number; start: number; contentStart: number; end: number }

function tlv(buf: Buffer, at: number, limit = buf.length): Tlv {
  if (at + 2 > limit) throw new Error('truncated DER');
  const tag = buf[at]!;
  let len = buf[at + 1]!;
  let contentStart = at + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4 || contentStart + n > limit) throw new Error('bad DER length');
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + buf[contentStart + i]!;
    contentStart += n;
  }
  const end = contentStart + len;
  if (end > limit) throw new Error('truncated DER');
  return { tag, start: at, contentStart, end };
}

function children(buf: Buffer, parent: Tlv): Tlv[] {
  const out: Tlv[] = [];
  for (let at = parent.contentStart; at < parent.end;) {
    const t = tlv(buf, at, parent.end);
    out.push(t);
    at = t.end;
  }
  return out;
}

function oid(buf: Buffer, t: Tlv): string {
  if (t.tag !== 0x06) throw new Error('expected an OBJECT IDENTIFIER');
  const bytes = buf.subarray(t.contentStart, t.end);
  const parts: number[] = [];
  let v = 0;
  for (const b of bytes) {
    v = v * 128 + (b & 0x7f);
    if (!(b & 0x80)) { parts.push(v); v = 0; }
  }
  const first = parts.shift() ?? 0;
  const head = first < 80 ? [Math.floor(first / 40), first % 40] : [2, first - 80];
  return [...head, ...parts].join('.');
}

function time(buf: Buffer, t: Tlv): number {
  const s = buf.toString('latin1', t.contentStart, t.end);
  const m = t.tag === 0x17 ? /^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(s)
    : t.tag === 0x18 ? /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(s) : null;
  if (!m) throw new Error(`bad time "${s}"`);
  let year = Number(m[1]);
  if (t.tag === 0x17) year += year >= 50 ? 1900 : 2000; // RFC 5280 §4.1.2.5.1
  return Date.UTC(year, Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6]));
}

const isTime = (t: Tlv | undefined) => t !== undefined && (t.tag === 0x17 || t.tag === 0x18);

export function normalizeSerial(hex: string): string {
  return hex.replace(/[^0-9a-f]/gi, '').toUpperCase().replace(/^0+(?=.)/, '');
}

const NAME_ATTRIBUTES: Record<string, string> = { '2.5.4.3': 'CN', '2.5.4.10': 'O', '2.5.4.11': 'OU', '2.5.4.6': 'C', '2.5.4.7': 'L', '2.5.4.8': 'ST' };

function nameText(buf: Buffer, name: Tlv): string {
  const parts: string[] = [];
  for (const rdn of children(buf, name)) {
    for (const atv of children(buf, rdn)) {
      const [type, value] = children(buf, atv);
      if (!type || !value) continue;
      const key = oid(buf, type);
      parts.push(`${NAME_ATTRIBUTES[key] ?? key}=${buf.toString('utf8', value.contentStart, value.end)}`);
    }
  }
  return parts.join(', ');
}

/** Parses one DER CertificateList (RFC 5280 §5.1). Throws on anything it cannot read. */
function parseCrlDer(der: Buffer, pem: string): ParsedCrl {
  const top = tlv(der, 0);
  if (top.tag !== 0x30 || top.end !== der.length) throw new Error('not a DER SEQUENCE');
  const [tbsT, algT, sigT] = children(der, top);
  if (!tbsT || tbsT.tag !== 0x30 || !algT || algT.tag !== 0x30 || !sigT || sigT.tag !== 0x03) throw new Error('not a CertificateList');
  const tbs = children(der, tbsT);
  let i = 0;
  if (tbs[i]?.tag === 0x02) i++; // version
  i++; // signature AlgorithmIdentifier
  const issuerT = tbs[i++];
  if (!issuerT || issuerT.tag !== 0x30) throw new Error('no issuer');
  const thisT = tbs[i++];
  if (!isTime(thisT)) throw new Error('no thisUpdate');
  const thisUpdate = time(der, thisT!);
  let nextUpdate: number | undefined;
  if (isTime(tbs[i])) nextUpdate = time(der, tbs[i++]!);
  const revokedSerials = new Set<string>();
  if (tbs[i]?.tag === 0x30) {
    for (const entry of children(der, tbs[i++]!)) {
      const serial = children(der, entry)[0];
      if (!serial || serial.tag !== 0x02) throw new Error('bad revoked entry');
      revokedSerials.add(normalizeSerial(der.toString('hex', serial.contentStart, serial.end)));
    }
  }
  const sigBits = der.subarray(sigT.contentStart + 1, sigT.end); // first byte: unused bits (0)
  return {
    issuer: nameText(der, issuerT), thisUpdate, nextUpdate, revokedSerials, pem,
    tbs: der.subarray(tbsT.start, tbsT.end), signatureAlgorithm: oid(der, children(der, algT)[0]!), signature: Buffer.from(sigBits),
  };
}

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/g;

function pemBlocks(text: string, label: string): { pem: string; der: Buffer }[] {
  return [...text.matchAll(PEM_BLOCK)].filter((m) => m[1] === label)
    .map((m) => ({ pem: m[0] + '\n', der: Buffer.from(m[2]!.replace(/\s+/g, ''), 'base64') }));
}

/** Every `X509 CRL` block of a PEM text; throws when there is none or one cannot be read. */
export function parseCrlPem(text: string): ParsedCrl[] {
  const blocks = pemBlocks(text, 'X509 CRL');
  if (blocks.length === 0) throw new Error('no PEM "X509 CRL" block');
  return blocks.map((b, n) => {
    try {
      return parseCrlDer(b.der, b.pem);
    } catch (err) {
      throw new Error(`CRL ${n + 1} cannot be read: ${(err as Error).message}`, { cause: err });
    }
  });
}

/** Every certificate of a PEM bundle (the device CA file may hold several CAs). */
export function parseCertificateBundle(pem: string | Buffer): X509Certificate[] {
  return pemBlocks(pem.toString(), 'CERTIFICATE').map((b) => new X509Certificate(b.der));
}

/** Hash for crypto.verify by signature algorithm OID; null for EdDSA. */
const SIGNATURE_HASHES: Record<string, string | null> = {
  '1.2.840.113549.1.1.11': 'sha256', '1.2.840.113549.1.1.12': 'sha384', '1.2.840.113549.1.1.13': 'sha512', '1.2.840.113549.1.1.14': 'sha224',
  '1.2.840.10045.4.3.2': 'sha256', '1.2.840.10045.4.3.3': 'sha384', '1.2.840.10045.4.3.4': 'sha512',
  '1.3.101.112': null, '1.3.101.113': null,
};

function signedBy(crl: ParsedCrl, ca: X509Certificate): boolean {
  const hash = SIGNATURE_HASHES[crl.signatureAlgorithm];
  if (hash === undefined) return false;
  try {
    return crypto.verify(hash, crl.tbs, ca.publicKey, crl.signature);
  } catch {
    return false;
  }
}

/**
 * Reads and checks the device CRL file against the device CA bundle. Throws PB_CONFIG_INVALID
 * naming `setting` when the file is unreadable, holds no readable CRL, holds a CRL no CA of the
 * bundle signed, or lacks the CRL of a CA of the bundle.
 */
export function readDeviceCrl(file: string, deviceCa: string | Buffer, setting = 'PULSEBRIDGE_DEVICE_CRL'): DeviceCrl {
  const fail = (why: string, cause?: unknown) =>
    new PulsebridgeError('PB_CONFIG_INVALID', `${setting} (${file}): ${why}`, cause === undefined ? undefined : { cause });
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw fail(`cannot read the device CRL file: ${(err as Error).message}`, err);
  }
  let parsed: ParsedCrl[];
  try {
    parsed = parseCrlPem(text);
  } catch (err) {
    throw fail(`not a PEM certificate revocation list: ${(err as Error).message}`, err);
  }
  const cas = parseCertificateBundle(deviceCa);
  const crls = parsed.map((crl) => {
    const ca = cas.find((c) => signedBy(crl, c));
    if (!ca) {
      const known = SIGNATURE_HASHES[crl.signatureAlgorithm] !== undefined;
      throw fail(known
        ? `the CRL of "${crl.issuer}" is not signed by the device CA (PULSEBRIDGE_DEVICE_CA); only CRLs of the CA that issues device certificates belong here`
        : `the CRL of "${crl.issuer}" is signed with an algorithm this gateway does not check (${crl.signatureAlgorithm}); RSA PKCS#1 v1.5, ECDSA and EdDSA are supported`);
    }
    return { crl, ca };
  });
  let nextUpdate: number | undefined;
  for (const ca of cas) {
    const own = crls.filter((c) => c.ca === ca).map((c) => c.crl);
    if (own.length === 0) {
      throw fail(`no CRL of the device CA "${ca.subject.replace(/\n/g, ', ')}": with revocation lists configured, every certificate that CA issued would be refused (UNABLE_TO_GET_CRL); add its CRL to the file`);
    }
    const latest = own.some((c) => c.nextUpdate === undefined) ? undefined : Math.max(...own.map((c) => c.nextUpdate!));
    if (latest !== undefined) nextUpdate = nextUpdate === undefined ? latest : Math.min(nextUpdate, latest);
  }
  return { pems: parsed.map((c) => c.pem), crls, revokedCount: parsed.reduce((n, c) => n + c.revokedSerials.size, 0), nextUpdate };
}

/**
 * The device CRL file, read now (a bad file throws, naming PULSEBRIDGE_DEVICE_CRL) and again when
 * it changed, at most every `checkEveryMs` (default 2 s) when asked: a new file that is
 * unreadable or invalid keeps the last good version, with one warning (platform/followed-file.ts).
 * So does a file whose CRL of some CA is older (thisUpdate) than the one in use: a backup restored
 * over the file would otherwise un-revoke what was revoked since (security re-check, session 33).
 */
export function followDeviceCrl(file: string, deviceCa: string | Buffer, logger: Logger, options: { checkEveryMs?: number } = {}): () => DeviceCrl {
  let inUse: DeviceCrl | undefined;
  const read = (f: string): DeviceCrl => {
    const next = readDeviceCrl(f, deviceCa);
    if (inUse) refuseOlder(inUse, next);
    inUse = next;
    return next;
  };
  return followFile(file, read, (c) => c.revokedCount, { logger, what: 'device CRL file (PULSEBRIDGE_DEVICE_CRL)', ...options });
}

/** Throws when, for some CA, the newest CRL of `next` was issued before the newest of `current`. */
function refuseOlder(current: DeviceCrl, next: DeviceCrl): void {
  const newest = (crl: DeviceCrl, ca: X509Certificate) => Math.max(...crl.crls.filter((c) => c.ca.fingerprint256 === ca.fingerprint256).map((c) => c.crl.thisUpdate));
  for (const { ca, crl } of next.crls) {
    const before = newest(current, ca);
    if (newest(next, ca) < before) {
      throw new PulsebridgeError('PB_CONFIG_INVALID', `the new CRL of "${crl.issuer}" was issued ${new Date(newest(next, ca)).toISOString()}, before the one in use (${new Date(before).toISOString()}): an older list would un-revoke certificates revoked since`);
    }
  }
}

/** Whether `cert` (issued by a CA of the bundle) is listed as revoked by that CA's CRLs. */
export function isRevoked(deviceCrl: DeviceCrl, cert: X509Certificate): boolean {
  const serial = normalizeSerial(cert.serialNumber);
  return deviceCrl.crls.some(({ crl, ca }) => crl.revokedSerials.has(serial) && cert.checkIssued(ca));
}

const CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';
const ANY_EKU = '2.5.29.37.0';

/**
 * The chain check OpenSSL does, without the CRLs' own validity times: used only when OpenSSL
 * refused a certificate because a CRL is past its nextUpdate (CRL_HAS_EXPIRED) or not yet valid,
 * since it then reports that and nothing else. Walks from `peer` up through the bundle:
 * signature, validity period and revocation by each issuer's CRLs; the leaf must allow client
 * authentication. Returns the OpenSSL-style reason when it fails.
 */
export function verifyIgnoringCrlTimes(deviceCrl: DeviceCrl, peer: X509Certificate, now: number): { ok: true } | { ok: false; reason: string } {
  const cas = [...new Set(deviceCrl.crls.map((c) => c.ca))];
  const eku = peer.keyUsage;
  if (eku && eku.length > 0 && !eku.includes(CLIENT_AUTH) && !eku.includes(ANY_EKU)) return { ok: false, reason: 'INVALID_PURPOSE' };
  let cert = peer;
  for (let depth = 0; depth < 8; depth++) {
    if (now < Date.parse(cert.validFrom)) return { ok: false, reason: 'CERT_NOT_YET_VALID' };
    if (now > Date.parse(cert.validTo)) return { ok: false, reason: 'CERT_HAS_EXPIRED' };
    const issuer = cas.find((ca) => cert.checkIssued(ca) && cert.verify(ca.publicKey));
    if (!issuer) return { ok: false, reason: depth === 0 ? 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' : 'UNABLE_TO_GET_ISSUER_CERT' };
    if (isRevoked(deviceCrl, cert)) return { ok: false, reason: 'CERT_REVOKED' };
    if (issuer.ca !== true) return { ok: false, reason: 'INVALID_CA' };
    if (issuer === cert || issuer.fingerprint256 === cert.fingerprint256) return { ok: true }; // self-signed root reached
    cert = issuer;
  }
  return { ok: false, reason: 'CERT_CHAIN_TOO_LONG' };
}
