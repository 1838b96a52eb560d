/**
 * Start-up mistakes a tester or operator makes, through the real CLI: the command says what is
 * wrong in one sentence and exits non-zero at once, leaving nothing behind.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { ensureDevPki } from '../../platform/security/index.ts';
import { makeTempDir } from '../helpers/gateway-fixture.ts';

const run = promisify(execFile);
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const BIN = join(ROOT, 'bin/pulsebridge');

/** Runs the CLI; resolves with its exit code (null when it had to be killed after `timeoutMs`) and stderr. */
const exitOf = (args: string[], timeoutMs = 15_000) =>
  run(BIN, args, { timeout: timeoutMs }).then(
    (r) => ({ code: 0 as number | null, stderr: r.stderr }),
    (err: { code?: number | string; killed?: boolean; stderr?: string }) => ({ code: !err.killed && typeof err.code === 'number' ? err.code : null, stderr: err.stderr ?? '' }),
  );

describe('start-up errors', () => {
  it('a standalone gateway without certificates says where they come from (found by an operator following the README)', async () => {
    const dataDir = makeTempDir('pb-start-');
    const { code, stderr } = await exitOf(['gateway', '--data-dir', dataDir, '--mqtt-port', '0']);
    expect(code).toBe(1);
    expect(stderr).toMatch(/cannot read the gateway TLS certificate at .*gateway\.crt: point PULSEBRIDGE_TLS_CERT, PULSEBRIDGE_TLS_KEY and PULSEBRIDGE_DEVICE_CA at your certificates, or create the development PKI in the data folder with `pulsebridge device add <device id> --patient <patient id>`/i);
  });

  it('demo exits 1 when its MQTT port is taken (it used to hang, its gateway pollers still running)', async () => {
    const taken = net.createServer();
    await new Promise<void>((r) => taken.listen(0, '127.0.0.1', () => r()));
    const port = (taken.address() as net.AddressInfo).port;
    try {
      const dataDir = makeTempDir('pb-start-');
      const { code, stderr } = await exitOf(['demo', '--devices', '0', '--data-dir', dataDir, '--mqtt-port', String(port), '--http-port', '0']);
      expect(code).toBe(1);
      expect(stderr).toContain(`address already in use 127.0.0.1:${port}`);
    } finally {
      taken.close();
    }
  });

  it('demo with a scenario that does not exist fails the start and names the built-in ones (it used to run on without devices)', async () => {
    const dataDir = makeTempDir('pb-start-');
    const { code, stderr } = await exitOf(['demo', '--devices', '1', '--scenario', 'nosuch', '--data-dir', dataDir, '--mqtt-port', '0', '--http-port', '0']);
    expect(code).toBe(1);
    expect(stderr).toContain('Scenario nosuch is neither a built-in scenario (clinical-basics, all-alarms, normal) nor a readable scenario file.');
  });

  it('sim with a --data-dir that holds no Pulsebridge says so, and creates nothing there', async () => {
    const dataDir = join(makeTempDir('pb-start-'), 'wrong');
    const { code, stderr } = await exitOf(['sim', '--devices', '1', '--duration', '3s', '--data-dir', dataDir, '--mqtt-port', '1']);
    expect(code).not.toBe(0);
    expect(stderr).toContain(`no Pulsebridge data folder at ${dataDir}`);
    expect(fs.existsSync(join(dataDir, 'pki'))).toBe(false);
  });

  it('sim --report checks the dashboard API before the run, not after it', async () => {
    const dataDir = makeTempDir('pb-start-');
    ensureDevPki(dataDir);
    // 10 minutes of devices that would never connect (port 1): the report's API is asked first.
    const { code, stderr } = await exitOf(['sim', '--devices', '1', '--duration', '10m', '--data-dir', dataDir, '--mqtt-port', '1',
      '--report', '--api', 'http://127.0.0.1:1', '--token', 'any']);
    expect(code).toBe(1);
    expect(stderr).toContain('The dashboard API at http://127.0.0.1:1 could not be reached');
  });
});
