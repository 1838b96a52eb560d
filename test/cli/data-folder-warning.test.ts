/**
 * The CLI says what the components say at start about an existing data folder open to other users
 * (security review: the components warned about a 0755 data folder, `pulsebridge device …`,
 * `token`, `deadletter` and `sim` did not): the same warning, once per command, through the real
 * CLI; nothing for an owner-only folder.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../platform/log.ts';
import { assertWritableFolder } from '../../platform/sqlite-file.ts';
import { makeTempDir } from '../helpers/gateway-fixture.ts';

const BIN = path.resolve(import.meta.dirname, '../../bin/pulsebridge');

/** The stderr lines of one CLI run that are JSON log lines, as objects. */
async function logLines(args: string[], dataDir: string): Promise<Record<string, unknown>[]> {
  const { stderr } = await promisify(execFile)(BIN, [...args, '--data-dir', dataDir], { env: { ...process.env, PULSEBRIDGE_BUS: 'memory', PULSEBRIDGE_STORE: 'sqlite' } });
  return stderr.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
}

describe('a CLI command that uses the data folder', () => {
  let dataDir: string;
  beforeEach(() => { dataDir = makeTempDir('pb-cli-perm-'); });
  afterEach(() => fs.rmSync(dataDir, { recursive: true, force: true }));

  it('warns once, as the components do, when the folder is open to other users (0755)', async () => {
    fs.chmodSync(dataDir, 0o755);
    // What a component says at start about this folder.
    const componentLines: string[] = [];
    assertWritableFolder(dataDir, createLogger('info', {}, (l) => componentLines.push(l)));
    const componentMsg = (JSON.parse(componentLines[0]!) as { msg: string }).msg;
    expect(componentMsg).toBe(`the data folder ${dataDir} is open to other users (mode 755); it holds patient data: chmod 700 ${dataDir}`);

    for (const args of [['device', 'add', 'dev-1', '--patient', 'pat-1'], ['device', 'list'], ['token', '--sub', 'u1', '--role', 'admin'], ['deadletter', 'list']]) {
      const warnings = (await logLines(args, dataDir)).filter((l) => l.level === 'warn');
      expect(warnings, args.join(' ')).toHaveLength(1);
      expect(warnings[0], args.join(' ')).toMatchObject({ msg: componentMsg, dataDir, mode: '755' });
    }
    // Warned, not changed: the operator chose the mode.
    expect((fs.statSync(dataDir).mode & 0o777).toString(8)).toBe('755');
  });

  it('says nothing about an owner-only folder', async () => {
    fs.chmodSync(dataDir, 0o700);
    expect(await logLines(['device', 'list'], dataDir)).toEqual([]);
  });
});
