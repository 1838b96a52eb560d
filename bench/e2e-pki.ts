/**
 * Device certificates for the end-to-end benchmark, issued in-process by the development device
 * CA (platform/dev-pki.ts) with @peculiar/x509 on WebCrypto: 10,000 devices need 10,000
 * certificates (CN = device id), and two openssl runs per certificate take ~100 ms each on this
 * machine (~17 minutes); in-process it is ~1 ms each. Same profile as dev-pki.ts's leaves
 * (P-256, CA:FALSE, digitalSignature, clientAuth), except that the devices share one key pair
 * (the gateway checks the certificate chain and CN, not key uniqueness). Kept in a cache folder and reused.
 */
import { webcrypto, createPrivateKey, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
// @peculiar/x509's dependency injection (tsyringe) needs the Reflect metadata polyfill first.
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { ensureDevPki } from '../platform/security/index.ts';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);
const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;

export interface DeviceCredentialFiles { id: string; cert: string; key: string; ca: string }

/** Certificates of `ids` in `<dataDir>/pki/bench-devices`, issued where missing. */
export async function issueBenchDeviceCertificates(dataDir: string, ids: string[]): Promise<DeviceCredentialFiles[]> {
  const pki = ensureDevPki(dataDir);
  const dir = path.join(pki.dir, 'bench-devices');
  fs.mkdirSync(dir, { recursive: true });
  const caCert = new x509.X509Certificate(fs.readFileSync(pki.deviceCaCert, 'utf8'));
  const caKeyDer = createPrivateKey(fs.readFileSync(pki.deviceCaKey)).export({ type: 'pkcs8', format: 'der' });
  const caKey = await webcrypto.subtle.importKey('pkcs8', caKeyDer, { name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign']);
  const key = path.join(dir, 'shared-device.key');
  const publicKeyPath = path.join(dir, 'shared-device.pub');
  if (!fs.existsSync(key) || !fs.existsSync(publicKeyPath)) {
    const keys = await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify']);
    const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey));
    fs.writeFileSync(publicKeyPath, Buffer.from(await webcrypto.subtle.exportKey('spki', keys.publicKey)));
    fs.writeFileSync(key, `-----BEGIN PRIVATE KEY-----\n${pkcs8.toString('base64').replace(/(.{64})/g, '$1\n').trimEnd()}\n-----END PRIVATE KEY-----\n`, { mode: 0o600 });
  }
  const publicKey = await webcrypto.subtle.importKey('spki', fs.readFileSync(publicKeyPath), { name: 'ECDSA', namedCurve: 'P-256' }, true, ['verify']);
  const out: DeviceCredentialFiles[] = [];
  for (const id of ids) {
    const cert = path.join(dir, `${id}.crt`);
    if (!fs.existsSync(cert)) {
      const now = Date.now();
      const leaf = await x509.X509CertificateGenerator.create({
        serialNumber: randomBytes(16).toString('hex').replace(/^[89a-f]/, '1'),
        subject: `CN=${id}`,
        issuer: caCert.subject,
        notBefore: new Date(now - 60_000),
        notAfter: new Date(now + 825 * 86_400_000),
        signingAlgorithm: ALG,
        publicKey,
        signingKey: caKey,
        extensions: [
          new x509.BasicConstraintsExtension(false, undefined, true),
          new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
          new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth]),
        ],
      });
      fs.writeFileSync(cert, leaf.toString('pem') + '\n');
    }
    out.push({ id, cert, key, ca: pki.serverCaCert });
  }
  return out;
}
