/**
 * The PHI audit trail's writer, shared by every component that discloses patient data: the
 * dashboard API (reads and changes by clinicians, dashboard-api/audit.ts), the `deadletter` CLI and
 * the EHR exporter (what it sent to the EHR, ehr-exporter/audit.ts). One file,
 * `<data dir>/audit/phi-access.jsonl`, one JSON object per line, so one trail covers them all
 * (HIPAA Security Rule 45 CFR §164.312(b) "audit controls"). Each component keeps its own entry
 * type; every entry has at least {@link AuditLine}'s fields.
 */
import { promises as fs } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { PulsebridgeError } from './errors.ts';
import { redactSecrets } from './log.ts';

/** The fields every audit entry has, whichever component wrote it. */
export interface AuditLine {
  /** Wall-clock time, ISO 8601. */
  at: string;
  /** Who: a user (subject and role) or a service (its name or client id, and role). */
  actor: { sub: string; role: string };
  action: string;
  outcome: string;
}

/** Where audit entries go. Resolves once the entry is stored; rejects if it could not be. */
export interface AuditSink<E extends AuditLine = AuditLine> {
  record(entry: E): Promise<void>;
}

export interface JsonlAuditSinkOptions {
  /** Data folder: entries go to `<dataDir>/audit/phi-access.jsonl`. */
  dataDir?: string;
  /** Explicit file path (overrides dataDir). */
  path?: string;
  /** Opens the file for appending (tests substitute a disk that fills up halfway through a line). */
  open?: (file: string, flags: string, mode: number) => Promise<FileHandle>;
}

/** Path of the default audit file inside a data folder. */
export function auditLogPath(dataDir: string): string {
  return path.join(dataDir, 'audit', 'phi-access.jsonl');
}

/** The append queue of one file, shared by every sink of this process that writes it. */
interface FileQueue {
  tail: Promise<void>;
  /** A failed append may have left a partial line at the end of the file. */
  mayEndMidLine: boolean;
}

/**
 * One queue per file path: `demo` runs the dashboard API and the EHR exporter in one process, each
 * with its own sink on the same file. A failed append cuts the file back to where its line began,
 * which is only safe while no other append of this process runs meanwhile.
 */
const queues = new Map<string, FileQueue>();

/**
 * Appends one JSON object per line. Appends to one file are serialized (across every sink of the
 * process on that file) so lines never interleave and keep call order; the file is opened per
 * append so external log rotation (rename) is safe.
 * A failed append (a full disk) must not leave half a line: the next record would be glued onto
 * it and neither could be parsed. So the file is cut back to its length before the write, and
 * should even that fail, the next record first makes sure it starts on a line of its own.
 */
export class JsonlAuditSink<E extends AuditLine = AuditLine> implements AuditSink<E> {
  readonly path: string;
  readonly #open: (file: string, flags: string, mode: number) => Promise<FileHandle>;
  readonly #queue: FileQueue;
  #dirReady: Promise<void> | undefined;

  constructor(options: JsonlAuditSinkOptions) {
    const file = options.path ?? (options.dataDir !== undefined ? auditLogPath(options.dataDir) : undefined);
    if (!file) throw new PulsebridgeError('PB_CONFIG_INVALID', 'JsonlAuditSink needs dataDir or path');
    this.path = file;
    this.#open = options.open ?? ((f, flags, mode) => fs.open(f, flags, mode));
    const key = path.resolve(file);
    const queue = queues.get(key) ?? { tail: Promise.resolve(), mayEndMidLine: false };
    queues.set(key, queue);
    this.#queue = queue;
  }

  record(entry: E): Promise<void> {
    // A detail copied from a request (a query string) may carry a token: never into the trail.
    const line = redactSecrets(JSON.stringify(entry)) + '\n';
    const write = this.#queue.tail.then(async () => {
      this.#dirReady ??= fs.mkdir(path.dirname(this.path), { recursive: true, mode: 0o700 }).then(() => undefined);
      try {
        await this.#dirReady;
        await this.#append(line);
      } catch (err) {
        this.#dirReady = undefined;
        throw new PulsebridgeError('PB_AUDIT_FAILED', `cannot append to ${this.path}`, { cause: err });
      }
    });
    // The chain continues after a failed write; the failure is reported to that write's caller.
    this.#queue.tail = write.catch(() => {});
    return write;
  }

  async #append(line: string): Promise<void> {
    // 0600: the audit trail itself names patients. 'a+': appends, and can read the last byte back.
    const file = await this.#open(this.path, 'a+', 0o600);
    try {
      // Appends of this process are serialized, so the length now is where this line will start.
      const before = (await file.stat()).size;
      const text = this.#queue.mayEndMidLine && !(await endsWithNewline(file, before)) ? '\n' + line : line;
      try {
        await file.appendFile(text);
      } catch (err) {
        await file.truncate(before).catch(() => { this.#queue.mayEndMidLine = true; });
        throw err;
      }
      this.#queue.mayEndMidLine = false;
    } finally {
      await file.close().catch(() => {});
    }
  }
}

/** Whether a file of `size` bytes is empty or ends with a newline. */
async function endsWithNewline(file: FileHandle, size: number): Promise<boolean> {
  if (size === 0) return true;
  const { buffer } = await file.read(Buffer.alloc(1), 0, 1, size - 1);
  return buffer[0] === 0x0a;
}
