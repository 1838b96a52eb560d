import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { DeadLetterRecord, TelemetryRecord } from '../../contracts/telemetry.ts';
import { STREAMS } from '../../contracts/topics.ts';
import { issueForeignCertificate } from '../../platform/security/index.ts';
import { ControllableBus } from '../helpers/controllable-bus.ts';
import { connectDevice, frameJson, makeTempDir, publishQos1, startGatewayFixture, type GatewayFixture } from '../helpers/gateway-fixture.ts';

const telemetryTopic = (id: string) => `pb/v1/dev/${id}/telemetry`;
const parse = <T>(m: { value: Buffer }) => JSON.parse(m.value.toString()) as T;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('gateway', () => {
  let bus: ControllableBus;
  let fx: GatewayFixture;

  beforeEach(async () => {
    bus = new ControllableBus();
    fx = await startGatewayFixture(bus);
  });
  afterEach(async () => {
    await fx.close();
    await bus.close();
  });

  it('publishes a valid JSON v1 frame to the telemetry stream keyed by the device\'s patient', async () => {
    const creds = fx.addDevice('dev-1', 'pat-1');
    const client = await connectDevice(fx.port, { clientId: 'dev-1', creds });
    const ts = Date.now();
    await publishQos1(client, telemetryTopic('dev-1'), frameJson(42, ts, { extraField: 'ignored' }));
    client.end(true);
    const messages = bus.inner.read(STREAMS.telemetry);
    expect(messages).toHaveLength(1);
    expect(messages[0]!.key).toBe('pat-1');
    const record = parse<TelemetryRecord>(messages[0]!);
    expect({ ...record, receivedAt: 0 }).toEqual({
      schema: 'pb.telemetry.v1', deviceId: 'dev-1', patientId: 'pat-1', format: 'json-v1', receivedAt: 0,
      frame: { seq: 42, ts, durMs: 1000, hr: 74, battery: 88, leadOff: false, beats: [{ off: 112, rr: 806, cls: 'N' }, { off: 921, rr: 809, cls: 'N' }] },
    });
  });

  it('sends the PUBACK only after the bus acknowledged the frame', async () => {
    const creds = fx.addDevice('dev-1', 'pat-1');
    const client = await connectDevice(fx.port, { clientId: 'dev-1', creds });
    bus.hold();
    let acked = false;
    const published = publishQos1(client, telemetryTopic('dev-1'), frameJson(1)).then(() => { acked = true; });
    // Wait until the gateway is blocked inside the bus publish, then some more.
    while (bus.publishCalls === 0) await sleep(5);
    await sleep(300);
    expect(acked).toBe(false);
    expect(bus.inner.read(STREAMS.telemetry)).toHaveLength(0);
    bus.release();
    await published;
    expect(acked).toBe(true);
    expect(bus.inner.read(STREAMS.telemetry)).toHaveLength(1);
    client.end(true);
  });

  it('acknowledges the PUBLISH packets of a connection in the order they came, whichever the bus acknowledged first', async () => {
    // MQTT 3.1.1 [MQTT-4.6.0-2]. Firmware walk of 2026-12-07: a pipelined valid frame, invalid
    // frame and status were PUBACKed 1, 3, 2 (each as soon as its own work was done).
    const creds = fx.addDevice('dev-1', 'pat-1');
    const client = await connectDevice(fx.port, { clientId: 'dev-1', creds });
    const sent: number[] = [];
    const acked: number[] = [];
    client.on('packetsend', (p) => { if (p.cmd === 'publish') sent.push(p.messageId!); });
    client.on('packetreceive', (p) => { if (p.cmd === 'puback') acked.push(p.messageId!); });
    bus.hold();
    const valid = publishQos1(client, telemetryTopic('dev-1'), frameJson(1));
    const invalid = publishQos1(client, telemetryTopic('dev-1'), '{"v":1,"seq":');
    while (bus.held.length < 2) await sleep(5);
    // The bus acknowledges the dead letter of the second frame first …
    bus.held.find((h) => h.stream === STREAMS.deadLetter)!.release();
    while (bus.inner.read(STREAMS.deadLetter).length === 0) await sleep(5);
    await sleep(50);
    // … and the first frame's telemetry record after it.
    bus.release();
    await Promise.all([valid, invalid]);
    client.end(true);
    expect(sent).toHaveLength(2);
    expect(acked).toEqual(sent);
  });

  it('sends a frame that fails validation to the dead-letter stream with its reason and raw payload', async () => {
    const creds = fx.addDevice('dev-1', 'pat-1');
    const client = await connectDevice(fx.port, { clientId: 'dev-1', creds });
    const bad = frameJson(7, Date.now(), { durMs: 50 });
    await publishQos1(client, telemetryTopic('dev-1'), bad);
    await publishQos1(client, telemetryTopic('dev-1'), '{not json');
    client.end(true);
    expect(bus.inner.read(STREAMS.telemetry)).toHaveLength(0);
    const dead = bus.inner.read(STREAMS.deadLetter).map((m) => parse<DeadLetterRecord>(m));
    expect(dead.map((d) => ({ deviceId: d.deviceId, reason: d.reason, payload: Buffer.from(d.payloadBase64, 'base64').toString() }))).toEqual([
      { deviceId: 'dev-1', reason: 'schema', payload: bad },
      { deviceId: 'dev-1', reason: 'invalid_json', payload: '{not json' },
    ]);
    expect(dead[0]!.detail).toContain('durMs');
  });

  it('dead-letters a frame whose ts is more than 24 h away from gateway time', async () => {
    const creds = fx.addDevice('dev-1', 'pat-1');
    const client = await connectDevice(fx.port, { clientId: 'dev-1', creds });
    await publishQos1(client, telemetryTopic('dev-1'), frameJson(1, Date.now() - 25 * 3600_000));
    client.end(true);
    expect(bus.inner.read(STREAMS.deadLetter).map((m) => parse<DeadLetterRecord>(m).reason)).toEqual(['clock_skew']);
  });

  describe('refuses', () => {
    it('a client without a certificate', async () => {
      fx.addDevice('dev-1', 'pat-1');
      const serverCa = fx.addDevice('dev-1', 'pat-1').ca;
      await expect(connectDevice(fx.port, { clientId: 'dev-1', creds: { ca: serverCa } })).rejects.toThrow(/Not authorized|closed/i);
      expect(fx.metrics.counter('pb_gateway_connect_refused_total', '').get({ reason: 'no_certificate' })).toBe(1);
    });

    it('a certificate from another CA', async () => {
      const real = fx.addDevice('dev-1', 'pat-1');
      const foreign = issueForeignCertificate(makeTempDir(), 'dev-1');
      await expect(connectDevice(fx.port, { clientId: 'dev-1', creds: { ...foreign, ca: real.ca } })).rejects.toThrow(/Not authorized/i);
      expect(fx.metrics.counter('pb_gateway_connect_refused_total', '').get({ reason: 'certificate_rejected' })).toBe(1);
    });

    it('a client id that is not the certificate CN', async () => {
      const creds = fx.addDevice('dev-1', 'pat-1');
      fx.addDevice('dev-2', 'pat-2');
      await expect(connectDevice(fx.port, { clientId: 'dev-2', creds })).rejects.toThrow(/Not authorized/i);
    });

    it('a device disabled in the registry', async () => {
      const creds = fx.addDevice('dev-1', 'pat-1');
      fx.registry.setEnabled('dev-1', false, 'test');
      await expect(connectDevice(fx.port, { clientId: 'dev-1', creds })).rejects.toThrow(/Not authorized/i);
    });

    it('a publish to another device\'s topic: the connection is closed and nothing reaches the bus', async () => {
      const creds = fx.addDevice('dev-1', 'pat-1');
      fx.addDevice('dev-2', 'pat-2');
      const client = await connectDevice(fx.port, { clientId: 'dev-1', creds });
      const closed = new Promise<void>((r) => client.once('close', () => r()));
      client.publish(telemetryTopic('dev-2'), frameJson(1), { qos: 1 });
      await closed;
      client.end(true);
      expect(bus.inner.read(STREAMS.telemetry)).toHaveLength(0);
      expect(bus.inner.read(STREAMS.deadLetter)).toHaveLength(0);
      expect(fx.metrics.counter('pb_gateway_acl_denied_total', '').get({ reason: 'topic_of_other_device' })).toBe(1);
    });

    it('a subscription to another device\'s command topic (SUBACK failure)', async () => {
      const creds = fx.addDevice('dev-1', 'pat-1');
      const client = await connectDevice(fx.port, { clientId: 'dev-1', creds });
      // mqtt.js reports a SUBACK containing a failure code as an error carrying the packet.
      const error = await client.subscribeAsync(['pb/v1/dev/dev-2/cmd', 'pb/v1/dev/dev-1/cmd'], { qos: 1 }).then(() => undefined, (e: unknown) => e);
      client.end(true);
      expect((error as { packet?: { granted?: number[] } })?.packet?.granted).toEqual([128, 1]);
    });
  });

  it('does not acknowledge frames while the bus is unreachable; the device resends them after reconnecting', async () => {
    const creds = fx.addDevice('dev-1', 'pat-1');
    const client = await connectDevice(fx.port, { clientId: 'dev-1', creds, reconnectPeriod: 200 });
    const acked = new Set<number>();
    const ts0 = Date.now();
    bus.fail(true);
    for (let seq = 0; seq < 5; seq++) {
      client.publish(telemetryTopic('dev-1'), frameJson(seq, ts0 + seq * 1000), { qos: 1 }, (err) => { if (!err) acked.add(seq); });
    }
    await sleep(800);
    expect(acked.size).toBe(0);
    bus.fail(false);
    while (acked.size < 5) await sleep(50);
    client.end(true);
    const seqs = bus.inner.read(STREAMS.telemetry).map((m) => parse<TelemetryRecord>(m).frame.seq);
    expect(new Set(seqs)).toEqual(new Set([0, 1, 2, 3, 4]));
  });
});

// The hardened walk (session 33): through a whole Kafka outage the gateway's /healthz said "ok"
// while it acknowledged no frame. pb_gateway_bus_failing (read by the ops /healthz, cli/main.ts)
// follows the latest write to the bus.
describe('the gateway\'s bus health', () => {
  it('is failing while the bus takes no frame, and healthy again at the next one it takes', async () => {
    const bus = new ControllableBus();
    const fx = await startGatewayFixture(bus, { pollIntervalMs: 600_000 });
    const failing = () => fx.metrics.gauge('pb_gateway_bus_failing', '').get();
    try {
      const creds = fx.addDevice('dev-1', 'pat-1');
      const client = await connectDevice(fx.port, { clientId: 'dev-1', creds });
      await publishQos1(client, telemetryTopic('dev-1'), frameJson(1));
      expect(failing()).toBe(0);
      bus.fail(true);
      const unacked = publishQos1(client, telemetryTopic('dev-1'), frameJson(2)).catch(() => undefined);
      while (failing() === 0) await sleep(10);
      expect(failing()).toBe(1);
      client.end(true);
      await unacked;
      bus.fail(false);
      const again = await connectDevice(fx.port, { clientId: 'dev-1', creds });
      await publishQos1(again, telemetryTopic('dev-1'), frameJson(3));
      expect(failing()).toBe(0);
      again.end(true);
    } finally {
      await fx.close();
      await bus.close();
    }
  });
});
