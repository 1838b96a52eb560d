/**
 * `--help` after a command prints the usage and starts nothing: an operator asking
 * `pulsebridge gateway --help` must not get a running gateway (before, every command accepted the
 * flag and ignored it, so `demo --help` started the demo and `sim --help` a simulator).
 */
import { execFile } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { makeTempDir } from '../helpers/gateway-fixture.ts';

const run = promisify(execFile);
const BIN = resolve(dirname(fileURLToPath(import.meta.url)), '../../bin/pulsebridge');

describe('pulsebridge <command> --help', () => {
  const cases = [['demo', '--help'], ['gateway', '-h'], ['processor', '--help'], ['sim', '--devices', '3', '--help'], ['sim', 'replay', '--help'],
    ['device', 'list', '--help'], ['deadletter', 'list', '-h']];
  it.each(cases)('%s … prints the usage and exits 0 without starting anything', async (...args) => {
    // A command that ignored the flag would run until the timeout kills it (demo, gateway, sim) or fail.
    const dataDir = join(makeTempDir('pb-help-'), 'data');
    const { stdout } = await run(BIN, args, { timeout: 20_000, env: { ...process.env, PULSEBRIDGE_DATA_DIR: dataDir } });
    expect(stdout).toMatch(/^Usage: pulsebridge <command>/);
  });

  it('a --help after -- is an argument, not a request for help', async () => {
    const dataDir = join(makeTempDir('pb-help-'), 'data');
    const { stdout } = await run(BIN, ['token', '--sub', 'a', '--role', 'admin', '--data-dir', dataDir, '--', '--help'], { timeout: 20_000 });
    expect(stdout.trim().split('.')).toHaveLength(3);
  });
});
