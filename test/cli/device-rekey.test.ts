/**
 * `pulsebridge device rekey <id>` (security review finding 5) with the development PKI: the
 * device gets a new key and certificate, the old certificate is revoked in the dev CA's CRL, and
 * the embedded gateway — following that CRL by default — refuses the old certificate (and closes
 * its live connection) and accepts the new one, without a restart.
 */
import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runDeviceCommand, type DeviceCommandInput } from '../../cli/device.ts';
import { startGateway } from '../../cli/components.ts';
import { InProcessBus } from '../../platform/bus/index.ts';
import { loadConfig } from '../../platform/config.ts';
import { silentLogger } from '../../platform/log.ts';
import { MetricsRegistry } from '../../platform/metrics.ts';
import { DeviceRegistry } from '../../platform/registry/index.ts';
import { devPkiPaths, normalizeSerial, readDeviceCrl } from '../../platform/security/index.ts';
import { connectDevice, makeTempDir } from '../helpers/gateway-fixture.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');

async function cli(env: Record<string, string>, input: Partial<DeviceCommandInput>): Promise<{ code: number; out: string[] }> {
  const out: string[] = [];
  const code = await runDeviceCommand({
    config: loadConfig(env), action: undefined, deviceId: undefined, patientId: undefined, json: false,
    actor: 'cli:tester', out: (l) => out.push(l), err: () => {}, ...input,
  });
  return { code, out };
}

describe('pulsebridge device rekey', () => {
  let dataDir: string;
  let env: Record<string, string>;
  beforeEach(() => {
    dataDir = makeTempDir('pb-rekey-');
    env = { PULSEBRIDGE_DATA_DIR: dataDir, PULSEBRIDGE_MQTT_PORT: '0' };
  });
  afterEach(() => fs.rmSync(dataDir, { recursive: true, force: true }));

  it('gives the device a new key and certificate; the running embedded gateway refuses the old one (and drops its connection) and accepts the new one', async () => {
    await cli(env, { action: 'add', deviceId: 'dev-1', patientId: 'pat-1' });
    await cli(env, { action: 'add', deviceId: 'dev-2', patientId: 'pat-2' });
    const devices = path.join(devPkiPaths(dataDir).dir, 'devices');
    // What leaked: a copy of the old key and certificate.
    const old = { cert: path.join(dataDir, 'old.crt'), key: path.join(dataDir, 'old.key'), ca: devPkiPaths(dataDir).serverCaCert };
    fs.copyFileSync(path.join(devices, 'dev-1.crt'), old.cert);
    fs.copyFileSync(path.join(devices, 'dev-1.key'), old.key);

    const bus = new InProcessBus();
    const registry = new DeviceRegistry(path.join(dataDir, 'registry.sqlite'));
    const metrics = new MetricsRegistry();
    const gw = await startGateway({ config: loadConfig(env), bus, logger: silentLogger, metrics }, registry);
    try {
      const live = await connectDevice(gw.port, { clientId: 'dev-1', creds: old });
      const closed = new Promise<void>((resolve) => live.once('close', () => resolve()));

      // From another process, as an operator would.
      const { stdout } = await promisify(execFile)(path.join(ROOT, 'bin/pulsebridge'), ['device', 'rekey', 'dev-1', '--json', '--data-dir', dataDir]);
      const result = JSON.parse(stdout) as { deviceId: string; cert: string; key: string; ca: string; serial: string; revokedSerial: string; crl: string };
      const oldSerial = new X509Certificate(fs.readFileSync(old.cert)).serialNumber;
      expect(result).toMatchObject({ deviceId: 'dev-1', cert: path.join(devices, 'dev-1.crt'), key: path.join(devices, 'dev-1.key'), revokedSerial: oldSerial, crl: devPkiPaths(dataDir).deviceCrl });
      expect(result.serial).not.toBe(oldSerial);
      expect(fs.readFileSync(result.key, 'utf8')).not.toBe(fs.readFileSync(old.key, 'utf8'));
      expect(fs.statSync(result.key).mode & 0o777).toBe(0o600);

      // The gateway follows the dev CRL: the old certificate's live connection is dropped …
      const outcome = await Promise.race([closed.then(() => 'closed'), new Promise<string>((r) => setTimeout(() => r('still open'), 6000))]);
      live.end(true);
      expect(outcome).toBe('closed');
      expect(metrics.counter('pb_gateway_revoked_total', '').get({ reason: 'certificate_revoked' })).toBe(1);
      // … its reconnection refused, and the new certificate accepted.
      await expect(connectDevice(gw.port, { clientId: 'dev-1', creds: old })).rejects.toThrow(/Not authorized/i);
      expect(metrics.counter('pb_gateway_connect_refused_total', '').get({ reason: 'certificate_rejected' })).toBe(1);
      const fresh = await connectDevice(gw.port, { clientId: 'dev-1', creds: { cert: result.cert, key: result.key, ca: result.ca } });
      expect(fresh.connected).toBe(true);
      fresh.end(true);
      // Other devices are untouched.
      const other = await connectDevice(gw.port, { clientId: 'dev-2', creds: { cert: path.join(devices, 'dev-2.crt'), key: path.join(devices, 'dev-2.key'), ca: old.ca } });
      other.end(true);
    } finally {
      await gw.stop();
      registry.close();
      await bus.close();
    }
  });

  it('a second rekey revokes the first new certificate too; `device add` then returns the current one', async () => {
    await cli(env, { action: 'add', deviceId: 'dev-1', patientId: 'pat-1' });
    const first = JSON.parse((await cli(env, { action: 'rekey', deviceId: 'dev-1', json: true })).out[0]!) as { serial: string; revokedSerial: string };
    const second = JSON.parse((await cli(env, { action: 'rekey', deviceId: 'dev-1', json: true })).out[0]!) as { serial: string; revokedSerial: string; cert: string };
    expect(second.revokedSerial).toBe(first.serial);
    const p = devPkiPaths(dataDir);
    const crl = readDeviceCrl(p.deviceCrl, fs.readFileSync(p.deviceCaCert));
    expect([...crl.crls[0]!.crl.revokedSerials].sort()).toEqual([first.revokedSerial, first.serial].map(normalizeSerial).sort());
    const added = JSON.parse((await cli(env, { action: 'add', deviceId: 'dev-1', patientId: 'pat-1', json: true })).out[0]!) as { cert: string };
    expect(new X509Certificate(fs.readFileSync(added.cert)).serialNumber).toBe(second.serial);
  });

  it('leaves an entry in the device\'s audit trail: who re-keyed it, the revoked and the new serial', async () => {
    await cli(env, { action: 'add', deviceId: 'dev-1', patientId: 'pat-1' });
    await cli(env, { action: 'disable', deviceId: 'dev-1' });
    const r = JSON.parse((await cli(env, { action: 'rekey', deviceId: 'dev-1', json: true })).out[0]!) as { serial: string; revokedSerial: string };
    for (const json of [false, true]) {
      const trail = JSON.parse((await cli(env, { action: 'audit', deviceId: 'dev-1', json })).out.join('\n')) as { at: string; actor: string; action: string; before: Record<string, unknown>; after: Record<string, unknown> }[];
      expect(trail.map((e) => [e.actor, e.action])).toEqual([['cli:tester', 'add'], ['cli:tester', 'disable'], ['cli:tester', 'rekey']]);
      const rekey = trail[2]!;
      expect(rekey.before).toMatchObject({ deviceId: 'dev-1', enabled: false, patientId: 'pat-1', certificateSerial: r.revokedSerial });
      expect(rekey.after).toMatchObject({ deviceId: 'dev-1', enabled: false, patientId: 'pat-1', certificateSerial: r.serial });
      expect(Date.now() - Date.parse(rekey.at)).toBeLessThan(60_000);
    }
  });

  it('a refused rekey leaves no audit entry', async () => {
    await cli(env, { action: 'add', deviceId: 'dev-1', patientId: 'pat-1' });
    await expect(cli({ ...env, PULSEBRIDGE_DEVICE_CA: '/etc/hospital/device-ca.crt' }, { action: 'rekey', deviceId: 'dev-1' })).rejects.toThrow(/development CA/);
    const trail = JSON.parse((await cli(env, { action: 'audit', deviceId: 'dev-1' })).out.join('\n')) as { action: string }[];
    expect(trail.map((e) => e.action)).toEqual(['add']);
  });

  it('refuses an unregistered device, and a hospital device CA (PULSEBRIDGE_DEVICE_CA) whose certificates are not ours to issue', async () => {
    await expect(cli(env, { action: 'rekey', deviceId: 'nobody' })).rejects.toThrow(/device "nobody" is not registered/);
    await cli(env, { action: 'add', deviceId: 'dev-1', patientId: 'pat-1' });
    await expect(cli({ ...env, PULSEBRIDGE_DEVICE_CA: '/etc/hospital/device-ca.crt' }, { action: 'rekey', deviceId: 'dev-1' }))
      .rejects.toThrow(/development CA.*PULSEBRIDGE_DEVICE_CA.*revoke the old one in its CRL \(PULSEBRIDGE_DEVICE_CRL\)/);
    await expect(cli(env, { action: 'rekey' })).rejects.toThrow(/device rekey needs a device id/);
  });
});
