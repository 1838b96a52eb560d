/**
 * The PHI access audit trail: who read or changed which patient's data, when, and with what
 * outcome (HIPAA Security Rule 45 CFR §164.312(b) "audit controls" asks for exactly this kind of
 * record). The API writes an entry before it discloses or changes anything; when the entry cannot
 * be written the request fails instead of leaving an unaudited access.
 */
import { JsonlAuditSink as JsonlFileSink, type AuditSink as PlatformAuditSink } from '../platform/audit.ts';
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

/** Where the API's audit entries go (platform/audit.ts writes them). */
export type AuditSink = PlatformAuditSink<AuditEntry>;

// The writer lives in platform/ since the EHR exporter writes the same trail (ehr-exporter/audit.ts).
export { auditLogPath, type JsonlAuditSinkOptions } from '../platform/audit.ts';

/** The API's entries, one JSON line each, in `<dataDir>/audit/phi-access.jsonl` (platform/audit.ts). */
export class JsonlAuditSink extends JsonlFileSink<AuditEntry> {}
