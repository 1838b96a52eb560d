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
import type { Logger } from './log.ts';

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

/**
 * Owner-only on disk: the databases hold PHI (patient ids and heart-rate series, device ↔ patient
 * assignments, raw device payloads), as the keys and the audit log do. The data folder is 0700.
 */
const OWNER_ONLY_FILE = 0o600;
const OWNER_ONLY_FOLDER = 0o700;
/** The files SQLite keeps beside a database (WAL mode: -wal and -shm; rollback journal while opening). */
const SQLITE_SIDE_FILES = ['', '-wal', '-shm', '-journal'];
/** chmod failures that leave the file as it was and the open to SQLite: not its owner, read-only file system, gone. */
const CHMOD_NOT_POSSIBLE = new Set(['EPERM', 'EROFS', 'ENOENT']);

/**
 * Makes a database file owner-only before SQLite opens it: creates its folder (0700) and the file
 * (0600) when missing, and tightens an existing file, -wal, -shm and -journal to 0600. SQLite creates
 * -wal, -shm and -journal with the database file's mode (checked with Node 24's SQLite 3.53 under
 * umask 022: a 0600 database gets 0600 ones; an existing 0644 -wal keeps 0644, hence the chmod).
 * The umask only removes bits, so it cannot widen 0600/0700. A file this process may not chmod
 * (another owner, read-only file system) is left as it is and SQLite opens it as before.
 * `:memory:` is not a file: nothing is done.
 */
export function prepareSqliteFile(path: string): void {
  if (path === ':memory:' || path === '') return;
  fs.mkdirSync(dirname(path), { recursive: true, mode: OWNER_ONLY_FOLDER });
  try {
    fs.closeSync(fs.openSync(path, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL, OWNER_ONLY_FILE));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  for (const suffix of SQLITE_SIDE_FILES) {
    const file = path + suffix;
    try {
      if ((fs.statSync(file).mode & 0o077) !== 0) fs.chmodSync(file, OWNER_ONLY_FILE);
    } catch (err) {
      if (!CHMOD_NOT_POSSIBLE.has((err as NodeJS.ErrnoException).code ?? '')) throw err;
    }
  }
}

/**
 * Opens (creating) a database file, owner-only (prepareSqliteFile); a storage failure becomes a
 * clear error naming the file.
 */
export function openSqliteFile(path: string, what: string): DatabaseSync {
  try {
    prepareSqliteFile(path);
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
 * Start-up check of the data folder (created 0700 if missing, with any missing parent): it must
 * take a file. A read-only or full folder stops the command with one clear sentence instead of an
 * error from deep inside. An existing folder that others may enter or list gets one warning and
 * keeps its mode: the operator chose it (perhaps shared with a backup agent's group on purpose),
 * and the databases, keys and audit log inside are owner-only whatever the folder's mode.
 */
export function assertWritableFolder(dir: string, logger?: Pick<Logger, 'warn'>, what = 'the data folder'): void {
  const probe = `${dir}/.pb-write-check-${process.pid}`;
  try {
    const created = fs.mkdirSync(dir, { recursive: true, mode: OWNER_ONLY_FOLDER }) !== undefined;
    if (!created && logger) warnIfFolderOpenToOthers(dir, logger, what);
    fs.writeFileSync(probe, 'ok');
  } catch (err) {
    const cause = storageCause(err);
    throw new PulsebridgeError('PB_STORAGE_UNAVAILABLE', `${what} ${dir} cannot be written: ${cause ?? (err as Error).message}; Pulsebridge keeps its databases, keys and audit log there (set PULSEBRIDGE_DATA_DIR or --data-dir to a writable folder)`, { cause: err });
  } finally {
    fs.rmSync(probe, { force: true });
  }
}

/**
 * The warning of {@link assertWritableFolder} alone, for a command that may use the data folder
 * without starting a component (the CLI): one warning when the folder exists and others may enter
 * or list it; nothing when it does not exist (it will be created 0700) or cannot be looked at.
 */
export function warnIfFolderOpenToOthers(dir: string, logger: Pick<Logger, 'warn'>, what = 'the data folder'): void {
  let mode: number;
  try {
    mode = fs.statSync(dir).mode & 0o777;
  } catch {
    return;
  }
  if ((mode & 0o077) !== 0) {
    logger.warn(`${what} ${dir} is open to other users (mode ${mode.toString(8)}); it holds patient data: chmod 700 ${dir}`, { dataDir: dir, mode: mode.toString(8) });
  }
}
