/**
 * TLS files of our outgoing connections — `<prefix>_CA_FILE`, `<prefix>_CLIENT_CERT`,
 * `<prefix>_CLIENT_KEY` for the EHR over https (PULSEBRIDGE_FHIR), MLLP over TLS (PULSEBRIDGE_HL7)
 * and Kafka (KAFKA_SSL) — read and checked when the connection is set up: PEM, and the key is the
 * certificate's, so a wrong file is one line at start rather than a connection that never works.
 */
import { createPrivateKey, X509Certificate } from 'node:crypto';
import fs from 'node:fs';
import { PulsebridgeError } from '../errors.ts';

/** TLS beyond Node's defaults, as PEM texts. */
export interface TlsFiles {
  /** A CA to trust besides the default ones (the hospital's private CA). */
  ca?: string;
  /** Client certificate and its key, for a receiver that asks for mutual TLS. */
  cert?: string;
  key?: string;
}

/**
 * Reads `<prefix>_CA_FILE`, `<prefix>_CLIENT_CERT` and `<prefix>_CLIENT_KEY` (the files given).
 * @throws PB_CONFIG_INVALID naming the setting and the file.
 */
export function readTlsFiles(prefix: 'PULSEBRIDGE_FHIR' | 'PULSEBRIDGE_HL7' | 'KAFKA_SSL', files: { caFile?: string; certFile?: string; keyFile?: string }): TlsFiles {
  const pem = <T>(setting: string, file: string, what: string, parse: (text: string) => T): { text: string; value: T } => {
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch (err) {
      throw new PulsebridgeError('PB_CONFIG_INVALID', `cannot read ${setting} ${file}: ${(err as Error).message}`, { cause: err });
    }
    try {
      return { text, value: parse(text) };
    } catch (err) {
      throw new PulsebridgeError('PB_CONFIG_INVALID', `${setting} ${file} is not a PEM ${what}: ${(err as Error).message}`, { cause: err });
    }
  };
  const caSetting = `${prefix}_CA_FILE`;
  const certSetting = `${prefix}_CLIENT_CERT`;
  const keySetting = `${prefix}_CLIENT_KEY`;
  const result: TlsFiles = {};
  if (files.caFile) result.ca = pem(caSetting, files.caFile, 'certificate', (t) => new X509Certificate(t)).text;
  if (files.certFile || files.keyFile) {
    if (!files.certFile || !files.keyFile) throw new PulsebridgeError('PB_CONFIG_INVALID', `${certSetting} and ${keySetting} go together`);
    const cert = pem(certSetting, files.certFile, 'certificate', (t) => new X509Certificate(t));
    const key = pem(keySetting, files.keyFile, 'private key', (t) => createPrivateKey(t));
    if (!cert.value.checkPrivateKey(key.value)) throw new PulsebridgeError('PB_CONFIG_INVALID', `${keySetting} ${files.keyFile} is not the key of ${certSetting} ${files.certFile}`);
    result.cert = cert.text;
    result.key = key.text;
  }
  return result;
}
