/**
 * Embedded mode's dead-letter archive: a SQLite file in the data folder
 * (`<data dir>/dead-letters.sqlite`). The in-process bus lives and dies with the demo process,
 * so the process copies every dead-letter record here as it is published (dead-letter-archiver),
 * and `pulsebridge deadletter` — another process — reads it. A replay asked for from the command
 * line is a row in `replay_request`; the running process performs it (it owns the bus) and
 * writes the outcome back, as device commands travel through the registry file.
 *
 * The archive id is the row id (the in-process bus restarts its offsets with each run).
 *
 * Bounded: a device sending garbage at its full rate (20 frames/s of up to 16 KiB) would
 * otherwise grow the file by ~1.4 GB an hour. The archive keeps the newest `maxRecords`
 * (default 100,000, at most ~2.2 GB of base64 payloads) and drops older ones as it appends.
 */
import path from 'node:path';
import type { DatabaseSync } from 'node:sqlite';
import { openSqliteFile } from '../sqlite-file.ts';
import type { DeadLetterRecord, DeadLetterSource } from '../../contracts/telemetry.ts';
import type { DeadLetterEntry, DeadLetterFilter } from './record.ts';

const SCHEMA = `
  CREATE TABLE IF NOT EXISTS dead_letter (
    id INTEGER PRIMARY KEY AUTOINCREMENT, received_at INTEGER NOT NULL, source TEXT NOT NULL,
    device_id TEXT NOT NULL, reason TEXT NOT NULL, record TEXT NOT NULL);
  CREATE INDEX IF NOT EXISTS dead_letter_by_time ON dead_letter (received_at);
  CREATE TABLE IF NOT EXISTS replay_request (
    id INTEGER PRIMARY KEY AUTOINCREMENT, dead_letter_id INTEGER NOT NULL, requested_at INTEGER NOT NULL,
    requested_by TEXT NOT NULL, state TEXT NOT NULL DEFAULT 'pending', finished_at INTEGER, result TEXT);
  CREATE INDEX IF NOT EXISTS replay_pending ON replay_request (state) WHERE state = 'pending';
`;

export function deadLetterArchivePath(dataDir: string): string {
  return path.join(dataDir, 'dead-letters.sqlite');
}

export type ReplayOutcome = { ok: true; stream: string; key: string } | { ok: false; reason: string };

export interface ReplayRequest {
  id: number;
  deadLetterId: string;
  requestedBy: string;
  state: 'pending' | 'done';
  result?: ReplayOutcome;
}

type Row = Record<string, unknown>;

export interface DeadLetterArchiveOptions {
  /** Newest records kept. Default 100 000. */
  maxRecords?: number;
}

export class DeadLetterArchive {
  readonly #db: DatabaseSync;
  readonly #maxRecords: number;
  #appendsSincePrune = 0;

  constructor(file: string, options: DeadLetterArchiveOptions = {}) {
    this.#maxRecords = options.maxRecords ?? 100_000;
    // The records hold raw device payloads (PHI): the file and its -wal/-shm owner-only, in a
    // 0700 folder when it creates it (openSqliteFile), like the audit trail.
    this.#db = openSqliteFile(file, 'the dead-letter archive');
    // WAL + busy timeout: the demo writes while the CLI reads (as the registry file does).
    this.#db.exec('PRAGMA journal_mode = WAL; PRAGMA busy_timeout = 5000;');
    this.#db.exec(SCHEMA);
  }

  append(record: DeadLetterRecord & { source: DeadLetterSource }): string {
    const r = this.#db.prepare('INSERT INTO dead_letter (received_at, source, device_id, reason, record) VALUES (?, ?, ?, ?, ?)')
      .run(record.receivedAt, record.source, record.deviceId, record.reason, JSON.stringify(record));
    const id = Number(r.lastInsertRowid);
    // Prune in steps (every 1% of the bound), not per insert.
    if (++this.#appendsSincePrune >= Math.max(1, Math.floor(this.#maxRecords / 100))) {
      this.#appendsSincePrune = 0;
      this.#db.prepare('DELETE FROM dead_letter WHERE id <= ?').run(id - this.#maxRecords);
    }
    return String(id);
  }

  /** Oldest first; `limit` keeps the newest ones. */
  list(filter: DeadLetterFilter = {}, limit = 100): DeadLetterEntry[] {
    const where: string[] = [];
    const args: (string | number)[] = [];
    if (filter.source) { where.push('source = ?'); args.push(filter.source); }
    if (filter.reason) { where.push('reason = ?'); args.push(filter.reason); }
    if (filter.deviceId) { where.push('device_id = ?'); args.push(filter.deviceId); }
    if (filter.sinceMs !== undefined) { where.push('received_at >= ?'); args.push(filter.sinceMs); }
    const rows = this.#db.prepare(`SELECT id, record FROM dead_letter ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id DESC LIMIT ?`)
      .all(...args, limit) as Row[];
    return rows.reverse().map(toEntry);
  }

  get(id: string): DeadLetterEntry | undefined {
    if (!/^\d+$/.test(id)) return undefined;
    const row = this.#db.prepare('SELECT id, record FROM dead_letter WHERE id = ?').get(Number(id)) as Row | undefined;
    return row ? toEntry(row) : undefined;
  }

  requestReplay(deadLetterId: string, requestedBy: string, now = Date.now()): number {
    const r = this.#db.prepare('INSERT INTO replay_request (dead_letter_id, requested_at, requested_by) VALUES (?, ?, ?)').run(Number(deadLetterId), now, requestedBy);
    return Number(r.lastInsertRowid);
  }

  pendingReplays(): ReplayRequest[] {
    return (this.#db.prepare("SELECT * FROM replay_request WHERE state = 'pending' ORDER BY id").all() as Row[]).map(toRequest);
  }

  finishReplay(requestId: number, result: ReplayOutcome, now = Date.now()): void {
    this.#db.prepare("UPDATE replay_request SET state = 'done', finished_at = ?, result = ? WHERE id = ? AND state = 'pending'").run(now, JSON.stringify(result), requestId);
  }

  replay(requestId: number): ReplayRequest | undefined {
    const row = this.#db.prepare('SELECT * FROM replay_request WHERE id = ?').get(requestId) as Row | undefined;
    return row ? toRequest(row) : undefined;
  }

  close(): void {
    this.#db.close();
  }
}

function toEntry(row: Row): DeadLetterEntry {
  return { id: String(row.id), record: JSON.parse(String(row.record)) as DeadLetterEntry['record'] };
}

function toRequest(row: Row): ReplayRequest {
  return {
    id: Number(row.id), deadLetterId: String(row.dead_letter_id), requestedBy: String(row.requested_by), state: row.state === 'done' ? 'done' : 'pending',
    ...(row.result ? { result: JSON.parse(String(row.result)) as ReplayOutcome } : {}),
  };
}
