/**
 * Abuse cases against a real gateway over mutual TLS (issue 13 items 3 and 5): oversized packets
 * refused while reading, QoS 2 and retained telemetry, subscriptions outside the device's own
 * command topic, retained publishes to foreign topics, a storm of garbage, connection floods —
 * each refused or dead-lettered while another device keeps working. Each test fails when its
 * protection is removed (the comment on each says how).
 */
import fs from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import aedesPersistence, { type AedesMemoryPersistence } from 'aedes-persistence';
import mqtt from 'mqtt';
import mqttPacket from 'mqtt-packet';
import { afterEach, describe, expect, it } from 'vitest';
import type { DeadLetterRecord, TelemetryRecord } from '../../contracts/telemetry.ts';
import { STREAMS } from '../../contracts/topics.ts';
import { InProcessBus } from '../../platform/bus/index.ts';
import type { DeviceCredentials } from '../../platform/security/index.ts';
import type { GatewayOptions } from '../../gateway/gateway.ts';
import { connectDevice, frameJson, publishQos1, startGatewayFixture, type GatewayFixture } from '../helpers/gateway-fixture.ts';
import { waitFor } from '../helpers/wait.ts';

// The package is CommonJS (module.exports = factory); its types declare an ES default export.
const memoryPersistence = aedesPersistence as unknown as () => AedesMemoryPersistence;
const telemetryTopic = (id: string) => `pb/v1/dev/${id}/telemetry`;
const parse = <T>(m: { value: Buffer }) => JSON.parse(m.value.toString()) as T;
const deadLetters = (bus: InProcessBus) => bus.read(STREAMS.deadLetter).map((m) => parse<DeadLetterRecord>(m));
const telemetry = (bus: InProcessBus) => bus.read(STREAMS.telemetry).map((m) => parse<TelemetryRecord>(m));

let bus: InProcessBus;
let fx: GatewayFixture;
const cleanups: (() => unknown)[] = [];

async function start(overrides: Partial<GatewayOptions> = {}) {
  bus = new InProcessBus();
  fx = await startGatewayFixture(bus, { rateLimit: false, ...overrides });
}

afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
  await fx?.close();
  await bus?.close();
});

/** A raw TLS connection as `deviceId` (or without a certificate), for bytes mqtt.js would never send. */
async function rawTls(port: number, creds: Partial<DeviceCredentials>, localAddress?: string): Promise<tls.TLSSocket> {
  const socket = tls.connect({
    host: '127.0.0.1', port, servername: 'localhost', ...(localAddress ? { localAddress } : {}),
    ca: creds.ca ? fs.readFileSync(creds.ca) : undefined,
    cert: creds.cert ? fs.readFileSync(creds.cert) : undefined,
    key: creds.key ? fs.readFileSync(creds.key) : undefined,
  });
  cleanups.push(() => socket.destroy());
  await new Promise<void>((resolve, reject) => { socket.once('secureConnect', resolve); socket.once('error', reject); });
  return socket;
}

function closed(socket: net.Socket): Promise<void> {
  return new Promise((resolve) => { if (socket.destroyed) resolve(); else socket.once('close', () => resolve()); });
}

/** Sends CONNECT and waits for CONNACK return code 0. */
async function mqttConnect(socket: tls.TLSSocket, clientId: string): Promise<void> {
  const parser = mqttPacket.parser({ protocolVersion: 4 });
  const connack = new Promise<number>((resolve, reject) => {
    parser.on('packet', (p) => { if (p.cmd === 'connack') resolve((p as mqttPacket.IConnackPacket).returnCode ?? -1); });
    socket.on('data', (d: Buffer) => parser.parse(d));
    socket.once('close', () => reject(new Error('closed before CONNACK')));
  });
  socket.write(mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId, clean: true, keepalive: 60 }));
  expect(await connack).toBe(0);
}

/** A PUBLISH fixed header announcing `bodyBytes`, then the variable header (topic, packet id). */
function publishHead(topic: string, bodyBytes: number): Buffer {
  const lengthBytes: number[] = [];
  let n = bodyBytes;
  do { let b = n % 128; n = Math.floor(n / 128); if (n > 0) b |= 0x80; lengthBytes.push(b); } while (n > 0);
  const topicBuf = Buffer.from(topic);
  const variable = Buffer.alloc(2 + topicBuf.length + 2);
  variable.writeUInt16BE(topicBuf.length, 0);
  topicBuf.copy(variable, 2);
  variable.writeUInt16BE(1, 2 + topicBuf.length);
  return Buffer.concat([Buffer.from([0x32, ...lengthBytes]), variable]);
}

describe('gateway abuse: oversized packets are refused while reading', () => {
  it('a device announcing a 200 MB PUBLISH is disconnected after the first read, without a PUBACK; a 1 KiB prefix is dead-lettered; another device is unaffected', async () => {
    await start();
    const creds = fx.addDevice('dev-big', 'pat-big');
    const other = await connectDevice(fx.port, { clientId: 'dev-ok', creds: fx.addDevice('dev-ok', 'pat-ok') });
    cleanups.push(() => other.end(true));
    const socket = await rawTls(fx.port, creds);
    await mqttConnect(socket, 'dev-big');
    const topic = telemetryTopic('dev-big');
    const payloadStart = Buffer.from(`{"v":1,"seq":1,"pad":"${'x'.repeat(40_000)}`);
    // 200 MB announced, 40 KB sent: without the guard the gateway waits for the rest and the
    // connection stays open (this test then times out).
    socket.write(Buffer.concat([publishHead(topic, 200 * 1024 * 1024), payloadStart]));
    let received = Buffer.alloc(0);
    socket.on('data', (d: Buffer) => { received = Buffer.concat([received, d]); });
    await closed(socket);
    expect(received.length).toBe(0); // no PUBACK (nor anything else) after CONNACK

    const dead = await waitFor('the dead letter', () => deadLetters(bus).find((d) => d.reason === 'packet_too_large'));
    // payloadBytes: the payload announced, i.e. the packet body less topic (2 + its bytes) and packet id (2)
    expect(dead).toMatchObject({ source: 'gateway', deviceId: 'dev-big', topic, payloadTruncated: true, payloadBytes: 200 * 1024 * 1024 - 4 - Buffer.byteLength(topic) });
    const prefix = Buffer.from(dead.payloadBase64, 'base64');
    expect(prefix.length).toBe(1024);
    expect(prefix.equals(payloadStart.subarray(0, 1024))).toBe(true);
    expect(fx.metrics.counter('pb_gateway_packets_refused_total', '').get({ reason: 'too_large', cmd: 'publish' })).toBe(1);

    await publishQos1(other, telemetryTopic('dev-ok'), frameJson(1));
    expect(telemetry(bus).map((r) => r.deviceId)).toEqual(['dev-ok']);
  });

  it('a real 1 MB PUBLISH from mqtt.js: connection closed, no PUBACK, nothing on the telemetry stream', async () => {
    await start();
    const client = await connectDevice(fx.port, { clientId: 'dev-1', creds: fx.addDevice('dev-1', 'pat-1') });
    cleanups.push(() => client.end(true));
    const gone = new Promise<void>((r) => client.once('close', () => r()));
    let acked = false;
    client.publish(telemetryTopic('dev-1'), Buffer.alloc(1024 * 1024, 0x7b), { qos: 1 }, (err) => { if (!err) acked = true; });
    await gone;
    expect(acked).toBe(false);
    expect(telemetry(bus)).toHaveLength(0);
    expect((await waitFor('dead letter', () => deadLetters(bus)[0])).reason).toBe('packet_too_large');
  });

  it('an unauthenticated connection announcing a huge CONNECT is closed without waiting for its body', async () => {
    await start();
    const creds = fx.addDevice('dev-1', 'pat-1');
    const socket = await rawTls(fx.port, { ca: creds.ca }); // no client certificate
    // CONNECT fixed header (0x10) announcing 100 MB (var-int 0x80 0x80 0x80 0x32 = 104,857,600).
    socket.write(Buffer.concat([Buffer.from([0x10, 0x80, 0x80, 0x80, 0x32]), Buffer.alloc(16 * 1024)]));
    await closed(socket);
    expect(fx.metrics.counter('pb_gateway_packets_refused_total', '').get({ reason: 'too_large', cmd: 'connect' })).toBe(1);
    expect(deadLetters(bus)).toHaveLength(0);
  });

  it('a payload just over 16 KiB but inside the packet limit is still dead-lettered whole as payload_too_large', async () => {
    await start();
    const client = await connectDevice(fx.port, { clientId: 'dev-1', creds: fx.addDevice('dev-1', 'pat-1') });
    cleanups.push(() => client.end(true));
    const payload = Buffer.alloc(16 * 1024 + 100, 0x20);
    await publishQos1(client, telemetryTopic('dev-1'), payload);
    const dead = deadLetters(bus);
    expect(dead.map((d) => [d.reason, Buffer.from(d.payloadBase64, 'base64').length])).toEqual([['payload_too_large', payload.length]]);
  });
});

describe('gateway abuse: QoS and retain outside the contract', () => {
  it('QoS 2 telemetry is dead-lettered as qos_not_allowed and never reaches the telemetry stream', async () => {
    await start();
    const client = await connectDevice(fx.port, { clientId: 'dev-1', creds: fx.addDevice('dev-1', 'pat-1') });
    cleanups.push(() => client.end(true));
    const frame = frameJson(5);
    await client.publishAsync(telemetryTopic('dev-1'), frame, { qos: 2 });
    expect(telemetry(bus)).toHaveLength(0);
    const dead = deadLetters(bus);
    expect(dead.map((d) => ({ reason: d.reason, payload: Buffer.from(d.payloadBase64, 'base64').toString() }))).toEqual([{ reason: 'qos_not_allowed', payload: frame }]);
    // The connection stays usable for QoS 1.
    await publishQos1(client, telemetryTopic('dev-1'), frameJson(6));
    expect(telemetry(bus).map((r) => r.frame.seq)).toEqual([6]);
  });

  it('QoS 0 telemetry is taken as it comes (no delivery guarantee was asked for) and counted', async () => {
    await start();
    const client = await connectDevice(fx.port, { clientId: 'dev-1', creds: fx.addDevice('dev-1', 'pat-1') });
    cleanups.push(() => client.end(true));
    await client.publishAsync(telemetryTopic('dev-1'), frameJson(7), { qos: 0 });
    await waitFor('the QoS 0 frame on the bus', () => telemetry(bus).length > 0 || undefined);
    expect(telemetry(bus).map((r) => r.frame.seq)).toEqual([7]);
    expect(fx.metrics.counter('pb_gateway_telemetry_qos0_total', '').get()).toBe(1);
  });

  it('retained telemetry and command results are handled but not kept by the broker; the retained status is kept', async () => {
    const persistence = memoryPersistence();
    await start({ aedes: { persistence } });
    const client = await connectDevice(fx.port, { clientId: 'dev-1', creds: fx.addDevice('dev-1', 'pat-1') });
    cleanups.push(() => client.end(true));
    await client.publishAsync(telemetryTopic('dev-1'), frameJson(1), { qos: 1, retain: true });
    await client.publishAsync('pb/v1/dev/dev-1/cmd/ack', JSON.stringify({ id: 'c-1', ok: true }), { qos: 1, retain: true });
    await client.publishAsync('pb/v1/dev/dev-1/status', JSON.stringify({ online: true, fw: '1.0.0' }), { qos: 1, retain: true });
    expect(telemetry(bus).map((r) => r.frame.seq)).toEqual([1]);
    const retained: string[] = [];
    for await (const p of persistence.createRetainedStream('#') as AsyncIterable<{ topic: string }>) retained.push(p.topic);
    expect(retained).toEqual(['pb/v1/dev/dev-1/status']);
    expect(fx.metrics.counter('pb_gateway_publish_downgraded_total', '').get({ flag: 'retain', kind: 'telemetry' })).toBe(1);
  });

  it('a retained publish to another device\'s topic closes the connection and stores nothing', async () => {
    const persistence = memoryPersistence();
    await start({ aedes: { persistence } });
    fx.addDevice('dev-2', 'pat-2');
    const client = await connectDevice(fx.port, { clientId: 'dev-1', creds: fx.addDevice('dev-1', 'pat-1') });
    cleanups.push(() => client.end(true));
    const gone = new Promise<void>((r) => client.once('close', () => r()));
    client.publish('pb/v1/dev/dev-2/status', JSON.stringify({ online: false }), { qos: 1, retain: true });
    await gone;
    const retained: string[] = [];
    for await (const p of persistence.createRetainedStream('#') as AsyncIterable<{ topic: string }>) retained.push(p.topic);
    expect(retained).toEqual([]);
    expect(bus.read(STREAMS.deadLetter)).toHaveLength(0);
  });
});

describe('gateway abuse: Last Will', () => {
  it('a Last Will on another device\'s status is not published when the device drops (the ACL applies to wills); its own is', async () => {
    const persistence = memoryPersistence();
    await start({ aedes: { persistence } });
    fx.addDevice('dev-2', 'pat-2');
    const creds = fx.addDevice('dev-1', 'pat-1');
    const connectWithWill = (topic: string) => new Promise<mqtt.MqttClient>((resolve, reject) => {
      const c = mqtt.connect(`mqtts://localhost:${fx.port}`, {
        clientId: 'dev-1', protocolVersion: 4, reconnectPeriod: 0, rejectUnauthorized: true,
        ca: fs.readFileSync(creds.ca), cert: fs.readFileSync(creds.cert), key: fs.readFileSync(creds.key),
        will: { topic, payload: Buffer.from('{"online":false}'), qos: 1, retain: true },
      });
      c.once('connect', () => resolve(c));
      c.once('error', reject);
    });
    const retainedTopics = async () => {
      const topics: string[] = [];
      for await (const p of persistence.createRetainedStream('#') as AsyncIterable<{ topic: string }>) topics.push(p.topic);
      return topics;
    };
    const denied = fx.metrics.counter('pb_gateway_acl_denied_total', '');
    const spoofer = await connectWithWill('pb/v1/dev/dev-2/status');
    (spoofer as unknown as { stream: net.Socket }).stream.destroy(); // drop without DISCONNECT: the will fires
    await waitFor('the will to be refused', () => (denied.get({ reason: 'topic_of_other_device' }) === 1 ? true : undefined));
    expect(await retainedTopics()).toEqual([]);
    spoofer.end(true);

    const honest = await connectWithWill('pb/v1/dev/dev-1/status');
    (honest as unknown as { stream: net.Socket }).stream.destroy();
    await waitFor('its own will to be retained', async () => ((await retainedTopics()).includes('pb/v1/dev/dev-1/status') ? true : undefined));
    honest.end(true);
  });
});

describe('gateway abuse: subscriptions', () => {
  it('a subscription to #, +/…, another device\'s telemetry or command topic is refused (SUBACK 0x80); its own cmd is granted', async () => {
    await start();
    fx.addDevice('dev-2', 'pat-2');
    const client = await connectDevice(fx.port, { clientId: 'dev-1', creds: fx.addDevice('dev-1', 'pat-1') });
    cleanups.push(() => client.end(true));
    const filters = ['#', 'pb/#', 'pb/v1/dev/+/telemetry', 'pb/v1/dev/dev-2/cmd', 'pb/v1/dev/dev-2/telemetry', '$SYS/#', 'pb/v1/dev/dev-1/telemetry', 'pb/v1/dev/dev-1/cmd'];
    const error = await client.subscribeAsync(filters, { qos: 1 }).then(() => undefined, (e: unknown) => e);
    expect((error as { packet?: { granted?: number[] } })?.packet?.granted).toEqual([128, 128, 128, 128, 128, 128, 128, 1]);
  });
});

describe('gateway abuse: a storm of garbage', () => {
  it('300 garbage frames from one device are all dead-lettered while another device\'s 50 frames all arrive; raw garbage bytes close only the sender', async () => {
    await start();
    const noisy = await connectDevice(fx.port, { clientId: 'dev-noisy', creds: fx.addDevice('dev-noisy', 'pat-n') });
    const good = await connectDevice(fx.port, { clientId: 'dev-good', creds: fx.addDevice('dev-good', 'pat-g') });
    const rawCreds = fx.addDevice('dev-raw', 'pat-r');
    cleanups.push(() => noisy.end(true), () => good.end(true));
    const raw = await rawTls(fx.port, rawCreds);
    await mqttConnect(raw, 'dev-raw');
    raw.write(Buffer.from([0xff, 0x00, 0x13, 0x37, 0xde, 0xad, 0xbe, 0xef])); // reserved packet type 15 with bad flags

    const garbage = Array.from({ length: 300 }, (_, i) => Buffer.from(`garbage-${i}-${'\u0000'.repeat(i % 50)}`));
    const ts0 = Date.now();
    await Promise.all([
      ...garbage.map((g) => noisy.publishAsync(telemetryTopic('dev-noisy'), g, { qos: 1 })),
      ...Array.from({ length: 50 }, (_, seq) => good.publishAsync(telemetryTopic('dev-good'), frameJson(seq, ts0 + seq * 1000), { qos: 1 })),
    ]);
    await closed(raw);
    expect(telemetry(bus).map((r) => r.frame.seq).sort((a, b) => a - b)).toEqual(Array.from({ length: 50 }, (_, i) => i));
    const dead = deadLetters(bus);
    expect(dead).toHaveLength(300);
    expect(new Set(dead.map((d) => `${d.deviceId}:${d.reason}`))).toEqual(new Set(['dev-noisy:unknown_format']));
    expect(noisy.connected).toBe(true);
  });
});

describe('gateway abuse: connection floods', () => {
  it('connections that never finish the handshake are bounded per address; a device from another address still connects', async () => {
    await start({ connectionGate: { maxPendingPerIp: 20, maxPending: 1000 } });
    const creds = fx.addDevice('dev-1', 'pat-1');
    // 60 TCP connections from 127.0.0.2 that never send a byte.
    const flood = await Promise.all(Array.from({ length: 60 }, () => new Promise<net.Socket>((resolve, reject) => {
      const s = net.connect({ host: '127.0.0.1', port: fx.port, localAddress: '127.0.0.2' }, () => resolve(s));
      s.on('error', () => undefined);
      s.once('error', reject);
    })));
    cleanups.push(() => { for (const s of flood) s.destroy(); });
    const refused = fx.metrics.counter('pb_gateway_connect_refused_total', '');
    await waitFor('40 refusals', () => (refused.get({ reason: 'too_many_pending' }) === 40 ? true : undefined));
    await waitFor('40 closed by the gateway', () => (flood.filter((s) => s.destroyed || s.readableEnded).length >= 40 ? true : undefined));
    const client = await connectDevice(fx.port, { clientId: 'dev-1', creds });
    await publishQos1(client, telemetryTopic('dev-1'), frameJson(1));
    client.end(true);
    expect(telemetry(bus)).toHaveLength(1);
    expect(refused.get({ reason: 'too_many_pending' })).toBe(40);
  });

  it('an authenticated device no longer counts as pending: more devices than the limit connect from one address', async () => {
    await start({ connectionGate: { maxPendingPerIp: 3, maxPending: 1000 } });
    const clients = [];
    for (let i = 0; i < 6; i++) clients.push(await connectDevice(fx.port, { clientId: `dev-${i}`, creds: fx.addDevice(`dev-${i}`, `pat-${i}`) }));
    for (const c of clients) c.end(true);
    expect(clients).toHaveLength(6);
  });

  it('a handshake that never completes is closed after the handshake timeout', async () => {
    await start({ handshakeTimeoutMs: 300 });
    const s = net.connect({ host: '127.0.0.1', port: fx.port });
    cleanups.push(() => s.destroy());
    s.on('error', () => undefined);
    await closed(s);
    expect(fx.metrics.counter('pb_gateway_connect_refused_total', '').get({ reason: 'tls_handshake' })).toBe(1);
  });
});
