/**
 * Interop with an independent MQTT client (issue 3, "Done when"): Debian's `mosquitto_pub`
 * (package mosquitto-clients, libmosquitto, not our mqtt.js) publishes with a device certificate
 * over mutual TLS to a real gateway. Skipped when the binary is missing, failed instead when
 * PULSEBRIDGE_REQUIRE_SERVICES=1.
 */
import { execFile, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { DeadLetterRecord, TelemetryFrame, TelemetryRecord } from '../../contracts/telemetry.ts';
import { STREAMS } from '../../contracts/topics.ts';
import { encodeV2 } from '../../device-sim/encode-v2.ts';
import { InProcessBus } from '../../platform/bus/index.ts';
import type { DeviceCredentials } from '../../platform/security/index.ts';
import { frameJson, startGatewayFixture, type GatewayFixture } from '../helpers/gateway-fixture.ts';
import { requireService } from '../helpers/services.ts';

const MOSQUITTO_PUB = process.env.MOSQUITTO_PUB ?? '/usr/bin/mosquitto_pub';

/** Whether the binary exists and is mosquitto_pub (its help text names itself and its version). */
async function mosquittoPubAvailable(): Promise<boolean> {
  const run = spawnSync(MOSQUITTO_PUB, ['--help'], { encoding: 'utf8', timeout: 5_000 });
  return run.error === undefined && /mosquitto_pub version \d/.test(`${run.stdout}${run.stderr}`);
}

const hasMosquittoPub = await requireService(`mosquitto_pub (Debian package mosquitto-clients) at ${MOSQUITTO_PUB}`, mosquittoPubAvailable);

/** Publishes the file's bytes once at QoS 1 and resolves when mosquitto_pub exits 0 (after the PUBACK). */
async function mosquittoPub(port: number, deviceId: string, creds: DeviceCredentials, topic: string, file: string): Promise<void> {
  await promisify(execFile)(MOSQUITTO_PUB, [
    '-h', 'localhost', '-p', String(port), '-V', 'mqttv311',
    '--cafile', creds.ca, '--cert', creds.cert, '--key', creds.key,
    '-i', deviceId, '-q', '1', '-t', topic, '-f', file,
  ], { timeout: 30_000 });
}

const parse = <T>(m: { value: Buffer }) => JSON.parse(m.value.toString()) as T;

describe.skipIf(!hasMosquittoPub)('gateway interop with mosquitto_pub', () => {
  let bus: InProcessBus;
  let fx: GatewayFixture;

  beforeEach(async () => {
    bus = new InProcessBus();
    fx = await startGatewayFixture(bus);
  });
  afterEach(async () => {
    await fx.close();
    await bus.close();
  });

  it('delivers a v2 frame from our encoder and a JSON v1 frame as records, and dead-letters the v2 frame with a flipped CRC byte', async () => {
    const deviceId = 'dev-mosq-1';
    const topic = `pb/v1/dev/${deviceId}/telemetry`;
    const creds = fx.addDevice(deviceId, 'pat-mosq');
    const ts = Date.now();
    const v2Frame: TelemetryFrame = {
      seq: 7, ts, durMs: 1000, hr: 74, battery: 88, leadOff: false, charging: true,
      beats: [{ off: 112, rr: 806, cls: 'N' }, { off: 530, rr: 418, cls: 'V' }, { off: 921, rr: 391, cls: 'N' }],
      ecg: { fs: 250, uV: Array.from({ length: 250 }, (_, i) => Math.round(1200 * Math.sin(i / 7)) - 300) },
    };
    const v2 = encodeV2(v2Frame);
    const badCrc = Buffer.from(v2);
    badCrc[badCrc.length - 2]! ^= 0x10;
    const v1 = frameJson(8, ts + 1000);
    const files = { v2: path.join(fx.dataDir, 'frame-v2.bin'), v1: path.join(fx.dataDir, 'frame-v1.json'), badCrc: path.join(fx.dataDir, 'frame-v2-bad-crc.bin') };
    fs.writeFileSync(files.v2, v2);
    fs.writeFileSync(files.v1, v1);
    fs.writeFileSync(files.badCrc, badCrc);

    await mosquittoPub(fx.port, deviceId, creds, topic, files.v2);
    await mosquittoPub(fx.port, deviceId, creds, topic, files.v1);
    await mosquittoPub(fx.port, deviceId, creds, topic, files.badCrc);

    const records = bus.read(STREAMS.telemetry).map((m) => ({ key: m.key, record: { ...parse<TelemetryRecord>(m), receivedAt: 0 } }));
    expect(records).toEqual([
      { key: 'pat-mosq', record: { schema: 'pb.telemetry.v1', deviceId, patientId: 'pat-mosq', format: 'binary-v2', receivedAt: 0, frame: v2Frame } },
      {
        key: 'pat-mosq',
        record: {
          schema: 'pb.telemetry.v1', deviceId, patientId: 'pat-mosq', format: 'json-v1', receivedAt: 0,
          frame: { seq: 8, ts: ts + 1000, durMs: 1000, hr: 74, battery: 88, leadOff: false, beats: [{ off: 112, rr: 806, cls: 'N' }, { off: 921, rr: 809, cls: 'N' }] },
        },
      },
    ]);
    const dead = bus.read(STREAMS.deadLetter).map((m) => ({ key: m.key, record: { ...parse<DeadLetterRecord>(m), receivedAt: 0 } }));
    expect(dead).toEqual([{
      key: deviceId,
      record: {
        schema: 'pb.deadletter.v1', source: 'gateway', deviceId, topic, reason: 'v2_crc_mismatch',
        detail: `CRC-32 in frame is 0x${badCrc.readUInt32BE(badCrc.length - 4).toString(16).padStart(8, '0')}, computed over the ${v2.length - 4} bytes before it: 0x${v2.readUInt32BE(v2.length - 4).toString(16).padStart(8, '0')}`,
        payloadBase64: badCrc.toString('base64'), receivedAt: 0,
      },
    }]);
    expect(fx.metrics.counter('pb_gateway_frames_rejected_total', '').get({ reason: 'v2_crc_mismatch' })).toBe(1);
  });

  it('carries the pacer pulses of a JSON v1 frame (ecg.pace) to the bus, and dead-letters a frame whose pulse lies beyond its samples', async () => {
    const deviceId = 'dev-mosq-paced';
    const topic = `pb/v1/dev/${deviceId}/telemetry`;
    const creds = fx.addDevice(deviceId, 'pat-paced');
    const ts = Date.now();
    const uV = Array.from({ length: 250 }, (_, i) => Math.round(900 * Math.sin(i / 9)));
    const paced = frameJson(1, ts, { beats: [], hr: 0, ecg: { fs: 250, uV, pace: [3, 217] } });
    const beyond = frameJson(2, ts + 1000, { beats: [], hr: 0, ecg: { fs: 250, uV, pace: [250] } });
    const files = { paced: path.join(fx.dataDir, 'paced.json'), beyond: path.join(fx.dataDir, 'paced-beyond.json') };
    fs.writeFileSync(files.paced, paced);
    fs.writeFileSync(files.beyond, beyond);

    await mosquittoPub(fx.port, deviceId, creds, topic, files.paced);
    await mosquittoPub(fx.port, deviceId, creds, topic, files.beyond);

    const records = bus.read(STREAMS.telemetry).map((m) => parse<TelemetryRecord>(m));
    expect(records.map((r) => [r.frame.seq, r.frame.ecg?.pace])).toEqual([[1, [3, 217]]]);
    const dead = bus.read(STREAMS.deadLetter).map((m) => parse<DeadLetterRecord>(m));
    expect(dead.map((d) => [d.reason, d.detail])).toEqual([['schema', 'ecg.pace.0: pace 250 must be a sample index < 250']]);
  });
});
