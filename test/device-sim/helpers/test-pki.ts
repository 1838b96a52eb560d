/**
 * Throwaway PKI for TLS tests, made with the openssl CLI in a temporary folder: a CA, a server
 * certificate for 127.0.0.1/localhost, and device certificates whose CN is the device id.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

export interface TestPki {
  dir: string;
  ca: string;
  server: { key: string; cert: string };
  /** Issues a client certificate with CN = deviceId, signed by this CA. */
  device(deviceId: string): { key: string; cert: string };
  /** A CA unrelated to this one, with a device certificate it signed. */
  foreignDevice(deviceId: string): { key: string; cert: string };
  remove(): void;
}

const run = (cwd: string, args: string[]) => execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });

function makeCa(dir: string, name: string): void {
  run(dir, ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', `/CN=${name}`, '-keyout', `${name}.key`, '-out', `${name}.crt`]);
}

function issue(dir: string, caName: string, name: string, cn: string, ext: string): { key: string; cert: string } {
  writeFileSync(path.join(dir, `${name}.ext`), ext);
  run(dir, ['req', '-newkey', 'rsa:2048', '-nodes', '-subj', `/CN=${cn}`, '-keyout', `${name}.key`, '-out', `${name}.csr`]);
  run(dir, ['x509', '-req', '-in', `${name}.csr`, '-CA', `${caName}.crt`, '-CAkey', `${caName}.key`, '-CAcreateserial', '-days', '2', '-extfile', `${name}.ext`, '-out', `${name}.crt`]);
  return { key: readFileSync(path.join(dir, `${name}.key`), 'utf8'), cert: readFileSync(path.join(dir, `${name}.crt`), 'utf8') };
}

export function createTestPki(): TestPki {
  const dir = mkdtempSync(path.join(tmpdir(), 'pb-sim-pki-'));
  makeCa(dir, 'ca');
  const server = issue(dir, 'ca', 'server', 'localhost', 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
  let foreignMade = false;
  return {
    dir,
    ca: readFileSync(path.join(dir, 'ca.crt'), 'utf8'),
    server,
    device: (deviceId) => issue(dir, 'ca', `dev-${deviceId}`, deviceId, 'extendedKeyUsage=clientAuth\n'),
    foreignDevice(deviceId) {
      if (!foreignMade) makeCa(dir, 'foreign');
      foreignMade = true;
      return issue(dir, 'foreign', `foreign-${deviceId}`, deviceId, 'extendedKeyUsage=clientAuth\n');
    },
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
