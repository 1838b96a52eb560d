/**
 * The PHI access audit trail: who read or changed which patient's data, when, and with what
 * outcome (HIPAA Security Rule 45 CFR §164.312(b) "audit controls" asks for exactly this kind of
 * record). The API writes an entry before it discloses or changes anything; when the entry cannot
 * be written the request fails instead of leaving an unaudited access.
 */
import { promises as fs } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { PulsebridgeError } from '../platform/errors.ts';
import { redactSecrets } from '../platform/log.ts';
import type { Role } from './dev-issuer.ts';

export type AuditAction =
  | 'patients.list'
  | 'patient.read'
  | 'vitals.read'
  | 'alerts.list'
  | 'ecg.read'
  | 'alert.ack'
  | 'alert.resolve'
  | 'stream.open'
  /** A live ECG watch on the stream (`{"type":"watch","patientId":…}`): PHI, like `ecg.read`. */
  | 'ecg.watch'
  /**
   * A request or stream refused 401 (missing, malformed, expired, forged token): actor
   * {@link ANONYMOUS_ACTOR} — or, for a genuine token that only expired (signature, issuer and
   * audience verified), its subject and role — the route, the remote address and the reason
   * sentence; never the token.
   */
  | 'auth.failed'
  | 'devices.list'
  | 'device.read'
  | 'device.change'
  | 'device.command'
  | 'device.audit'
  | 'criteria.read'
  | 'criteria.change'
  /** The care team had the patient's beat shapes learned afresh (POST /v1/patients/{id}/relearn). */
  | 'criteria.relearn'
  /** `pulsebridge deadletter` (operators): dead letters hold raw device payloads. */
  | 'deadletters.list'
  | 'deadletter.read'
  | 'deadletter.replay';

/** `allowed`: access granted; `denied`: not on the care team; the rest name why nothing happened. */
export type AuditOutcome = 'allowed' | 'denied' | 'not_found' | 'conflict' | 'error';

/** The actor of an entry whose caller could not be authenticated (`auth.failed`). */
export const ANONYMOUS_ACTOR = Object.freeze({ sub: 'anonymous', role: 'anonymous' } as const);

export interface AuditEntry {
  /** Wall-clock time, ISO 8601. */
  at: string;
  /**
   * Who: the token's subject and role, or {@link ANONYMOUS_ACTOR} when authentication failed
   * (the subject of a genuine but expired token for `auth.failed`: dashboard-api/auth.ts ExpiredTokenError).
   */
  actor: { sub: string; role: Role } | typeof ANONYMOUS_ACTOR;
  action: AuditAction;
  /** The patient addressed by the request, when there is one. */
  patientId?: string;
  /** Patients whose data the response disclosed (list reads). */
  patientIds?: string[];
  alertId?: string;
  /** The device addressed by a device route. */
  deviceId?: string;
  outcome: AuditOutcome;
  /**
   * HTTP status of the response (101 for an opened stream; for a stream message, the status the
   * same refusal has over REST, e.g. 403 for a denied watch, 401 for a rejected token). A caller
   * outside the care team on a route addressed by alert id is `denied` with status 404: the
   * answer is the unknown-alert one, so it tells nothing about another patient's alerts.
   */
  status: number;
  /** Route template of a refused request (`auth.failed`), e.g. `/v1/patients/{id}` or `/v1/stream`. */
  route?: string;
  /** Filters or range of the read, e.g. `from=…&to=…`. */
  detail?: string;
  remoteAddress?: string;
}

/** Where audit entries go. Resolves once the entry is stored; rejects if it could not be. */
export interface AuditSink {
  record(entry: AuditEntry): Promise<void>;
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

/**
 * Appends one JSON object per line. Appends are serialized so lines never interleave and keep
 * request order; the file is opened per append so external log rotation (rename) is safe.
 * A failed append (a full disk) must not leave half a line: the next record would be glued onto
 * it and neither could be parsed. So the file is cut back to its length before the write, and
 * should even that fail, the next record first makes sure it starts on a line of its own.
 */
export class JsonlAuditSink implements AuditSink {
  readonly path: string;
  readonly #open: (file: string, flags: string, mode: number) => Promise<FileHandle>;
  #tail: Promise<void> = Promise.resolve();
  #dirReady: Promise<void> | undefined;
  /** A failed append may have left a partial line at the end of the file. */
  #mayEndMidLine = false;

  constructor(options: JsonlAuditSinkOptions) {
    const file = options.path ?? (options.dataDir !== undefined ? auditLogPath(options.dataDir) : undefined);
    if (!file) throw new PulsebridgeError('PB_CONFIG_INVALID', 'JsonlAuditSink needs dataDir or path');
    this.path = file;
    this.#open = options.open ?? ((f, flags, mode) => fs.open(f, flags, mode));
  }

  record(entry: AuditEntry): Promise<void> {
    // A detail copied from a request (a query string) may carry a token: never into the trail.
    const line = redactSecrets(JSON.stringify(entry)) + '\n';
    const write = this.#tail.then(async () => {
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
    this.#tail = write.catch(() => {});
    return write;
  }

  async #append(line: string): Promise<void> {
    // 0600: the audit trail itself names patients. 'a+': appends, and can read the last byte back.
    const file = await this.#open(this.path, 'a+', 0o600);
    try {
      // Only this sink appends (serialized), so the length now is where this line will start.
      const before = (await file.stat()).size;
      const text = this.#mayEndMidLine && !(await endsWithNewline(file, before)) ? '\n' + line : line;
      try {
        await file.appendFile(text);
      } catch (err) {
        await file.truncate(before).catch(() => { this.#mayEndMidLine = true; });
        throw err;
      }
      this.#mayEndMidLine = false;
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
