/**
 * Development PKI for embedded mode (product.md "Two ways to run"): a device CA that issues
 * device certificates (subject CN = device id, device-protocol.md "Connection and identity"), and
 * a separate server CA for the gateway's TLS certificate. Two CAs so that a device certificate can
 * never pass as a server and the gateway trusts only the device CA for clients.
 * Keys are generated locally into the data folder (mode 0600) and never committed.
 * Uses the `openssl` command-line tool (present on every Debian/Ubuntu host and in node images).
 *
 * Revocation: the device CA keeps an `openssl ca` database (pki/device-ca.index) and publishes a
 * CRL (pki/device-ca.crl, valid 825 days, renewed when less than 30 days remain), which the
 * embedded gateway follows by default (PULSEBRIDGE_DEVICE_CRL). `rekeyDeviceCertificate` issues a
 * device a new key and certificate and revokes the old one in that CRL.
 */
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { DEVICE_ID_PATTERN } from '../../contracts/topics.ts';
import { PulsebridgeError } from '../errors.ts';
import { parseCrlPem } from './crl.ts';

export interface DevPkiPaths {
  dir: string;
  deviceCaCert: string;
  deviceCaKey: string;
  serverCaCert: string;
  serverCaKey: string;
  gatewayCert: string;
  gatewayKey: string;
  /** The device CA's revocation list (PEM), rewritten by `rekeyDeviceCertificate`. */
  deviceCrl: string;
}

export interface DeviceCredentials {
  cert: string;
  key: string;
  /** The CA that signed the gateway's certificate: what a device must trust. */
  ca: string;
}

const CA_DAYS = '3650';
const LEAF_DAYS = '825';
const CRL_DAYS = 825;
/** The dev CRL is renewed when it would expire within this time. */
const CRL_RENEW_MS = 30 * 86_400_000;

export function devPkiPaths(dataDir: string): DevPkiPaths {
  const dir = path.join(dataDir, 'pki');
  return {
    dir,
    deviceCaCert: path.join(dir, 'device-ca.crt'),
    deviceCaKey: path.join(dir, 'device-ca.key'),
    serverCaCert: path.join(dir, 'server-ca.crt'),
    serverCaKey: path.join(dir, 'server-ca.key'),
    gatewayCert: path.join(dir, 'gateway.crt'),
    gatewayKey: path.join(dir, 'gateway.key'),
    deviceCrl: path.join(dir, 'device-ca.crl'),
  };
}

function openssl(args: string[]): void {
  try {
    execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (err) {
    const stderr = (err as { stderr?: Buffer }).stderr?.toString().trim();
    throw new PulsebridgeError('PB_PKI_FAILED', `openssl ${args[0]} failed: ${stderr ?? String(err)}`, { cause: err });
  }
}

function newKey(keyPath: string): void {
  openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', keyPath]);
  fs.chmodSync(keyPath, 0o600);
}

function selfSignedCa(keyPath: string, certPath: string, cn: string): void {
  newKey(keyPath);
  openssl(['req', '-x509', '-new', '-key', keyPath, '-sha256', '-days', CA_DAYS, '-subj', `/O=Pulsebridge development/CN=${cn}`,
    '-addext', 'basicConstraints=critical,CA:TRUE,pathlen:0', '-addext', 'keyUsage=critical,keyCertSign,cRLSign', '-out', certPath]);
}

function signLeaf(opts: { caCert: string; caKey: string; key: string; cert: string; cn: string; extensions: string[] }): void {
  newKey(opts.key);
  const csr = `${opts.cert}.csr`;
  const ext = `${opts.cert}.ext`;
  openssl(['req', '-new', '-key', opts.key, '-subj', `/O=Pulsebridge development/CN=${opts.cn}`, '-out', csr]);
  fs.writeFileSync(ext, opts.extensions.join('\n') + '\n');
  try {
    openssl(['x509', '-req', '-in', csr, '-CA', opts.caCert, '-CAkey', opts.caKey, '-CAcreateserial', '-sha256', '-days', LEAF_DAYS,
      '-extfile', ext, '-out', opts.cert]);
  } finally {
    fs.rmSync(csr, { force: true });
    fs.rmSync(ext, { force: true });
  }
}

/** Creates the CAs and the gateway certificate if they do not exist yet; returns their paths. */
export function ensureDevPki(dataDir: string): DevPkiPaths {
  const p = devPkiPaths(dataDir);
  fs.mkdirSync(path.join(p.dir, 'devices'), { recursive: true, mode: 0o700 });
  if (!fs.existsSync(p.deviceCaCert)) selfSignedCa(p.deviceCaKey, p.deviceCaCert, 'Pulsebridge dev device CA');
  if (!fs.existsSync(p.serverCaCert)) selfSignedCa(p.serverCaKey, p.serverCaCert, 'Pulsebridge dev server CA');
  if (!fs.existsSync(p.gatewayCert)) {
    signLeaf({
      caCert: p.serverCaCert, caKey: p.serverCaKey, key: p.gatewayKey, cert: p.gatewayCert, cn: 'localhost',
      extensions: ['basicConstraints=critical,CA:FALSE', 'keyUsage=critical,digitalSignature', 'extendedKeyUsage=serverAuth',
        'subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1'],
    });
  }
  ensureDevCrl(dataDir);
  return p;
}

/** The `openssl ca` configuration of the device CA: its database, for revocation and CRLs only. */
function deviceCaConfig(p: DevPkiPaths): string {
  const db = path.join(p.dir, 'device-ca.index');
  if (!fs.existsSync(db)) fs.writeFileSync(db, '');
  // unique_subject=no: a device's revoked certificates and its current one share the subject.
  if (!fs.existsSync(`${db}.attr`)) fs.writeFileSync(`${db}.attr`, 'unique_subject = no\n');
  const crlNumber = path.join(p.dir, 'device-ca.crlnumber');
  if (!fs.existsSync(crlNumber)) fs.writeFileSync(crlNumber, '01\n');
  const cnf = path.join(p.dir, 'device-ca.cnf');
  fs.writeFileSync(cnf, ['[ ca ]', 'default_ca = device_ca', '[ device_ca ]', `database = ${db}`, `crlnumber = ${crlNumber}`,
    'default_md = sha256', `default_crl_days = ${CRL_DAYS}`, ''].join('\n'));
  return cnf;
}

/** Writes a new CRL from the device CA's database, atomically (the gateway may be reading it). */
function publishDevCrl(p: DevPkiPaths): void {
  const cnf = deviceCaConfig(p);
  const tmp = `${p.deviceCrl}.${process.pid}.tmp`;
  try {
    openssl(['ca', '-batch', '-config', cnf, '-keyfile', p.deviceCaKey, '-cert', p.deviceCaCert, '-gencrl', '-out', tmp]);
    fs.renameSync(tmp, p.deviceCrl);
  } finally {
    fs.rmSync(tmp, { force: true });
  }
}

/**
 * Creates the device CA's CRL if missing (a data folder from before revocation lists) or renews it
 * when it expires within 30 days; needs the device CA's key. Returns the CRL's path.
 */
export function ensureDevCrl(dataDir: string): string {
  const p = devPkiPaths(dataDir);
  let renew = true;
  try {
    renew = parseCrlPem(fs.readFileSync(p.deviceCrl, 'utf8')).some((c) => c.nextUpdate !== undefined && c.nextUpdate - Date.now() < CRL_RENEW_MS);
  } catch {
    // missing or unreadable: write it again
  }
  if (renew) publishDevCrl(p);
  return p.deviceCrl;
}

/** Issues (or returns the existing) certificate and key for one device, CN = device id. */
export function issueDeviceCertificate(dataDir: string, deviceId: string): DeviceCredentials {
  if (!DEVICE_ID_PATTERN.test(deviceId)) throw new PulsebridgeError('PB_REGISTRY_INVALID', `device id "${deviceId}" must match ${DEVICE_ID_PATTERN}`);
  const p = ensureDevPki(dataDir);
  const cert = path.join(p.dir, 'devices', `${deviceId}.crt`);
  const key = path.join(p.dir, 'devices', `${deviceId}.key`);
  if (!fs.existsSync(cert) || !fs.existsSync(key)) {
    signLeaf({
      caCert: p.deviceCaCert, caKey: p.deviceCaKey, key, cert, cn: deviceId,
      extensions: ['basicConstraints=critical,CA:FALSE', 'keyUsage=critical,digitalSignature', 'extendedKeyUsage=clientAuth'],
    });
  }
  return { cert, key, ca: p.serverCaCert };
}

export interface RekeyedCredentials extends DeviceCredentials {
  /** Serial number (hex) of the new certificate. */
  serial: string;
  /** Serial number (hex) of the certificate now revoked. */
  revokedSerial: string;
  crl: string;
}

/**
 * Gives a device a new key and certificate (new serial number) and revokes its old certificate
 * in the device CA's CRL. The new files replace the old ones at the same paths. Order: the new
 * pair is made first, the CRL is published, then the files are moved into place; a failure
 * before the CRL leaves everything as it was.
 */
export function rekeyDeviceCertificate(dataDir: string, deviceId: string): RekeyedCredentials {
  if (!DEVICE_ID_PATTERN.test(deviceId)) throw new PulsebridgeError('PB_REGISTRY_INVALID', `device id "${deviceId}" must match ${DEVICE_ID_PATTERN}`);
  const p = ensureDevPki(dataDir);
  const cert = path.join(p.dir, 'devices', `${deviceId}.crt`);
  const key = path.join(p.dir, 'devices', `${deviceId}.key`);
  if (!fs.existsSync(cert)) {
    throw new PulsebridgeError('PB_REGISTRY_UNKNOWN_DEVICE', `device "${deviceId}" has no certificate from the development CA in ${path.dirname(cert)}; \`device add\` issues one`);
  }
  const revokedSerial = new X509Certificate(fs.readFileSync(cert)).serialNumber;
  const newCert = `${cert}.new`;
  const newKey = `${key}.new`;
  try {
    signLeaf({
      caCert: p.deviceCaCert, caKey: p.deviceCaKey, key: newKey, cert: newCert, cn: deviceId,
      extensions: ['basicConstraints=critical,CA:FALSE', 'keyUsage=critical,digitalSignature', 'extendedKeyUsage=clientAuth'],
    });
    const cnf = deviceCaConfig(p);
    try {
      openssl(['ca', '-batch', '-config', cnf, '-keyfile', p.deviceCaKey, '-cert', p.deviceCaCert, '-revoke', cert, '-crl_reason', 'keyCompromise']);
    } catch (err) {
      // A rekey interrupted after the revocation: the old certificate is already in the database.
      if (!/already revoked/i.test((err as Error).message)) throw err;
    }
    publishDevCrl(p);
    fs.renameSync(newKey, key);
    fs.renameSync(newCert, cert);
  } finally {
    fs.rmSync(newCert, { force: true });
    fs.rmSync(newKey, { force: true });
  }
  const serial = new X509Certificate(fs.readFileSync(cert)).serialNumber;
  return { cert, key, ca: p.serverCaCert, serial, revokedSerial, crl: p.deviceCrl };
}

/**
 * Test helper for "a certificate from another CA": a throwaway CA in `dir` and a client
 * certificate with the given CN signed by it.
 */
export function issueForeignCertificate(dir: string, cn: string): DeviceCredentials {
  fs.mkdirSync(dir, { recursive: true });
  const caKey = path.join(dir, 'foreign-ca.key');
  const caCert = path.join(dir, 'foreign-ca.crt');
  if (!fs.existsSync(caCert)) selfSignedCa(caKey, caCert, 'Foreign CA');
  const key = path.join(dir, `${cn}.key`);
  const cert = path.join(dir, `${cn}.crt`);
  signLeaf({ caCert, caKey, key, cert, cn, extensions: ['basicConstraints=critical,CA:FALSE', 'extendedKeyUsage=clientAuth'] });
  return { cert, key, ca: caCert };
}
