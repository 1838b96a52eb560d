/**
 * MLLP over TLS (PULSEBRIDGE_HL7_MLLP=mllps://…): the exporter against real TLS listeners whose
 * connections are @medplum/hl7 Hl7Connections answering AA, and against `openssl s_server` as an
 * independent peer. The PKI is made with openssl for each run (test/device-sim/helpers/test-pki.ts):
 * our CA with a server certificate for localhost/127.0.0.1 and a client certificate, and a second,
 * unrelated CA with its own server certificate.
 */
import { execFileSync, spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import fs from 'node:fs';
import net, { type AddressInfo } from 'node:net';
import path from 'node:path';
import tls from 'node:tls';
import { Hl7Message } from '@medplum/core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Alert } from '../../contracts/alert.ts';
import { STREAMS } from '../../contracts/topics.ts';
import { startEhrExporter } from '../../cli/components.ts';
import { createHl7Exporter, type Hl7Exporter } from '../../ehr-exporter/hl7-exporter.ts';
import { pcd04Alarm } from '../../ehr-exporter/hl7-messages.ts';
import { configuredMrns } from '../../ehr-exporter/identity.ts';
import { createMllpClient, loadMllp, readHl7Tls, wireMessage, type MllpTls } from '../../ehr-exporter/mllp.ts';
import { InProcessBus } from '../../platform/bus/index.ts';
import { loadConfig } from '../../platform/config.ts';
import { PulsebridgeError } from '../../platform/errors.ts';
import { createLogger, silentLogger, type Logger } from '../../platform/log.ts';
import { MetricsRegistry } from '../../platform/metrics.ts';
import { createTestPki, type TestPki } from '../device-sim/helpers/test-pki.ts';
import { consumed, envelope, makeAlert } from './fixtures.ts';

let pki: TestPki;
let other: TestPki;
/** Our CA's certificate file (PULSEBRIDGE_HL7_CA_FILE) and the client certificate's files. */
let caFile: string;
let client: { certFile: string; keyFile: string };

beforeAll(() => {
  pki = createTestPki();
  other = createTestPki();
  pki.device('pulsebridge-exporter');
  caFile = path.join(pki.dir, 'ca.crt');
  client = { certFile: path.join(pki.dir, 'dev-pulsebridge-exporter.crt'), keyFile: path.join(pki.dir, 'dev-pulsebridge-exporter.key') };
});
afterAll(() => {
  pki.remove();
  other.remove();
});

interface Received { controlId: string; pid: string; type: string }
interface TlsListener {
  port: number;
  received: Received[];
  /** CN of each client certificate the listener accepted a connection with ('' without one). */
  clients: string[];
  /** Handshakes the listener refused, with the reason. */
  refused: string[];
  /** Serve another certificate from the next handshake on. */
  useCertificate(server: { key: string; cert: string }): void;
}

const closers: (() => Promise<void> | void)[] = [];
let bus: InProcessBus;
beforeAll(() => {
  bus = new InProcessBus();
});
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});
afterAll(async () => {
  await bus.close();
});

/** A TLS MLLP listener: each TLS socket wrapped in the library's Hl7Connection, every message answered AA. */
async function tlsListener(server: { key: string; cert: string }, o: { host?: string; clientCa?: string } = {}): Promise<TlsListener> {
  const { Hl7Connection } = await loadMllp();
  const received: Received[] = [];
  const clients: string[] = [];
  const refused: string[] = [];
  const sockets = new Set<tls.TLSSocket>();
  const listener = tls.createServer({ ...server, ...(o.clientCa ? { ca: o.clientCa, requestCert: true, rejectUnauthorized: true } : {}) }, (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    clients.push(String(socket.getPeerCertificate().subject?.CN ?? ''));
    const connection = new Hl7Connection(socket);
    connection.addEventListener('message', (event) => {
      // Re-parsed from the text that crossed the wire.
      const msg = Hl7Message.parse(event.message.toString());
      received.push({ controlId: msg.getSegment('MSH')!.getField(10).toString(), type: msg.getSegment('MSH')!.getField(9).toString(), pid: msg.getSegment('PID')?.getField(3).toString() ?? '' });
      connection.send(event.message.buildAck({ ackCode: 'AA' }));
    });
  });
  listener.on('tlsClientError', (err) => refused.push(err.message));
  await new Promise<void>((resolve) => listener.listen(0, o.host ?? '127.0.0.1', resolve));
  closers.push(() => new Promise<void>((resolve) => {
    for (const s of sockets) s.destroy();
    listener.close(() => resolve());
  }));
  return { port: (listener.address() as AddressInfo).port, received, clients, refused, useCertificate: (c) => listener.setSecureContext(c) };
}

const alert: Alert = makeAlert('asystole', { evidence: { hrBpm: 12, criterion: 'no QRS >= 4 s', thresholds: {} } });
const MRN = 'MRN-4711';
const PID3 = `${MRN}^^^&1.2.3.4&ISO^MR`;
const options = { sendingApplication: 'PULSEBRIDGE', sendingFacility: 'CARDIO', receivingApplication: 'EHR' };

function exporter(port: number, tlsOptions: MllpTls | undefined, { logger = silentLogger, host = '127.0.0.1' }: { logger?: Logger; host?: string } = {}): { exporter: Hl7Exporter; metrics: MetricsRegistry } {
  const metrics = new MetricsRegistry();
  const e = createHl7Exporter({
    bus, host, port, ...(tlsOptions ? { tls: tlsOptions } : {}), mrns: configuredMrns('urn:oid:1.2.3.4', { 'p-001': MRN }), logger, metrics,
    message: options, backoff: { baseDelayMs: 20, maxDelayMs: 100 }, ackTimeoutMs: 5_000,
  });
  closers.push(() => e.stop());
  return { exporter: e, metrics };
}

/** One ORU^R40 straight through an MLLP client: resolves with the ACK code or rejects with the transport's reason. */
async function sendOne(port: number, tlsOptions: MllpTls, host = '127.0.0.1', connectTimeoutMs = 3_000): Promise<string> {
  const c = await createMllpClient({ host, port, tls: tlsOptions }, connectTimeoutMs);
  closers.push(() => c.close());
  const ack = await c.sendAndWait(wireMessage(pcd04Alarm(alert, { ...options, mrn: { system: 'urn:oid:1.2.3.4', value: MRN } }, alert.onset)), { timeoutMs: 5_000 });
  return ack.getSegment('MSA')!.getComponent(1, 1);
}

async function reasonOf(p: Promise<unknown>): Promise<string> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  if (!(err instanceof Error)) throw new Error('expected the send to fail');
  return err.message;
}

const until = async (done: () => boolean, ms = 10_000) => {
  const end = Date.now() + ms;
  while (!done()) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 10));
  }
};
const deadLetters = () => bus.read(STREAMS.deadLetter).length;

describe('HL7 v2 over MLLP over TLS', () => {
  it('delivers ORU^R01 and ORU^R40 over TLS to a receiver our CA signed, ACKed; the wire carries no PID in clear', async () => {
    const listener = await tlsListener(pki.server);
    // A TCP relay in between sees what an eavesdropper on the hospital network would.
    const wire: Buffer[] = [];
    const relay = net.createServer((downstream) => {
      const upstream = net.connect(listener.port, '127.0.0.1');
      downstream.on('data', (chunk: Buffer) => {
        wire.push(chunk);
        upstream.write(chunk);
      });
      upstream.pipe(downstream);
      for (const s of [downstream, upstream]) s.on('error', () => {}).on('close', () => { downstream.destroy(); upstream.destroy(); });
    });
    await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve));
    closers.push(() => new Promise<void>((resolve) => relay.close(() => resolve())));

    const { exporter: e, metrics } = exporter((relay.address() as AddressInfo).port, readHl7Tls({ caFile }));
    await e.handleBatch([consumed(envelope(alert), 0)]);

    expect(listener.received).toEqual([
      { controlId: `${alert.id}-1-hr`, type: 'ORU^R01^ORU_R01', pid: PID3 },
      { controlId: `${alert.id}-1`, type: 'ORU^R40^ORU_R40', pid: PID3 },
    ]);
    expect(metrics.counter('pb_hl7_messages_total', '').get({ type: 'ORU^R40' })).toBe(1);
    expect(e.health()).toEqual({ status: 'ok' });
    const bytes = Buffer.concat(wire).toString('latin1');
    expect(bytes.length).toBeGreaterThan(500);
    for (const clear of [MRN, 'PID|', 'MSH|', alert.id]) expect(bytes).not.toContain(clear);
  });

  it('refuses a receiver whose certificate another CA signed: nothing sent, paused and retried (no dead letter), delivered once its certificate is trusted', async () => {
    const listener = await tlsListener(other.server);
    const lines: Record<string, unknown>[] = [];
    const logger = createLogger('debug', {}, (line) => lines.push(JSON.parse(line) as Record<string, unknown>));
    const { exporter: e, metrics } = exporter(listener.port, readHl7Tls({ caFile }), { logger });
    const before = deadLetters();
    const delivered = e.handleBatch([consumed(envelope({ ...alert, revision: 2 }), 0)]);
    await until(() => metrics.counter('pb_hl7_naks_total', '').get({ code: 'transport' }) >= 3);

    expect(listener.received).toEqual([]);
    const health = e.health();
    expect(health.status).toBe('paused');
    expect(health.reason).toMatch(/^MLLP over TLS to 127\.0\.0\.1:\d+: unable to verify the first certificate \(UNABLE_TO_VERIFY_LEAF_SIGNATURE\); the receiver's certificate is not trusted \(PULSEBRIDGE_HL7_CA_FILE\) or not valid now$/);
    const paused = lines.filter((l) => l.level === 'error');
    expect(paused).toHaveLength(1);
    expect(paused[0]).toMatchObject({ msg: expect.stringContaining('HL7 export paused'), reason: health.reason });
    expect(deadLetters()).toBe(before);

    // The engine gets a certificate from the hospital CA: the same message goes through.
    listener.useCertificate(pki.server);
    await delivered;
    expect(listener.received.map((r) => r.controlId)).toEqual([`${alert.id}-2`]);
    expect(e.health()).toEqual({ status: 'ok' });
    expect(deadLetters()).toBe(before);
  });

  it('never falls back to plain MLLP: a receiver that speaks plain MLLP on the port gets no message', async () => {
    const { Hl7Server } = await loadMllp();
    const plain: string[] = [];
    const server = new Hl7Server((connection) => connection.addEventListener('message', (event) => {
      plain.push(event.message.toString());
      connection.send(event.message.buildAck({ ackCode: 'AA' }));
    }));
    await server.start(0);
    closers.push(() => server.stop({ forceDrainTimeoutMs: 0 }));
    const port = (server.server!.address() as AddressInfo).port;
    expect(await reasonOf(sendOne(port, readHl7Tls({ caFile }), '127.0.0.1', 500))).toMatch(/no TLS handshake within 500 ms \(does the receiver speak MLLP over TLS on this port\?\)$/);
    expect(plain).toEqual([]);
  });

  it('without PULSEBRIDGE_HL7_CA_FILE only the default roots are trusted: a private CA is refused', async () => {
    const listener = await tlsListener(pki.server);
    expect(await reasonOf(sendOne(listener.port, {}))).toMatch(/certificate/);
    expect(listener.received).toEqual([]);
  });

  it('refuses a receiver whose certificate our CA signed but which has expired', async () => {
    // `openssl ca` can back-date a certificate (valid 1-2 Jan 2020), `x509 -req` cannot.
    const run = (args: string[]) => execFileSync('openssl', args, { cwd: pki.dir, stdio: ['ignore', 'ignore', 'pipe'] });
    fs.writeFileSync(path.join(pki.dir, 'index.txt'), '');
    fs.writeFileSync(path.join(pki.dir, 'serial'), '01\n');
    fs.writeFileSync(path.join(pki.dir, 'expired.cnf'), '[ca]\ndefault_ca = d\n[d]\ndatabase = index.txt\nnew_certs_dir = .\nserial = serial\ndefault_md = sha256\npolicy = p\nx509_extensions = ext\n[p]\ncommonName = supplied\n[ext]\nsubjectAltName = DNS:localhost,IP:127.0.0.1\nextendedKeyUsage = serverAuth\n');
    run(['req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=localhost', '-keyout', 'expired.key', '-out', 'expired.csr']);
    run(['ca', '-batch', '-config', 'expired.cnf', '-cert', 'ca.crt', '-keyfile', 'ca.key', '-in', 'expired.csr', '-out', 'expired.crt', '-startdate', '20200101000000Z', '-enddate', '20200102000000Z', '-notext']);
    const listener = await tlsListener({ key: fs.readFileSync(path.join(pki.dir, 'expired.key'), 'utf8'), cert: fs.readFileSync(path.join(pki.dir, 'expired.crt'), 'utf8') });
    expect(await reasonOf(sendOne(listener.port, readHl7Tls({ caFile })))).toMatch(/: certificate has expired \(CERT_HAS_EXPIRED\); the receiver's certificate is not trusted \(PULSEBRIDGE_HL7_CA_FILE\) or not valid now$/);
    expect(listener.received).toEqual([]);
  });

  it('checks the host name: a certificate our CA signed for another host is refused, NODE_TLS_REJECT_UNAUTHORIZED=0 or not', async () => {
    // The server certificate names localhost and 127.0.0.1; the engine answers at 127.0.0.2.
    const listener = await tlsListener(pki.server, { host: '127.0.0.2' });
    const saved = process.env.NODE_TLS_REJECT_UNAUTHORIZED;
    process.env.NODE_TLS_REJECT_UNAUTHORIZED = '0';
    try {
      const reason = await reasonOf(sendOne(listener.port, readHl7Tls({ caFile }), '127.0.0.2'));
      expect(reason).toMatch(/ERR_TLS_CERT_ALTNAME_INVALID.*not for the host in PULSEBRIDGE_HL7_MLLP/);
    } finally {
      if (saved === undefined) delete process.env.NODE_TLS_REJECT_UNAUTHORIZED;
      else process.env.NODE_TLS_REJECT_UNAUTHORIZED = saved;
    }
    expect(listener.received).toEqual([]);
    // The same listener and CA by a name in the certificate: delivered.
    const byName = await tlsListener(pki.server, { host: '127.0.0.1' });
    expect(await sendOne(byName.port, readHl7Tls({ caFile }), 'localhost')).toBe('AA');
    expect(byName.received.map((r) => r.pid)).toEqual([PID3]);
  });

  it('mutual TLS: a receiver that asks for a client certificate refuses a client without one or with a foreign one, and takes PULSEBRIDGE_HL7_CLIENT_CERT / _KEY', async () => {
    const listener = await tlsListener(pki.server, { clientCa: pki.ca });
    const started = Date.now();
    const without = await reasonOf(sendOne(listener.port, readHl7Tls({ caFile })));
    // Refused at once (the receiver closes after the handshake), not after the 5 s ACK timeout.
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(without).toMatch(/^MLLP over TLS to 127\.0\.0\.1:\d+: tlsv13 alert certificate required \(ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED\); the receiver refused the handshake, e\.g\. our client certificate \(PULSEBRIDGE_HL7_CLIENT_CERT\)$/);
    other.foreignDevice('stranger');
    const foreign = { certFile: path.join(other.dir, 'foreign-stranger.crt'), keyFile: path.join(other.dir, 'foreign-stranger.key') };
    // Node's listener just closes on a client certificate it does not trust (no TLS alert).
    expect(await reasonOf(sendOne(listener.port, readHl7Tls({ caFile, ...foreign })))).toMatch(/closed the connection without answering .*PULSEBRIDGE_HL7_CLIENT_CERT/);
    expect(listener.received).toEqual([]);
    expect(listener.refused.length).toBeGreaterThanOrEqual(1);

    const { exporter: e } = exporter(listener.port, readHl7Tls({ caFile, ...client }));
    await e.handleBatch([consumed(envelope({ ...alert, revision: 3 }), 0)]);
    expect(listener.received).toEqual([{ controlId: `${alert.id}-3`, type: 'ORU^R40^ORU_R40', pid: PID3 }]);
    expect(listener.clients).toEqual(['pulsebridge-exporter']);
  });

  it('openssl s_server as an independent receiver: it verifies our client certificate, gets the framed message, and its ACK comes back', async () => {
    const free = net.createServer();
    await new Promise<void>((resolve) => free.listen(0, '127.0.0.1', resolve));
    const port = (free.address() as AddressInfo).port;
    await new Promise((resolve) => free.close(resolve));
    const server: ChildProcessWithoutNullStreams = spawn('openssl', ['s_server', '-accept', `127.0.0.1:${port}`, '-naccept', '1',
      '-cert', path.join(pki.dir, 'server.crt'), '-key', path.join(pki.dir, 'server.key'), '-CAfile', caFile, '-Verify', '1'], { cwd: pki.dir });
    closers.push(() => { server.kill(); });
    let out = '';
    server.stdout.on('data', (chunk: Buffer) => (out += chunk.toString('latin1')));
    server.stderr.on('data', (chunk: Buffer) => (out += chunk.toString('latin1')));
    await until(() => out.includes('ACCEPT'));

    const ack = sendOne(port, readHl7Tls({ caFile, ...client }));
    await until(() => out.includes('\x1c\r'));
    // What s_server printed: the client certificate it verified, and the message as it crossed the wire.
    expect(out).toMatch(/CN ?= ?pulsebridge-exporter/);
    const frame = out.slice(out.indexOf('\x0bMSH|'), out.indexOf('\x1c\r') + 2);
    expect(frame.split('|')[9]).toBe(`${alert.id}-1`);
    expect(frame).toContain(`PID|||${PID3}`);
    // Typed into s_server: an AA for that control id.
    server.stdin.write(`\x0bMSH|^~\\&|EHR||PULSEBRIDGE||20260101000000||ACK|a1|P|2.6\rMSA|AA|${alert.id}-1\r\x1c\r`);
    expect(await ack).toBe('AA');
  });
});

/** The message of the PB_CONFIG_INVALID that `f` throws. */
function configProblem(f: () => unknown): string {
  const err = (() => {
    try {
      f();
    } catch (e) {
      return e;
    }
  })();
  if (!(err instanceof PulsebridgeError) || err.code !== 'PB_CONFIG_INVALID') throw new Error(`expected PB_CONFIG_INVALID, got ${String(err)}`);
  return err.message;
}

describe('MLLP over TLS configuration', () => {
  it('`pulsebridge ehr-exporter` with PULSEBRIDGE_HL7_MLLP=mllps://, the CA file and a client certificate delivers to a receiver that asks for one, audited in its data folder; an unreadable file stops the start', async () => {
    const listener = await tlsListener(pki.server, { clientCa: pki.ca });
    const mrnFile = path.join(pki.dir, 'mrns.json');
    fs.writeFileSync(mrnFile, JSON.stringify({ 'p-001': MRN }));
    const env = {
      PULSEBRIDGE_HL7_MLLP: `mllps://localhost:${listener.port}`, PULSEBRIDGE_HL7_CA_FILE: caFile, PULSEBRIDGE_HL7_CLIENT_CERT: client.certFile, PULSEBRIDGE_HL7_CLIENT_KEY: client.keyFile,
      PULSEBRIDGE_EHR_PATIENT_MRNS: mrnFile, PULSEBRIDGE_EHR_MRN_SYSTEM: 'urn:oid:1.2.3.4', PULSEBRIDGE_EHR_HTTP_PORT: '0',
      PULSEBRIDGE_DATA_DIR: path.join(pki.dir, 'data'),
    };
    const ownBus = new InProcessBus();
    closers.push(() => ownBus.close());
    await ownBus.publish(STREAMS.alerts, [{ key: alert.deviceId, value: Buffer.from(JSON.stringify(envelope({ ...alert, revision: 4 }))) }]);
    const running = (await startEhrExporter({ config: loadConfig(env), bus: ownBus, logger: silentLogger, metrics: new MetricsRegistry() }))!;
    closers.push(() => running.stop());
    await until(() => listener.received.length === 1);
    expect(listener.received).toEqual([{ controlId: `${alert.id}-4`, type: 'ORU^R40^ORU_R40', pid: PID3 }]);
    expect(listener.clients).toEqual(['pulsebridge-exporter']);
    // The disclosure is in the PHI audit trail of PULSEBRIDGE_DATA_DIR (the dashboard's file).
    const trail = path.join(pki.dir, 'data', 'audit', 'phi-access.jsonl');
    await until(() => fs.existsSync(trail) && fs.readFileSync(trail, 'utf8').endsWith('\n'));
    expect(fs.readFileSync(trail, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>)).toEqual([expect.objectContaining({
      action: 'ehr.hl7.send', actor: { sub: 'pulsebridge-ehr-exporter', role: 'ehr-exporter' }, patientId: alert.patientId, outcome: 'accepted', ack: 'AA',
      controlId: `${alert.id}-4`, destination: `mllps://localhost:${listener.port}`,
    })]);

    const start = startEhrExporter({ config: loadConfig({ ...env, PULSEBRIDGE_HL7_CA_FILE: path.join(pki.dir, 'gone.pem') }), bus: ownBus, logger: silentLogger, metrics: new MetricsRegistry() });
    await expect(start).rejects.toThrow(/^cannot read PULSEBRIDGE_HL7_CA_FILE .*gone\.pem/);
  });


  it('mllps:// turns TLS on with the CA and client certificate files; host:port and mllp:// stay plain TCP', () => {
    const secure = loadConfig({ PULSEBRIDGE_HL7_MLLP: 'mllps://engine.hospital.org:2576', PULSEBRIDGE_HL7_CA_FILE: '/run/ca.pem', PULSEBRIDGE_HL7_CLIENT_CERT: '/run/c.pem', PULSEBRIDGE_HL7_CLIENT_KEY: '/run/k.pem' });
    expect(secure.ehr.hl7).toMatchObject({ host: 'engine.hospital.org', port: 2576, tls: { caFile: '/run/ca.pem', certFile: '/run/c.pem', keyFile: '/run/k.pem' } });
    expect(loadConfig({ PULSEBRIDGE_HL7_MLLP: 'mllps://engine:2576' }).ehr.hl7?.tls).toEqual({});
    for (const plain of ['engine:2575', 'mllp://engine:2575']) expect(loadConfig({ PULSEBRIDGE_HL7_MLLP: plain }).ehr.hl7).toMatchObject({ host: 'engine', port: 2575, tls: undefined });
  });

  it('refuses at start a certificate without its key (and the reverse), TLS files with a plain-TCP address, and another scheme', () => {
    const problem = (env: Record<string, string>) => configProblem(() => loadConfig(env));
    expect(problem({ PULSEBRIDGE_HL7_MLLP: 'mllps://e:1', PULSEBRIDGE_HL7_CLIENT_CERT: '/c.pem' })).toMatch(/PULSEBRIDGE_HL7_CLIENT_KEY.*PULSEBRIDGE_HL7_CLIENT_CERT and PULSEBRIDGE_HL7_CLIENT_KEY go together/);
    expect(problem({ PULSEBRIDGE_HL7_MLLP: 'mllps://e:1', PULSEBRIDGE_HL7_CLIENT_KEY: '/k.pem' })).toMatch(/PULSEBRIDGE_HL7_CLIENT_CERT.*go together/);
    expect(problem({ PULSEBRIDGE_HL7_MLLP: 'e:1', PULSEBRIDGE_HL7_CA_FILE: '/ca.pem' })).toMatch(/PULSEBRIDGE_HL7_CA_FILE.*set PULSEBRIDGE_HL7_MLLP=mllps:\/\/host:port/);
    expect(problem({ PULSEBRIDGE_HL7_MLLP: 'tls://e:1' })).toMatch(/PULSEBRIDGE_HL7_MLLP/);
  });

  it('readHl7Tls: a file that cannot be read, is not PEM, or a key that is not the certificate\'s is a clear error naming the setting', () => {
    const message = (files: Parameters<typeof readHl7Tls>[0]) => configProblem(() => readHl7Tls(files));
    expect(message({ caFile: path.join(pki.dir, 'missing.pem') })).toMatch(/^cannot read PULSEBRIDGE_HL7_CA_FILE .*missing\.pem: ENOENT/);
    const notPem = path.join(pki.dir, 'not-pem.txt');
    fs.writeFileSync(notPem, 'hello');
    expect(message({ caFile: notPem })).toMatch(/^PULSEBRIDGE_HL7_CA_FILE .*not-pem\.txt is not a PEM certificate/);
    expect(message({ certFile: client.certFile, keyFile: notPem })).toMatch(/^PULSEBRIDGE_HL7_CLIENT_KEY .* is not a PEM private key/);
    expect(message({ certFile: client.certFile, keyFile: path.join(pki.dir, 'server.key') })).toMatch(/is not the key of PULSEBRIDGE_HL7_CLIENT_CERT/);
    expect(message({ certFile: client.certFile })).toMatch(/go together/);
    expect(readHl7Tls({ caFile, ...client })).toEqual({ ca: pki.ca, cert: fs.readFileSync(client.certFile, 'utf8'), key: fs.readFileSync(client.keyFile, 'utf8') });
    expect(readHl7Tls({})).toEqual({});
  });
});
