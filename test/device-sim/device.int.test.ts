import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { TelemetryFrame } from '../../contracts/telemetry.ts';
import { SimulatedDevice } from '../../device-sim/device.ts';
import type { Logger } from '../../platform/log.ts';
import { startLocalBroker, type LocalBroker } from './helpers/local-broker.ts';
import { createTestPki, type TestPki } from './helpers/test-pki.ts';

const T0 = 1_764_064_800_000;
const frame = (seq: number): TelemetryFrame => ({ seq, ts: T0 + seq * 1000, durMs: 1000, hr: 70, battery: 90, leadOff: false, beats: [{ off: 100, rr: 857, cls: 'N' }] });
const seqOf = (payload: Buffer) => (JSON.parse(payload.toString()) as { seq: number }).seq;
const statusOf = (b: LocalBroker, deviceId: string) => b.statuses.filter((s) => s.deviceId === deviceId).map((s) => [JSON.parse(s.payload.toString()).online, s.retain]);

describe('simulated device over plain MQTT', () => {
  // Found in session 33: mqtt.js turns mqtt:// into TLS when a certificate and key are given, so
  // the demo with PULSEBRIDGE_MQTT_PLAINTEXT (which hands every device its certificate) connected none.
  it('connects in plain MQTT as its mqtt:// URL says, even when given a certificate and key', async () => {
    const broker = await startLocalBroker({ onTelemetry: () => 'accept' });
    const pki = createTestPki();
    const credentials = pki.device('dev-plain');
    const device = new SimulatedDevice({
      deviceId: 'dev-plain',
      connection: { url: broker.url, ca: pki.ca, cert: credentials.cert, key: credentials.key, connectTimeoutMs: 3000, reconnectPeriodMs: 0 },
    });
    try {
      expect(broker.url).toMatch(/^mqtt:\/\//);
      await device.start();
      await device.send(frame(0));
      await device.flush();
      expect(broker.telemetry.map((m) => seqOf(m.payload))).toEqual([0]);
    } finally {
      await device.stop();
      await broker.close();
      pki.remove();
    }
  });

  it('re-sends an unacknowledged frame with the same seq after the connection drops, and loses nothing', async () => {
    let device: SimulatedDevice | undefined;
    let held = false;
    const broker = await startLocalBroker({
      onTelemetry: (_id, payload) => {
        if (seqOf(payload) === 5 && !held) {
          // No PUBACK for seq 5; the device's network then fails.
          held = true;
          setImmediate(() => device?.dropConnection());
          return 'hold';
        }
        return 'accept';
      },
    });
    try {
      // One frame in flight at a time, so exactly the held frame is unacknowledged at the drop.
      device = new SimulatedDevice({ deviceId: 'dev-resend', connection: { url: broker.url, reconnectPeriodMs: 20 }, maxInFlight: 1 });
      await device.start();
      for (let seq = 0; seq < 12; seq++) await device.send(frame(seq));
      await device.flush();
      await device.stop();

      expect(broker.telemetrySeen.map((m) => seqOf(m.payload))).toEqual([0, 1, 2, 3, 4, 5, 5, 6, 7, 8, 9, 10, 11]);
      expect(broker.telemetry.map((m) => seqOf(m.payload))).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
      const [first, second] = broker.telemetrySeen.filter((m) => seqOf(m.payload) === 5);
      expect(second?.payload.equals(first!.payload)).toBe(true);
      expect([device.sentCount, device.ackedCount, device.connectCount]).toEqual([12, 12, 2]);
      // online, Last Will on the drop, online again after the reconnect, offline at stop: all retained
      const statuses = statusOf(broker, 'dev-resend');
      expect([...statuses].sort()).toEqual([[false, true], [false, true], [true, true], [true, true]]);
      expect(statuses.at(-1)).toEqual([false, true]);
    } finally {
      await broker.close();
    }
  });

  it('re-sends every frame still in flight when the broker drops the connection', async () => {
    let broker: LocalBroker | undefined;
    let dropped = false;
    broker = await startLocalBroker({
      onTelemetry: (id, payload) => {
        if (seqOf(payload) >= 20 && !dropped) {
          dropped = true;
          setImmediate(() => broker?.disconnect(id));
          return 'hold';
        }
        return 'accept';
      },
    });
    try {
      const device = new SimulatedDevice({ deviceId: 'dev-window', connection: { url: broker.url, reconnectPeriodMs: 20 }, maxInFlight: 16 });
      await device.start();
      for (let seq = 0; seq < 60; seq++) await device.send(frame(seq));
      await device.flush();
      await device.stop();
      const accepted = broker.telemetry.map((m) => seqOf(m.payload));
      // at least once, nothing missing, and order kept from the re-sent frames onwards
      expect([...new Set(accepted)].sort((a, b) => a - b)).toEqual(Array.from({ length: 60 }, (_, i) => i));
      expect(device.ackedCount).toBe(60);
      expect(device.connectCount).toBe(2);
    } finally {
      await broker.close();
    }
  });

  it('gives up waiting for a PUBACK that never comes when asked to: flush on abort, stop after its grace period', async () => {
    const broker = await startLocalBroker({ onTelemetry: () => 'hold' });
    try {
      const device = new SimulatedDevice({ deviceId: 'dev-stuck', connection: { url: broker.url } });
      await device.start();
      await device.send(frame(0));
      const controller = new AbortController();
      const flushing = device.flush(controller.signal);
      controller.abort();
      await expect(flushing).rejects.toMatchObject({ code: 'PB_SIM_FAILED', message: 'Device dev-stuck stopped waiting for 1 acknowledgements.' });
      await device.stop(50);
      expect([device.sentCount, device.ackedCount]).toEqual([1, 0]);
    } finally {
      await broker.close();
    }
  });

  it('answers a ping command on cmd/ack', async () => {
    const broker = await startLocalBroker();
    try {
      const device = new SimulatedDevice({ deviceId: 'dev-cmd', connection: { url: broker.url } });
      const answers: string[] = [];
      await device.start();
      await new Promise<void>((resolve) => {
        broker.broker.subscribe('pb/v1/dev/dev-cmd/cmd/ack', (packet, cb) => {
          answers.push(packet.payload.toString());
          cb();
          if (answers.length === 2) resolve();
        }, () => {
          broker.broker.publish({ cmd: 'publish', topic: 'pb/v1/dev/dev-cmd/cmd', payload: Buffer.from('{"id":"c-1","type":"ping"}'), qos: 1, retain: false, dup: false }, () => {});
          broker.broker.publish({ cmd: 'publish', topic: 'pb/v1/dev/dev-cmd/cmd', payload: Buffer.from('{"id":"c-2","type":"fw_offer"}'), qos: 1, retain: false, dup: false }, () => {});
        });
      });
      await device.stop();
      expect(answers.map((a) => JSON.parse(a))).toEqual([
        { id: 'c-1', ok: true },
        { id: 'c-2', ok: false, error: 'command type "fw_offer" is not supported by the simulator' },
      ]);
    } finally {
      await broker.close();
    }
  });

  it('fails start with a clear sentence when the broker refuses the device', async () => {
    const broker = await startLocalBroker({ refuseClientIds: ['dev-banned'] });
    try {
      const device = new SimulatedDevice({ deviceId: 'dev-banned', connection: { url: broker.url } });
      await expect(device.start()).rejects.toMatchObject({ code: 'PB_SIM_FAILED', message: `Gateway refused device dev-banned: Connection refused: Not authorized.` });
      await expect(device.send(frame(0))).rejects.toMatchObject({ code: 'PB_SIM_FAILED' });
    } finally {
      await broker.close();
    }
  });
});

describe('simulated device over mutual TLS', () => {
  let pki: TestPki;
  let broker: LocalBroker;
  beforeAll(async () => {
    pki = createTestPki();
    broker = await startLocalBroker({ tls: { key: pki.server.key, cert: pki.server.cert, ca: pki.ca } });
  });
  afterAll(async () => {
    await broker?.close();
    pki?.remove();
  });

  it('connects with its certificate and gets every frame acknowledged', async () => {
    const creds = pki.device('dev-tls');
    const device = new SimulatedDevice({ deviceId: 'dev-tls', connection: { url: broker.url.replace('127.0.0.1', 'localhost'), ca: pki.ca, cert: creds.cert, key: creds.key } });
    await device.start();
    for (let seq = 0; seq < 5; seq++) await device.send(frame(seq));
    await device.flush();
    await device.stop();
    expect(broker.telemetry.filter((m) => m.deviceId === 'dev-tls').map((m) => seqOf(m.payload))).toEqual([0, 1, 2, 3, 4]);
  });

  it('logs each connection error once, though mqtt.js passes an error of a TLS connection attempt on twice', async () => {
    const gone = await startLocalBroker({ tls: { key: pki.server.key, cert: pki.server.cert, ca: pki.ca } });
    // The error objects the device logged, to tell one error logged twice from two errors.
    const logged: unknown[] = [];
    const record = (msg: string, fields?: Record<string, unknown>) => { if (msg === 'connection error') logged.push(fields?.err); };
    const logger: Logger = { debug: () => {}, info: () => {}, warn: record, error: record, child: () => logger };
    const creds = pki.device('dev-gone');
    const device = new SimulatedDevice({ deviceId: 'dev-gone', logger, connection: { url: gone.url.replace('127.0.0.1', 'localhost'), ca: pki.ca, cert: creds.cert, key: creds.key, reconnectPeriodMs: 50 } });
    try {
      await device.start();
      // The gateway goes away: the operating system refuses every reconnect attempt.
      await gone.close();
      await vi.waitUntil(() => logged.length >= 3, { timeout: 10_000 });
    } finally {
      await device.kill();
    }
    expect(logged.every((err) => (err as Error & { code?: string }).code === 'ECONNREFUSED')).toBe(true);
    expect(new Set(logged).size).toBe(logged.length);
  });

  it('fails start when its certificate comes from another CA', async () => {
    const creds = pki.foreignDevice('dev-foreign');
    const device = new SimulatedDevice({ deviceId: 'dev-foreign', connection: { url: broker.url, ca: pki.ca, cert: creds.cert, key: creds.key, connectTimeoutMs: 5000 } });
    await expect(device.start()).rejects.toMatchObject({ code: 'PB_SIM_FAILED', message: expect.stringMatching(/^Device dev-foreign could not connect to mqtts:\/\/127\.0\.0\.1:\d+: the gateway closed the connection before accepting it/) });
  });
});
