/**
 * Firmware walk of 2026-12-07: an MQTT 5 CONNECT (protocol level 5) is refused by aedes with
 * CONNACK 1 "unacceptable protocol version", and the refusal was logged only at debug, so an
 * operator could not see why a device built for MQTT 5 did not connect. The gateway now counts it
 * (pb_gateway_connect_refused_total{reason="protocol_version"}) and logs it at warn once per
 * connection with the client id, the protocol level and the certificate CN, like its other
 * refusals. Driven by an independent client, Debian's `mosquitto_pub -V mqttv5` (libmosquitto),
 * over mutual TLS with a device certificate. The refusal itself is unchanged (device-protocol.md:
 * MQTT 3.1.1), and a 3.1.1 connection logs nothing of the kind.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { InProcessBus } from '../../platform/bus/index.ts';
import { createLogger } from '../../platform/log.ts';
import type { DeviceCredentials } from '../../platform/security/index.ts';
import { frameJson, startGatewayFixture, type GatewayFixture } from '../helpers/gateway-fixture.ts';
import { requireService } from '../helpers/services.ts';
import { MOSQUITTO_PUB, mosquittoClientsAvailable } from './mosquitto-clients.ts';

const hasMosquittoPub = await requireService(`mosquitto_pub (Debian package mosquitto-clients) at ${MOSQUITTO_PUB}`, () => mosquittoClientsAvailable(MOSQUITTO_PUB));

const REFUSAL = 'connection refused: MQTT protocol level not supported, the gateway speaks MQTT 3.1.1 (protocol level 4)';

/** Publishes one file at QoS 1 with `version` (mqttv311, mqttv5); exit code and output, never rejects. */
async function mosquittoPub(port: number, deviceId: string, creds: DeviceCredentials, version: string, file: string): Promise<{ code: number; output: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(MOSQUITTO_PUB, [
      '-h', 'localhost', '-p', String(port), '-V', version,
      '--cafile', creds.ca, '--cert', creds.cert, '--key', creds.key,
      '-i', deviceId, '-q', '1', '-t', `pb/v1/dev/${deviceId}/telemetry`, '-f', file,
    ], { timeout: 30_000 });
    return { code: 0, output: `${stdout}${stderr}` };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, output: `${e.stdout ?? ''}${e.stderr ?? ''}` };
  }
}

describe.skipIf(!hasMosquittoPub)('a CONNECT of another MQTT protocol level (mosquitto_pub)', () => {
  let bus: InProcessBus;
  let fx: GatewayFixture;
  let logs: Record<string, unknown>[];

  beforeEach(async () => {
    logs = [];
    bus = new InProcessBus();
    fx = await startGatewayFixture(bus, { logger: createLogger('info', {}, (l) => logs.push(JSON.parse(l) as Record<string, unknown>)) });
  });
  afterEach(async () => {
    await fx.close();
    await bus.close();
  });

  it('MQTT 5 is refused as before, and the refusal is logged at warn once with the device\'s CN and counted', async () => {
    const creds = fx.addDevice('dev-v5', 'pat-v5');
    const file = path.join(fx.dataDir, 'frame.json');
    fs.writeFileSync(file, frameJson(1));

    const v5 = await mosquittoPub(fx.port, 'dev-v5', creds, 'mqttv5', file);
    expect(v5.code).not.toBe(0);
    // libmosquitto reads aedes' CONNACK 1 as such (exit code 132).
    expect(v5.output).toMatch(/Unsupported Protocol Version/);
    expect(fx.metrics.counter('pb_gateway_frames_received_total', '').get({})).toBe(0);
    expect(logs.filter((l) => l['msg'] === REFUSAL)).toEqual([expect.objectContaining({
      level: 'warn', clientId: 'dev-v5', protocolVersion: 5, cn: 'dev-v5', certificateVerified: true,
    })]);
    expect(fx.metrics.counter('pb_gateway_connect_refused_total', '').get({ reason: 'protocol_version' })).toBe(1);

    // The same device over MQTT 3.1.1 is accepted; nothing more is logged as refused.
    const v311 = await mosquittoPub(fx.port, 'dev-v5', creds, 'mqttv311', file);
    expect(v311).toMatchObject({ code: 0 });
    expect(fx.metrics.counter('pb_gateway_frames_received_total', '').get({})).toBe(1);
    expect(logs.filter((l) => l['msg'] === REFUSAL)).toHaveLength(1);
  });
});
