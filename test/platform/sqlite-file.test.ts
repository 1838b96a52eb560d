/**
 * Storage faults of the embedded databases (platform/sqlite-file.ts): a full disk or an unwritable
 * folder gives a clear error naming the file and the cause, and leaves no half-written state.
 * The real-disk versions (a full tmpfs, a read-only mount) are in the fault suite:
 * test/faults/embedded-disk.fault.test.ts.
 */
import fs from 'node:fs';
import path from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { describe, expect, it } from 'vitest';
import { PulsebridgeError } from '../../platform/errors.ts';
import { RegistryDb } from '../../platform/registry/db.ts';
import { inTransaction, openSqliteFile } from '../../platform/sqlite-file.ts';
import { SqliteVitalsStore } from '../../platform/store/index.ts';
import { makeTempDir } from '../helpers/gateway-fixture.ts';

describe('inTransaction on a full database', () => {
  it('reports "the disk is full" (not SQLite\'s failed rollback), keeps nothing of the batch, and works once there is room', () => {
    const file = path.join(makeTempDir('pb-sqlite-full-'), 'full.sqlite');
    const db = new DatabaseSync(file);
    db.exec('PRAGMA journal_mode = WAL; CREATE TABLE t (x BLOB)');
    // max_page_count makes SQLite answer SQLITE_FULL exactly as a full disk does.
    db.exec('PRAGMA max_page_count = 6');
    const insertMany = () => inTransaction(db, 'BEGIN', () => {
      for (let i = 0; i < 50; i++) db.prepare('INSERT INTO t VALUES (?)').run(Buffer.alloc(3000, i));
    }, 'the test database', file);
    let error: unknown;
    try { insertMany(); } catch (err) { error = err; }
    expect(error).toBeInstanceOf(PulsebridgeError);
    expect((error as PulsebridgeError).code).toBe('PB_STORAGE_UNAVAILABLE');
    expect((error as Error).message).toBe(`the test database ${file} cannot be written: the disk is full`);
    expect(db.isTransaction).toBe(false);
    expect(db.prepare('SELECT count(*) AS n FROM t').get()).toEqual({ n: 0 });
    db.exec('PRAGMA max_page_count = 100000');
    insertMany();
    expect(db.prepare('SELECT count(*) AS n FROM t').get()).toEqual({ n: 50 });
    expect(db.prepare('PRAGMA integrity_check').get()).toEqual({ integrity_check: 'ok' });
    db.close();
  });

  it('passes other errors through unchanged after rolling back', () => {
    const db = new DatabaseSync(':memory:');
    db.exec('CREATE TABLE t (x INTEGER PRIMARY KEY)');
    const boom = new Error('boom');
    expect(() => inTransaction(db, 'BEGIN', () => { db.exec('INSERT INTO t VALUES (1)'); throw boom; }, 'db', ':memory:')).toThrow(boom);
    expect(db.prepare('SELECT count(*) AS n FROM t').get()).toEqual({ n: 0 });
  });
});

describe('opening a database where it cannot be written', () => {
  const blocked = () => {
    const dir = makeTempDir('pb-sqlite-blocked-');
    // A file where the data folder should be: every database under it fails to open.
    fs.writeFileSync(path.join(dir, 'not-a-folder'), '');
    return path.join(dir, 'not-a-folder', 'x.sqlite');
  };

  it('names the file and the cause', () => {
    const file = blocked();
    expect(() => openSqliteFile(file, 'the vitals database')).toThrow(new PulsebridgeError('PB_STORAGE_UNAVAILABLE', `the vitals database ${file} cannot be written: a part of the path is not a folder`));
  });

  it('the vitals store and the registry say which file they could not open', () => {
    const file = blocked();
    expect(() => new SqliteVitalsStore(file)).toThrow(`the vitals database ${file} cannot be written`);
    expect(() => new RegistryDb(file)).toThrow(`the device registry database ${file} cannot be written`);
  });
});
