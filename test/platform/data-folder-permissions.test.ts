/**
 * The embedded databases hold PHI (patient ids and heart-rate series, device ↔ patient
 * assignments and their audit trail, raw device payloads): owner-only on disk whatever the umask
 * (security review, finding 4). Every database file, its -wal and its -shm is 0600; a data folder
 * the product creates is 0700; an existing group/world-readable file is tightened at open; an
 * existing data folder open to others is left as the operator made it, with one warning.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DeadLetterArchive, deadLetterArchivePath } from '../../platform/dead-letters/archive-sqlite.ts';
import { createLogger } from '../../platform/log.ts';
import { RegistryDb } from '../../platform/registry/db.ts';
import { assertWritableFolder, openSqliteFile } from '../../platform/sqlite-file.ts';
import { SqliteVitalsStore } from '../../platform/store/index.ts';
import { makeTempDir } from '../helpers/gateway-fixture.ts';

const mode = (file: string) => (fs.statSync(file).mode & 0o777).toString(8);
const modes = (file: string) => ({ db: mode(file), wal: mode(`${file}-wal`), shm: mode(`${file}-shm`) });
const OWNER_ONLY = { db: '600', wal: '600', shm: '600' };

/** Each store: opened on `file`, one row written (so the -wal and -shm exist), left open. */
const STORES: [string, (file: string) => Promise<{ close(): unknown }>][] = [
  ['vitals store (vitals.sqlite)', async (file) => {
    const s = new SqliteVitalsStore(file);
    await s.write({ heartRate: [{ patientId: 'pat-1', deviceId: 'dev-1', timeMs: 1_000, hrBpm: 72 }], rr: [] });
    return s;
  }],
  ['device registry (registry.sqlite)', async (file) => {
    const db = new RegistryDb(file);
    db.transaction(() => db.audit('test', 'device.add', 'dev-1', null, { enabled: true }));
    return db;
  }],
  ['dead-letter archive (dead-letters.sqlite)', async (file) => {
    const a = new DeadLetterArchive(file);
    a.append({ schema: 'pb.deadletter.v1', deviceId: 'dev-1', topic: 'pb/v1/dev/dev-1/telemetry', reason: 'invalid_json', detail: 'x', payloadBase64: 'e25vdA==', receivedAt: 1_000, source: 'gateway' });
    return a;
  }],
];

let umask: number;
beforeEach(() => { umask = process.umask(0o022); });
afterEach(() => { process.umask(umask); });

describe('database files are owner-only (umask 022)', () => {
  for (const [name, open] of STORES) {
    it(`${name}: created 0600 with its -wal and -shm, in a data folder created 0700`, async () => {
      const dataDir = path.join(makeTempDir('pb-perm-'), 'data');
      const file = path.join(dataDir, path.basename(name.match(/\((.+)\)/)![1]!));
      const store = await open(file);
      try {
        expect(modes(file)).toEqual(OWNER_ONLY);
        expect(mode(dataDir)).toBe('700');
      } finally {
        await store.close();
      }
    });

    it(`${name}: an existing 0644 file, -wal and -shm are tightened to 0600`, async () => {
      const file = path.join(makeTempDir('pb-perm-old-'), 'old.sqlite');
      // As an earlier version left them: written and still open elsewhere, so -wal and -shm stay.
      const earlier = await open(file);
      for (const f of [file, `${file}-wal`, `${file}-shm`]) fs.chmodSync(f, 0o644);
      expect(modes(file)).toEqual({ db: '644', wal: '644', shm: '644' });
      const again = await open(file);
      try {
        expect(modes(file)).toEqual(OWNER_ONLY);
      } finally {
        await again.close();
        await earlier.close();
      }
    });
  }

  it('the dead-letter archive at its place in a data folder that does not exist yet', () => {
    const dataDir = path.join(makeTempDir('pb-perm-dl-'), 'data');
    const a = new DeadLetterArchive(deadLetterArchivePath(dataDir));
    a.close();
    expect(mode(dataDir)).toBe('700');
    expect(mode(deadLetterArchivePath(dataDir))).toBe('600');
  });

  it(':memory: databases are not touched (no file appears)', () => {
    const cwd = process.cwd();
    const dir = makeTempDir('pb-perm-mem-');
    process.chdir(dir);
    try {
      openSqliteFile(':memory:', 'a test database').close();
      new RegistryDb(':memory:').close();
      expect(fs.readdirSync(dir)).toEqual([]);
    } finally {
      process.chdir(cwd);
    }
  });
});

describe('the data folder (assertWritableFolder)', () => {
  const capture = () => {
    const lines: string[] = [];
    return { lines, logger: createLogger('info', {}, (l) => lines.push(l)) };
  };

  it('is created 0700 (with missing parents) and no warning', () => {
    const dataDir = path.join(makeTempDir('pb-perm-dir-'), 'a', 'data');
    const { lines, logger } = capture();
    assertWritableFolder(dataDir, logger);
    expect(mode(dataDir)).toBe('700');
    expect(mode(path.dirname(dataDir))).toBe('700');
    expect(lines).toEqual([]);
  });

  it('an existing folder open to others: one warning naming it, its mode left as the operator chose', () => {
    const dataDir = makeTempDir('pb-perm-open-');
    fs.chmodSync(dataDir, 0o755);
    const { lines, logger } = capture();
    assertWritableFolder(dataDir, logger);
    expect(mode(dataDir)).toBe('755');
    expect(lines).toHaveLength(1);
    const line = JSON.parse(lines[0]!) as Record<string, unknown>;
    expect(line).toMatchObject({ level: 'warn', dataDir, mode: '755' });
    expect(String(line.msg)).toContain(`chmod 700 ${dataDir}`);
  });

  it('an existing owner-only folder: no warning', () => {
    const dataDir = makeTempDir('pb-perm-closed-');
    fs.chmodSync(dataDir, 0o700);
    const { lines, logger } = capture();
    assertWritableFolder(dataDir, logger);
    expect(lines).toEqual([]);
  });
});
