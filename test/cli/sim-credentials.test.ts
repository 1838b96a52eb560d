/**
 * `pulsebridge sim` / `sim replay` before the setup steps a tester may not have taken: the error
 * names the step (start the demo / register the device), not a raw ENOENT of a PKI file.
 */
import { execFile } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { ensureDevPki } from '../../platform/security/index.ts';
import { makeTempDir } from '../helpers/gateway-fixture.ts';

const run = promisify(execFile);
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const BIN = join(ROOT, 'bin/pulsebridge');
const RECORD = resolve(ROOT, '../shared/data/ecg/cinc2017/A00004');

const stderrOf = async (args: string[]): Promise<string> => {
  const failed = await run(BIN, args, { timeout: 20_000 }).then(() => undefined, (err: { stderr?: string }) => err);
  expect(failed).toBeDefined();
  return failed!.stderr ?? '';
};

describe('sim replay without the setup it needs', () => {
  it('with no data folder: says there is no Pulsebridge data folder there', async () => {
    const dataDir = join(makeTempDir('pb-simcred-'), 'none');
    const err = await stderrOf(['sim', 'replay', '--record', RECORD, '--device', 'dev-x', '--data-dir', dataDir]);
    expect(err).toContain(`no Pulsebridge data folder at ${dataDir}`);
    expect(err).not.toContain('ENOENT');
  });

  it('with a device that was never registered: says to register it', async () => {
    const dataDir = makeTempDir('pb-simcred-');
    ensureDevPki(dataDir);
    const err = await stderrOf(['sim', 'replay', '--record', RECORD, '--device', 'dev-unknown', '--data-dir', dataDir]);
    expect(err).toMatch(/the certificate of device dev-unknown/i);
    expect(err).toContain('pulsebridge device add dev-unknown --patient');
    expect(err).not.toContain('ENOENT');
  });
});

describe('sim replay flags', () => {
  it('--live only at speed 1, --lead only a signal number: each refused with the reason', async () => {
    const dataDir = makeTempDir('pb-simflags-');
    expect(await stderrOf(['sim', 'replay', '--record', RECORD, '--device', 'dev-x', '--live', '--speed', '5', '--data-dir', dataDir]))
      .toContain('--live replays at --speed 1 only');
    expect(await stderrOf(['sim', 'replay', '--record', RECORD, '--device', 'dev-x', '--lead', 'V', '--data-dir', dataDir]))
      .toContain('--lead must be a signal number');
  });
});
