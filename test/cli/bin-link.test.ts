/**
 * `bin/pulsebridge` called through the symlinks npx, `npm link` and a global install create
 * (issue 9 item 6): the script must find the project through its real path, not the link's folder.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, symlinkSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { beforeEach, describe, expect, it } from 'vitest';
import { makeTempDir } from '../helpers/gateway-fixture.ts';

const run = promisify(execFile);
const PROJECT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

async function tokenThrough(script: string, dataDir: string): Promise<string> {
  const { stdout } = await run(script, ['token', '--sub', 'link-tester', '--role', 'admin', '--data-dir', dataDir], { timeout: 30_000 });
  return stdout.trim();
}

const jwtParts = (token: string) => token.split('.').length;

describe('bin/pulsebridge through symlinks', () => {
  let tmp: string;
  beforeEach(() => { tmp = makeTempDir('pb-bin-'); });

  it('runs through npx\'s layout: .bin/pulsebridge → ../pulsebridge/bin/pulsebridge, pulsebridge → project (relative links)', async () => {
    const modules = join(tmp, 'node_modules');
    mkdirSync(join(modules, '.bin'), { recursive: true });
    symlinkSync(PROJECT, join(modules, 'pulsebridge'));
    symlinkSync('../pulsebridge/bin/pulsebridge', join(modules, '.bin', 'pulsebridge'));
    const token = await tokenThrough(join(modules, '.bin', 'pulsebridge'), join(tmp, 'data'));
    expect(jwtParts(token)).toBe(3);
  });

  it('runs through a global install / npm link layout (prefix/bin → absolute link into lib/node_modules)', async () => {
    const lib = join(tmp, 'prefix', 'lib', 'node_modules');
    const bin = join(tmp, 'prefix', 'bin');
    mkdirSync(lib, { recursive: true });
    mkdirSync(bin, { recursive: true });
    symlinkSync(PROJECT, join(lib, 'pulsebridge'));
    symlinkSync(join(lib, 'pulsebridge', 'bin', 'pulsebridge'), join(bin, 'pulsebridge'));
    // A link to the link, as a user's ~/bin shortcut would add.
    symlinkSync(join(bin, 'pulsebridge'), join(tmp, 'pb'));
    const token = await tokenThrough(join(tmp, 'pb'), join(tmp, 'data'));
    expect(jwtParts(token)).toBe(3);
  });
});
