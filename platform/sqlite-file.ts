/**
 * The embedded databases (node:sqlite files in the data folder) under storage faults: a
 * read-only or full disk must give a clear error naming the file and the cause, and leave no
 * half-written state.
 *
 * Why a helper: when a statement fails with SQLITE_FULL (or an I/O error) inside an explicit
 * transaction, SQLite may already have rolled the transaction back (sqlite.org/lang_transaction.html,
 * "Response To Errors Within A Transaction"); an unconditional `ROLLBACK` then throws "cannot
 * rollback - no transaction is active" and that error replaced the real one (found by the fault
 * suite: test/faults/embedded-disk.fault.test.ts). Here the rollback runs only while a transaction
 * is open, and the original error is the one reported.
 */
import fs from 'node:fs';
import { dirname } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { PulsebridgeError } from './errors.ts';

/** SQLite primary result codes that mean "the storage is the problem" (sqlite.org/rescode.html). */
const STORAGE_CAUSES: Record<number, string> = {
  8: 'the file or its folder is read-only',
  10: 'a disk I/O error occurred',
  13: 'the disk is full',
  14: 'the file cannot be opened (missing folder, read-only folder or no permission)',
};

/** Node file-system error codes with the same meaning. */
const FS_CAUSES: Record<string, string> = {
  EROFS: 'the folder is on a read-only file system',
  EACCES: 'no permission to write there',
  EPERM: 'no permission to write there',
  ENOSPC: 'the disk is full',
  EDQUOT: 'the disk quota is exhausted',
  ENOTDIR: 'a part of the path is not a folder',
  ENOENT: 'the folder cannot be created (its parent is missing or read-only)',
  // mkdir -p answers EEXIST when a part of the path is a file.
  EEXIST: 'a part of the path is not a folder',
};

/** The storage cause of a node:sqlite or file-system error, or undefined for any other error. */
export function storageCause(err: unknown): string | undefined {
  const e = err as { errcode?: number; code?: string } | undefined;
  if (typeof e?.errcode === 'number') return STORAGE_CAUSES[e.errcode & 0xff];
  return typeof e?.code === 'string' ? FS_CAUSES[e.code] : undefined;
}

/** A storage error as a PulsebridgeError naming `what` and `path`; other errors unchanged. */
export function storageError(err: unknown, what: string, path: string): unknown {
  const cause = storageCause(err);
  if (cause === undefined || err instanceof PulsebridgeError) return err;
  return new PulsebridgeError('PB_STORAGE_UNAVAILABLE', `${what} ${path} cannot be written: ${cause}`, { cause: err });
}

/** Opens (creating) a database file; a storage failure becomes a clear error naming the file. */
export function openSqliteFile(path: string, what: string): DatabaseSync {
  try {
    if (path !== ':memory:') fs.mkdirSync(dirname(path), { recursive: true });
    return new DatabaseSync(path);
  } catch (err) {
    throw storageError(err, what, path);
  }
}

/**
 * Runs `fn` in one transaction (`BEGIN` or `BEGIN IMMEDIATE`). On failure the transaction is
 * rolled back if SQLite has not already done so, and the original error is thrown (as a
 * PB_STORAGE_UNAVAILABLE error when the storage is the cause).
 */
export function inTransaction<T>(db: DatabaseSync, begin: 'BEGIN' | 'BEGIN IMMEDIATE', fn: () => T, what: string, path: string): T {
  try {
    db.exec(begin);
  } catch (err) {
    throw storageError(err, what, path);
  }
  try {
    const result = fn();
    db.exec('COMMIT');
    return result;
  } catch (err) {
    if (db.isTransaction) {
      try {
        db.exec('ROLLBACK');
      } catch {
        // The original error says what went wrong; a failed rollback leaves SQLite's own recovery
        // (the journal) to undo the transaction at the next open.
      }
    }
    throw storageError(err, what, path);
  }
}

/**
 * Start-up check of the data folder (created if missing): it must take a file. A read-only or
 * full folder stops the command with one clear sentence instead of an error from deep inside.
 */
export function assertWritableFolder(dir: string, what = 'the data folder'): void {
  const probe = `${dir}/.pb-write-check-${process.pid}`;
  try {
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(probe, 'ok');
  } catch (err) {
    const cause = storageCause(err);
    throw new PulsebridgeError('PB_STORAGE_UNAVAILABLE', `${what} ${dir} cannot be written: ${cause ?? (err as Error).message}; Pulsebridge keeps its databases, keys and audit log there (set PULSEBRIDGE_DATA_DIR or --data-dir to a writable folder)`, { cause: err });
  } finally {
    fs.rmSync(probe, { force: true });
  }
}
