/**
 * Certificate revocation lists (security review finding 5): the gateway checks device certificates
 * against the device CA's CRL file (PULSEBRIDGE_DEVICE_CRL), follows the file while it runs, and
 * refuses a revoked certificate with CONNACK "not authorized", the reason CERT_REVOKED logged and
 * counted as a rejected certificate. The PKI (a CA with an `openssl ca` database, a gateway
 * certificate, device certificates, CRLs) is made with openssl at test time.
 */
import { execFile, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createGateway, type Gateway } from '../../gateway/gateway.ts';
import { startGateway } from '../../cli/components.ts';
import { InProcessBus } from '../../platform/bus/index.ts';
import { loadConfig } from '../../platform/config.ts';
import { createLogger, silentLogger } from '../../platform/log.ts';
import { MetricsRegistry } from '../../platform/metrics.ts';
import { DeviceRegistry } from '../../platform/registry/index.ts';
import { followDeviceCrl, readDeviceCrl } from '../../platform/security/index.ts';
import { connectDevice } from '../helpers/gateway-fixture.ts';
import { sleep, until } from './lifecycle-fixture.ts';

interface Creds { cert: string; key: string; ca: string }

/** A CA (with an `openssl ca` database for its CRLs), a gateway certificate and device certificates, in a temporary folder. */
class CrlPki {
  readonly dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pb-crl-'));
  readonly caCert = path.join(this.dir, 'ca.crt');
  readonly server: Creds;
  constructor() {
    this.#run(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'ca.key', '-days', '2', '-subj', '/CN=Test device CA',
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign', '-out', 'ca.crt']);
    this.server = this.#leaf('gateway', 'localhost', 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
  }

  #run(args: string[]): void {
    execFileSync('openssl', args, { cwd: this.dir, stdio: ['ignore', 'ignore', 'pipe'] });
  }

  #leaf(name: string, cn: string, ext: string, ca = 'ca'): Creds {
    fs.writeFileSync(path.join(this.dir, `${name}.ext`), ext);
    this.#run(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${name}.key`, '-subj', `/CN=${cn}`, '-out', `${name}.csr`]);
    this.#run(['x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.crt`, '-CAkey', `${ca}.key`, '-CAcreateserial', '-days', '2', '-extfile', `${name}.ext`, '-out', `${name}.crt`]);
    return { cert: path.join(this.dir, `${name}.crt`), key: path.join(this.dir, `${name}.key`), ca: this.caCert };
  }

  /** A device certificate (CN = device id) from this CA; `name` tells two certificates of one device apart. */
  device(deviceId: string, name = deviceId): Creds {
    return this.#leaf(`dev-${name}`, deviceId, 'extendedKeyUsage=clientAuth\n');
  }

  /**
   * A CRL of this CA revoking `revoked`, as PEM text; `times` sets lastUpdate/nextUpdate
   * (YYYYMMDDHHMMSSZ) for an out-of-date CRL.
   */
  crl(revoked: Creds[], times?: { last: string; next: string }, ca = 'ca'): string {
    const db = path.join(this.dir, `${ca}-index-${Math.random().toString(36).slice(2)}`);
    fs.writeFileSync(db, '');
    fs.writeFileSync(`${db}.attr`, 'unique_subject = no\n');
    fs.writeFileSync(`${db}.crlnumber`, '01\n');
    const cnf = `${db}.cnf`;
    fs.writeFileSync(cnf, `[ ca ]\ndefault_ca = c\n[ c ]\ndatabase = ${db}\ncrlnumber = ${db}.crlnumber\ndefault_md = sha256\ndefault_crl_days = 7\n`);
    const common = ['-batch', '-config', cnf, '-keyfile', `${ca}.key`, '-cert', `${ca}.crt`];
    for (const c of revoked) this.#run(['ca', ...common, '-revoke', c.cert]);
    const out = `${db}.crl`;
    this.#run(['ca', ...common, '-gencrl', '-out', out, ...(times ? ['-crl_lastupdate', times.last, '-crl_nextupdate', times.next] : [])]);
    return fs.readFileSync(out, 'utf8');
  }

  /** Another CA (its own key and name) and a device certificate from it. */
  otherCa(): { caCert: string; device: (id: string) => Creds; crl: () => string } {
    this.#run(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'other.key', '-days', '2', '-subj', '/CN=Other device CA',
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign', '-out', 'other.crt']);
    return {
      caCert: path.join(this.dir, 'other.crt'),
      device: (id) => ({ ...this.#leaf(`other-${id}`, id, 'extendedKeyUsage=clientAuth\n', 'other'), ca: this.caCert }),
      crl: () => this.crl([], undefined, 'other'),
    };
  }

  remove(): void {
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Writes the CRL file the way a PKI publishes it: a new file renamed over the old one. */
function publish(file: string, pem: string): void {
  fs.writeFileSync(`${file}.tmp`, pem);
  fs.renameSync(`${file}.tmp`, file);
}

interface LogLine { level: string; msg: string; [k: string]: unknown }

describe('device certificate revocation lists', () => {
  let pki: CrlPki;
  let bus: InProcessBus;
  let registry: DeviceRegistry;
  let gateway: Gateway | undefined;
  let metrics: MetricsRegistry;
  let logs: LogLine[];
  let crlFile: string;

  beforeEach(() => {
    pki = new CrlPki();
    bus = new InProcessBus();
    registry = new DeviceRegistry(path.join(pki.dir, 'registry.sqlite'));
    for (const id of ['dev-a', 'dev-b']) registry.add(id, `pat-${id}`, 'test', Date.now() - 3_600_000);
    metrics = new MetricsRegistry();
    logs = [];
    crlFile = path.join(pki.dir, 'device-ca.crl');
    gateway = undefined;
  });
  afterEach(async () => {
    await gateway?.close();
    registry.close();
    await bus.close();
    pki.remove();
  });

  /** A gateway on a random port following `crlFile`, as `pulsebridge gateway` wires it. */
  async function start(deviceCaPem: string | Buffer = fs.readFileSync(pki.caCert)): Promise<number> {
    const logger = createLogger('info', {}, (line) => logs.push(JSON.parse(line) as LogLine));
    gateway = await createGateway({
      bus, registry, logger, metrics, pollIntervalMs: 100,
      tls: { cert: fs.readFileSync(pki.server.cert), key: fs.readFileSync(pki.server.key), deviceCa: deviceCaPem,
        crl: followDeviceCrl(crlFile, deviceCaPem, logger, { checkEveryMs: 0 }) },
    });
    return (await gateway.listen(0, '127.0.0.1')).port;
  }

  const refusedCertificates = () => metrics.counter('pb_gateway_connect_refused_total', '').get({ reason: 'certificate_rejected' });
  const refusals = () => logs.filter((l) => l.msg === 'connection refused: certificate not accepted');

  it('refuses a revoked certificate with CONNACK not authorized, logging CERT_REVOKED and counting it; the other device of the CA connects', async () => {
    const a = pki.device('dev-a');
    const b = pki.device('dev-b');
    publish(crlFile, pki.crl([a]));
    const port = await start();

    await expect(connectDevice(port, { clientId: 'dev-a', creds: a })).rejects.toThrow(/Not authorized/i);
    expect(refusedCertificates()).toBe(1);
    expect(refusals()).toEqual([expect.objectContaining({ level: 'warn', clientId: 'dev-a', reason: 'CERT_REVOKED', subject: 'dev-a' })]);

    const client = await connectDevice(port, { clientId: 'dev-b', creds: b });
    expect(client.connected).toBe(true);
    client.end(true);
    expect(refusedCertificates()).toBe(1);
    expect(metrics.gauge('pb_gateway_device_crl_revoked_certificates', '').get({})).toBe(1);
  });

  const mosquittoPub = '/usr/bin/mosquitto_pub';
  it.skipIf(!fs.existsSync(mosquittoPub))('an independent client (mosquitto_pub) is refused with a revoked certificate and accepted with the other', async () => {
    const a = pki.device('dev-a');
    const b = pki.device('dev-b');
    publish(crlFile, pki.crl([a]));
    const port = await start();
    // Asynchronously: the gateway runs in this process.
    const pub = (id: string, c: Creds) => new Promise<{ code: number; stderr: string }>((resolve) => {
      execFile(mosquittoPub, ['-h', 'localhost', '-p', String(port), '-V', 'mqttv311', '--cafile', c.ca, '--cert', c.cert, '--key', c.key,
        '-i', id, '-q', '1', '-t', `pb/v1/dev/${id}/status`, '-m', '{"online":true}'], { timeout: 20_000 },
      (err, _stdout, stderr) => resolve({ code: err ? Number((err as { code?: number }).code ?? -1) : 0, stderr }));
    });
    const revoked = await pub('dev-a', a);
    expect(revoked.code).not.toBe(0);
    expect(revoked.stderr).toMatch(/not authori[sz]ed/i);
    expect(await pub('dev-b', b)).toEqual({ code: 0, stderr: '' });
    expect(refusals().map((l) => l.reason)).toEqual(['CERT_REVOKED']);
  });

  it('a new CRL file while running revokes for new connections and closes the live connection it revokes, without a restart', async () => {
    const a = pki.device('dev-a');
    const b = pki.device('dev-b');
    publish(crlFile, pki.crl([a]));
    const port = await start();
    const live = await connectDevice(port, { clientId: 'dev-b', creds: b });
    const closed = new Promise<void>((resolve) => live.once('close', () => resolve()));

    publish(crlFile, pki.crl([a, b]));
    await Promise.race([closed, sleep(3000).then(() => { throw new Error('the live connection of the revoked certificate was not closed'); })]);
    live.end(true);
    expect(metrics.counter('pb_gateway_revoked_total', '').get({ reason: 'certificate_revoked' })).toBe(1);
    expect(logs).toContainEqual(expect.objectContaining({ msg: 'device connection closed: its certificate is revoked by the device CRL', deviceId: 'dev-b' }));

    await expect(connectDevice(port, { clientId: 'dev-b', creds: b })).rejects.toThrow(/Not authorized/i);
    expect(refusals().at(-1)).toMatchObject({ clientId: 'dev-b', reason: 'CERT_REVOKED' });
    expect(metrics.gauge('pb_gateway_device_crl_revoked_certificates', '').get({})).toBe(2);

    // The real device gets a new certificate; only the leaked one stays refused.
    const b2 = pki.device('dev-b', 'dev-b-new');
    const fresh = await connectDevice(port, { clientId: 'dev-b', creds: b2 });
    expect(fresh.connected).toBe(true);
    fresh.end(true);
  });

  it('a replacement that is not a valid CRL keeps the last good one, with one warning', async () => {
    const a = pki.device('dev-a');
    const b = pki.device('dev-b');
    publish(crlFile, pki.crl([a]));
    const port = await start();
    publish(crlFile, '-----BEGIN X509 CRL-----\nbm90IGEgQ1JM\n-----END X509 CRL-----\n');
    await until(() => logs.some((l) => l.msg.startsWith('device CRL file (PULSEBRIDGE_DEVICE_CRL) unreadable or invalid')), 3000, 'the warning');
    await sleep(300); // several polls of the same bad file
    expect(logs.filter((l) => l.msg.startsWith('device CRL file (PULSEBRIDGE_DEVICE_CRL) unreadable or invalid'))).toHaveLength(1);
    await expect(connectDevice(port, { clientId: 'dev-a', creds: a })).rejects.toThrow(/Not authorized/i);
    const client = await connectDevice(port, { clientId: 'dev-b', creds: b });
    client.end(true);
    // A CRL of another CA is refused the same way.
    publish(crlFile, pki.otherCa().crl());
    await until(() => logs.filter((l) => l.msg.startsWith('device CRL file (PULSEBRIDGE_DEVICE_CRL) unreadable or invalid')).length === 2, 3000, 'the second warning');
    await expect(connectDevice(port, { clientId: 'dev-a', creds: a })).rejects.toThrow(/Not authorized/i);
  });

  // Security re-check (session 33): a backup of the CRL file restored over it was taken, and
  // silently un-revoked every certificate revoked since.
  it('a replacement issued before the CRL in use (a restored backup) keeps the newer one, with one warning', async () => {
    const a = pki.device('dev-a');
    const stamp = (msAgo: number) => new Date(Date.now() - msAgo).toISOString().replace(/[-:T]/g, '').slice(0, 14) + 'Z';
    const backup = pki.crl([], { last: stamp(2 * 86_400_000), next: stamp(-5 * 86_400_000) });
    publish(crlFile, pki.crl([a], { last: stamp(3_600_000), next: stamp(-5 * 86_400_000) }));
    const port = await start();
    await expect(connectDevice(port, { clientId: 'dev-a', creds: a })).rejects.toThrow(/Not authorized/i);
    publish(crlFile, backup);
    await until(() => logs.some((l) => l.msg.startsWith('device CRL file (PULSEBRIDGE_DEVICE_CRL) unreadable or invalid')), 3000, 'the warning');
    const warning = logs.find((l) => l.msg.startsWith('device CRL file (PULSEBRIDGE_DEVICE_CRL) unreadable or invalid'));
    expect(JSON.stringify(warning)).toMatch(/before the one in use .*un-revoke/);
    await sleep(300);
    await expect(connectDevice(port, { clientId: 'dev-a', creds: a })).rejects.toThrow(/Not authorized/i);
  });

  it('a CRL past its nextUpdate: devices it does not list are accepted with an error logged and counted, what it revokes stays refused', async () => {
    const a = pki.device('dev-a');
    const b = pki.device('dev-b');
    const now = new Date();
    const stamp = (d: Date) => d.toISOString().replace(/[-:T]/g, '').slice(0, 14) + 'Z';
    publish(crlFile, pki.crl([a], { last: stamp(new Date(now.getTime() - 86_400_000)), next: stamp(new Date(now.getTime() - 3_600_000)) }));
    const port = await start();
    expect(logs).toContainEqual(expect.objectContaining({ level: 'error', msg: expect.stringMatching(/device CRL is past its nextUpdate/) }));

    await expect(connectDevice(port, { clientId: 'dev-a', creds: a })).rejects.toThrow(/Not authorized/i);
    expect(refusals().at(-1)).toMatchObject({ clientId: 'dev-a', reason: 'CERT_REVOKED' });
    const client = await connectDevice(port, { clientId: 'dev-b', creds: b });
    expect(client.connected).toBe(true);
    client.end(true);
    expect(metrics.counter('pb_gateway_device_crl_stale_accepted_total', '').get()).toBe(1);
    // A certificate of another CA is still refused (the stale CRL only relaxes the CRL's dates).
    const foreign = pki.otherCa().device('dev-b');
    await expect(connectDevice(port, { clientId: 'dev-b', creds: foreign })).rejects.toThrow(/Not authorized/i);
    expect(metrics.counter('pb_gateway_device_crl_stale_accepted_total', '').get()).toBe(1);
  });

  it('a device CA without its CRL in the file, a CRL of another CA, or a file that is not a CRL fails the start naming PULSEBRIDGE_DEVICE_CRL', async () => {
    const other = pki.otherCa();
    const bundle = fs.readFileSync(pki.caCert, 'utf8') + fs.readFileSync(other.caCert, 'utf8');
    publish(crlFile, pki.crl([]));
    // Without the second CA's CRL, OpenSSL would refuse every certificate it issued (UNABLE_TO_GET_CRL).
    expect(() => readDeviceCrl(crlFile, bundle)).toThrow(/PULSEBRIDGE_DEVICE_CRL .*no CRL of the device CA "CN=Other device CA".*UNABLE_TO_GET_CRL/);
    // With both, the two CRLs are applied (one per CA).
    publish(crlFile, pki.crl([]) + other.crl());
    expect(readDeviceCrl(crlFile, bundle).pems).toHaveLength(2);

    publish(crlFile, other.crl());
    expect(() => readDeviceCrl(crlFile, fs.readFileSync(pki.caCert))).toThrow(/PULSEBRIDGE_DEVICE_CRL .*CRL of "CN=Other device CA" is not signed by the device CA/);

    // Through `pulsebridge gateway`'s start: a file that is not a CRL, a missing file.
    publish(crlFile, 'hello\n');
    const config = (env: Record<string, string>) => loadConfig({ PULSEBRIDGE_DATA_DIR: pki.dir, PULSEBRIDGE_MQTT_PORT: '0', PULSEBRIDGE_TLS_CERT: pki.server.cert,
      PULSEBRIDGE_TLS_KEY: pki.server.key, PULSEBRIDGE_DEVICE_CA: pki.caCert, ...env });
    const ctx = (env: Record<string, string>) => ({ config: config(env), bus, logger: silentLogger, metrics: new MetricsRegistry() });
    await expect(startGateway(ctx({ PULSEBRIDGE_DEVICE_CRL: crlFile }), registry)).rejects.toThrow(/PULSEBRIDGE_DEVICE_CRL \(.*device-ca\.crl\): not a PEM certificate revocation list/);
    await expect(startGateway(ctx({ PULSEBRIDGE_DEVICE_CRL: path.join(pki.dir, 'missing.crl') }), registry)).rejects.toThrow(/PULSEBRIDGE_DEVICE_CRL .*cannot read the device CRL file/);
    // A good one starts, and refuses the revoked certificate.
    const a = pki.device('dev-a');
    publish(crlFile, pki.crl([a]));
    const running = await startGateway(ctx({ PULSEBRIDGE_DEVICE_CRL: crlFile }), registry);
    try {
      await expect(connectDevice(running.port, { clientId: 'dev-a', creds: a })).rejects.toThrow(/Not authorized/i);
    } finally {
      await running.stop();
    }
    // A hospital CA without PULSEBRIDGE_DEVICE_CRL: no revocation lists (as before), said once at
    // start (security re-check, session 33: it started without a word).
    expect(config({}).gateway.deviceCrlPath).toBeUndefined();
    const lines: LogLine[] = [];
    const logger = createLogger('warn', {}, (line) => lines.push(JSON.parse(line) as LogLine));
    const unchecked = await startGateway({ config: config({}), bus, logger, metrics: new MetricsRegistry() }, registry);
    await unchecked.stop();
    expect(lines.filter((l) => l.msg.startsWith('no device CRL (PULSEBRIDGE_DEVICE_CRL)'))).toHaveLength(1);
    lines.length = 0;
    const checked = await startGateway({ config: config({ PULSEBRIDGE_DEVICE_CRL: crlFile }), bus, logger, metrics: new MetricsRegistry() }, registry);
    await checked.stop();
    expect(lines.filter((l) => l.msg.startsWith('no device CRL'))).toEqual([]);
  });
});
