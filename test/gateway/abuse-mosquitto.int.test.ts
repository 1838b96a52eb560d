/**
 * The gateway's abuse cases driven by an independent MQTT client (Debian's mosquitto_pub and
 * mosquitto_sub, libmosquitto — not our mqtt.js): a wildcard or foreign subscription gets no
 * message, a retained publish to a foreign topic is refused, QoS 2 telemetry is dead-lettered,
 * an oversized payload is refused while reading. Skipped when the binaries are missing, failed
 * when PULSEBRIDGE_REQUIRE_SERVICES=1.
 */
import { execFile, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { DeadLetterRecord, TelemetryRecord } from '../../contracts/telemetry.ts';
import { STREAMS } from '../../contracts/topics.ts';
import { InProcessBus } from '../../platform/bus/index.ts';
import type { DeviceCredentials } from '../../platform/security/index.ts';
import { frameJson, makeTempDir, startGatewayFixture, type GatewayFixture } from '../helpers/gateway-fixture.ts';
import { requireService } from '../helpers/services.ts';

const PUB = process.env.MOSQUITTO_PUB ?? '/usr/bin/mosquitto_pub';
const SUB = process.env.MOSQUITTO_SUB ?? '/usr/bin/mosquitto_sub';
const available = async () => [PUB, SUB].every((bin) => /mosquitto_(pub|sub) version \d/.test(`${spawnSync(bin, ['--help'], { encoding: 'utf8', timeout: 5_000 }).stdout ?? ''}`));
const hasMosquitto = await requireService(`mosquitto_pub and mosquitto_sub (Debian package mosquitto-clients) at ${PUB}, ${SUB}`, available);

const parse = <T>(m: { value: Buffer }) => JSON.parse(m.value.toString()) as T;
const tlsArgs = (port: number, id: string, c: DeviceCredentials) => ['-h', 'localhost', '-p', String(port), '-V', 'mqttv311', '--cafile', c.ca, '--cert', c.cert, '--key', c.key, '-i', id];

/** Runs mosquitto_pub; resolves with its exit code and stderr (never rejects). */
async function pub(args: string[]): Promise<{ code: number; stderr: string }> {
  try {
    const { stderr } = await promisify(execFile)(PUB, args, { timeout: 30_000, maxBuffer: 1024 * 1024 });
    return { code: 0, stderr };
  } catch (err) {
    const e = err as { code?: number; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, stderr: e.stderr ?? '' };
  }
}

describe.skipIf(!hasMosquitto)('gateway abuse with mosquitto clients', () => {
  let bus: InProcessBus;
  let fx: GatewayFixture;
  beforeEach(async () => {
    bus = new InProcessBus();
    fx = await startGatewayFixture(bus, { rateLimit: false });
  });
  afterEach(async () => {
    await fx.close();
    await bus.close();
  });

  it('mosquitto_sub on #, on another device\'s topics and on +/telemetry gets every subscription refused and receives nothing while a device publishes', async () => {
    const spy = fx.addDevice('dev-spy', 'pat-spy');
    const victim = fx.addDevice('dev-victim', 'pat-victim');
    const sub = spawn(SUB, [...tlsArgs(fx.port, 'dev-spy', spy), '-q', '1', '-v', '-t', '#', '-t', 'pb/v1/dev/dev-victim/telemetry', '-t', 'pb/v1/dev/+/telemetry', '-t', 'pb/v1/dev/dev-victim/cmd', '-W', '20'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    sub.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    sub.stderr.on('data', (d: Buffer) => { err += d.toString(); });
    const exited = new Promise<number | null>((resolve) => sub.once('close', (code) => resolve(code)));
    const published = await pub([...tlsArgs(fx.port, 'dev-victim', victim), '-q', '1', '-t', 'pb/v1/dev/dev-victim/telemetry', '-m', frameJson(1)]);
    expect(published.code).toBe(0);
    // mosquitto_sub reports the refusal and exits by itself once every subscription was denied.
    await exited;
    expect(err).toMatch(/all subscription requests were denied/i);
    expect(out).toBe('');
    expect(bus.read(STREAMS.telemetry).map((m) => parse<TelemetryRecord>(m).deviceId)).toEqual(['dev-victim']);
  });

  it('mosquitto_pub -r to another device\'s status is refused (connection closed, nothing on the bus); -q 2 telemetry is dead-lettered as qos_not_allowed', async () => {
    const c = fx.addDevice('dev-1', 'pat-1');
    fx.addDevice('dev-2', 'pat-2');
    const foreign = await pub([...tlsArgs(fx.port, 'dev-1', c), '-q', '1', '-r', '-t', 'pb/v1/dev/dev-2/status', '-m', '{"online":false}']);
    expect(foreign.code).not.toBe(0);
    expect(fx.metrics.counter('pb_gateway_acl_denied_total', '').get({ reason: 'topic_of_other_device' })).toBe(1);
    const qos2 = await pub([...tlsArgs(fx.port, 'dev-1', c), '-q', '2', '-t', 'pb/v1/dev/dev-1/telemetry', '-m', frameJson(2)]);
    expect(qos2.code).toBe(0);
    expect(bus.read(STREAMS.telemetry)).toHaveLength(0);
    expect(bus.read(STREAMS.deadLetter).map((m) => parse<DeadLetterRecord>(m).reason)).toEqual(['qos_not_allowed']);
  });

  it('mosquitto_pub with a 5 MB payload is disconnected without a PUBACK; only a 1 KiB prefix is dead-lettered', async () => {
    const c = fx.addDevice('dev-1', 'pat-1');
    const file = path.join(makeTempDir('pb-mosq-big-'), 'big.bin');
    fs.writeFileSync(file, Buffer.alloc(5 * 1024 * 1024, 0x7b));
    const big = await pub([...tlsArgs(fx.port, 'dev-1', c), '-q', '1', '-t', 'pb/v1/dev/dev-1/telemetry', '-f', file]);
    expect(big.code).not.toBe(0);
    const dead = bus.read(STREAMS.deadLetter).map((m) => parse<DeadLetterRecord>(m));
    expect(dead.map((d) => [d.reason, d.payloadTruncated, Buffer.from(d.payloadBase64, 'base64').length])).toEqual([['packet_too_large', true, 1024]]);
  });
});
