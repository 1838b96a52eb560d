/**
 * Per-patient alarm criteria routes of the dashboard API (issue 4 §2):
 *
 *   GET /v1/patients/{id}/criteria   care team or admin: the current version, the one in force
 *                                    now, and the recent history
 *   PUT /v1/patients/{id}/criteria   care team or admin: a new version
 *        body {alarms, effectiveFrom?, reason?, expectedVersion?}   (or If-Match: "<version>")
 *   POST /v1/patients/{id}/relearn   care team or admin: the processor learns the patient's beat
 *        shapes afresh from now on (body {reason?}; bedside monitors' "relearn arrhythmia": for
 *        beats read V after a patch was put back at another angle; contracts/criteria.ts Relearn)
 *
 * Versions are validated against bounded ranges (contracts/criteria.ts), numbered per patient,
 * record who set them and when, and take effect for frames whose device time is at or after
 * `effectiveFrom` (default: now). Every read and change is in the access audit trail; a change's
 * entry holds the old and the new criteria. The source of truth is the compacted criteria
 * stream (STREAMS.criteria), which the processor reads; this module folds it too.
 */
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import {
  alarmCriteriaSchema, criteriaAt, criteriaRecordSchema, latestCriteria, MAX_CRITERIA_VERSIONS, MAX_RELEARNS,
  type CriteriaRecord, type CriteriaVersion, type Relearn,
} from '../contracts/criteria.ts';
import { STREAMS } from '../contracts/topics.ts';
import type { Bus } from '../platform/bus/index.ts';
import { PulsebridgeError } from '../platform/errors.ts';
import type { Logger } from '../platform/log.ts';
import { ChangelogTable } from '../processor/changelog-table.ts';
import { Lock } from '../processor/lock.ts';
import { canAccessPatient } from './auth.ts';
import { badRequest, idSegment, parseTimeParam, sendJson } from './http-util.ts';
import type { PatientDirectory } from './patient-directory.ts';
import { jsonBody, type RouteModule, type RouteRequest } from './route-module.ts';

export interface CriteriaRoutesOptions {
  bus: Bus;
  logger: Logger;
  /** When given, criteria of a patient it does not know are 404. */
  patients?: Pick<PatientDirectory, 'get'>;
  /** Consumer group of this instance's reader of the criteria stream (default: unique per instance). */
  groupId?: string;
  /** Wall clock, ms (tests). */
  now?: () => number;
  /** How long to wait for the criteria stream to be read up to now, ms. Default 5000. */
  catchUpTimeoutMs?: number;
}

/**
 * How far in the past `effectiveFrom` may lie: frames already analysed are not analysed again,
 * so an older time would only pretend to apply. 5 minutes allows for clock differences.
 */
export const MAX_EFFECTIVE_PAST_MS = 5 * 60_000;
/** How far ahead a change may be scheduled: 30 days. */
export const MAX_EFFECTIVE_FUTURE_MS = 30 * 24 * 60 * 60_000;

const putBody = z.strictObject({
  alarms: z.unknown(),
  effectiveFrom: z.union([z.string(), z.number().int()]).optional(),
  reason: z.string().max(500).optional(),
  expectedVersion: z.number().int().min(0).optional(),
});

const relearnBody = z.strictObject({ reason: z.string().max(500).optional() });

export interface CriteriaRoutes extends RouteModule {
  /** Stops reading the criteria stream. */
  close(): Promise<void>;
}

/** Creates the route module; register it with `createDashboardApi({ routeModules: [criteriaRoutes(…)] })`. */
export function criteriaRoutes(o: CriteriaRoutesOptions): CriteriaRoutes {
  const now = o.now ?? Date.now;
  const catchUpTimeoutMs = o.catchUpTimeoutMs ?? 5000;
  const table = new ChangelogTable<CriteriaRecord>({
    bus: o.bus,
    stream: STREAMS.criteria,
    groupId: o.groupId ?? `dashboard-api-criteria-${randomUUID()}`,
    logger: o.logger,
    parse: (_key, value) => criteriaRecordSchema.safeParse(value).data,
  });
  let starting: Promise<void> | undefined;
  /**
   * Each write reads the patient's record, changes it and publishes it whole (the stream is
   * compacted). Two writes for one patient at once would both start from the same record, and the
   * later would drop the earlier one's change after both were answered 200. So an instance runs a
   * patient's writes one after the other; the entry is removed when the last one is done.
   */
  const writeQueues = new Map<string, Lock>();
  async function oneWriteAtATime<T>(patientId: string, write: () => Promise<T>): Promise<T> {
    let queue = writeQueues.get(patientId);
    if (!queue) writeQueues.set(patientId, (queue = new Lock()));
    const done = queue.run(write);
    const own = queue;
    void own.settled().then(() => { if (writeQueues.get(patientId) === own) writeQueues.delete(patientId); });
    return done;
  }

  /** Reads the criteria stream up to now (read-your-writes across API instances). */
  async function current(patientId: string): Promise<{ versions: CriteriaVersion[]; relearns: Relearn[] }> {
    starting ??= (async () => {
      await o.bus.ensureStreams([{ name: STREAMS.criteria, partitions: 1, compacted: true }]);
      await table.start();
    })().catch((err: unknown) => {
      starting = undefined;
      throw err;
    });
    await starting;
    if (!(await table.catchUp(catchUpTimeoutMs))) {
      throw new PulsebridgeError('PB_BUS_UNAVAILABLE', 'the criteria stream could not be read up to now');
    }
    const record = table.get(patientId);
    return { versions: record?.versions ?? [], relearns: record?.relearns ?? [] };
  }

  /** Publishes a patient's whole criteria record (the stream is compacted: the latest record per patient is the truth). */
  async function publish(r: RouteRequest, record: CriteriaRecord, action: 'criteria.change' | 'criteria.relearn', what: string): Promise<void> {
    try {
      await o.bus.publish(STREAMS.criteria, [{ key: record.patientId, value: Buffer.from(JSON.stringify(record)) }]);
    } catch (err) {
      await r.audit({ action, patientId: record.patientId, outcome: 'error', status: 503, detail: `${what} not published` }).catch(() => {});
      throw err instanceof PulsebridgeError ? err : new PulsebridgeError('PB_BUS_UNAVAILABLE', `the ${what} could not be published`, { cause: err });
    }
  }

  async function authorize(r: RouteRequest, patientId: string, action: 'criteria.read' | 'criteria.change' | 'criteria.relearn'): Promise<void> {
    if (!canAccessPatient(r.principal, patientId)) {
      await r.audit({ action, patientId, outcome: 'denied', status: 403 });
      throw new PulsebridgeError('PB_AUTH_FORBIDDEN', `patient ${patientId} is not on your care team`);
    }
    if (o.patients && !o.patients.get(patientId)) {
      await r.audit({ action, patientId, outcome: 'not_found', status: 404 });
      throw new PulsebridgeError('PB_NOT_FOUND', `patient ${patientId} is not known`);
    }
  }

  const view = (patientId: string, { versions, relearns }: { versions: CriteriaVersion[]; relearns: Relearn[] }) => ({
    patientId,
    current: latestCriteria(versions),
    inForce: criteriaAt(versions, now()),
    versions,
    relearns,
  });

  async function getCriteria(r: RouteRequest, patientId: string): Promise<void> {
    await authorize(r, patientId, 'criteria.read');
    const body = view(patientId, await current(patientId));
    await r.audit({ action: 'criteria.read', patientId, outcome: 'allowed', status: 200 });
    sendJson(r.res, 200, body, { etag: `"${body.current.version}"` });
  }

  async function putCriteria(r: RouteRequest, patientId: string): Promise<void> {
    await authorize(r, patientId, 'criteria.change');
    const parsedBody = putBody.safeParse(await jsonBody(r));
    if (!parsedBody.success) throw badRequest(`invalid criteria request: ${issues(parsedBody.error)}`);
    const alarms = alarmCriteriaSchema.safeParse(parsedBody.data.alarms ?? {});
    if (!alarms.success) throw badRequest(`invalid alarm criteria: ${issues(alarms.error, 'alarms')}`);
    const nowMs = now();
    const effectiveFromMs = parsedBody.data.effectiveFrom === undefined ? nowMs : parseTimeParam('effectiveFrom', String(parsedBody.data.effectiveFrom))!;
    if (effectiveFromMs < nowMs - MAX_EFFECTIVE_PAST_MS) {
      throw badRequest(`effectiveFrom may be at most ${MAX_EFFECTIVE_PAST_MS / 60_000} minutes in the past: frames already analysed are not analysed again`);
    }
    if (effectiveFromMs > nowMs + MAX_EFFECTIVE_FUTURE_MS) throw badRequest('effectiveFrom may be at most 30 days ahead');

    const body = await oneWriteAtATime(patientId, async () => {
      const { versions, relearns } = await current(patientId);
      const previous = latestCriteria(versions);
      const expected = parsedBody.data.expectedVersion ?? ifMatchVersion(r.req.headers['if-match']);
      if (expected !== undefined && expected !== previous.version) {
        await r.audit({ action: 'criteria.change', patientId, outcome: 'conflict', status: 409, detail: `expected version ${expected}, current ${previous.version}` });
        throw new PulsebridgeError('PB_CRITERIA_CONFLICT', `the criteria are at version ${previous.version}, not ${expected}; read them again`, { details: { status: 409 } });
      }
      const next: CriteriaVersion = {
        version: previous.version + 1,
        effectiveFrom: new Date(effectiveFromMs).toISOString(),
        setBy: r.principal.sub,
        setAt: new Date(nowMs).toISOString(),
        ...(parsedBody.data.reason !== undefined ? { reason: parsedBody.data.reason } : {}),
        alarms: alarms.data,
      };
      const record: CriteriaRecord = {
        schema: 'pb.criteria.v1', patientId, versions: [...versions, next].slice(-MAX_CRITERIA_VERSIONS), ...(relearns.length > 0 ? { relearns } : {}),
      };
      // Audited before it happens, with the old and the new criteria: if the trail cannot be
      // written, the change is not made.
      await r.audit({
        action: 'criteria.change', patientId, outcome: 'allowed', status: 200,
        detail: JSON.stringify({ version: next.version, effectiveFrom: next.effectiveFrom, reason: next.reason, old: { version: previous.version, alarms: previous.alarms }, new: next.alarms }),
      });
      await publish(r, record, 'criteria.change', `criteria version ${next.version}`);
      return view(patientId, await current(patientId));
    });
    sendJson(r.res, 200, body, { etag: `"${body.current.version}"` });
  }

  /**
   * The care team's relearn: from now (device time, like a criteria version's default
   * effectiveFrom) the processor learns the patient's beat shapes afresh. Not a criteria version,
   * so it never replaces a version scheduled ahead; kept in the same record, since the processor
   * reads that record for the patient anyway.
   */
  async function postRelearn(r: RouteRequest, patientId: string): Promise<void> {
    await authorize(r, patientId, 'criteria.relearn');
    const parsedBody = relearnBody.safeParse(await jsonBody(r));
    if (!parsedBody.success) throw badRequest(`invalid relearn request: ${issues(parsedBody.error)}`);
    const body = await oneWriteAtATime(patientId, async () => {
      const { versions, relearns } = await current(patientId);
      const relearn: Relearn = { at: new Date(now()).toISOString(), by: r.principal.sub, ...(parsedBody.data.reason !== undefined ? { reason: parsedBody.data.reason } : {}) };
      const record: CriteriaRecord = { schema: 'pb.criteria.v1', patientId, versions, relearns: [...relearns, relearn].slice(-MAX_RELEARNS) };
      // Audited before it happens, as a criteria change is.
      await r.audit({ action: 'criteria.relearn', patientId, outcome: 'allowed', status: 200, detail: JSON.stringify(relearn) });
      await publish(r, record, 'criteria.relearn', 'relearn');
      return view(patientId, await current(patientId));
    });
    sendJson(r.res, 200, body, { etag: `"${body.current.version}"` });
  }

  return {
    match(pathname: string, method: string) {
      const seg = pathname.split('/'); // ['', 'v1', 'patients', id, 'criteria' | 'relearn']
      if (seg.length !== 5 || seg[1] !== 'v1' || seg[2] !== 'patients' || !seg[3]) return undefined;
      const id = seg[3];
      if (seg[4] === 'relearn') return { route: '/v1/patients/{id}/relearn', method: 'POST', run: (r) => postRelearn(r, idSegment('patient', id)) };
      if (seg[4] !== 'criteria') return undefined;
      if (method === 'PUT') return { route: '/v1/patients/{id}/criteria', method: 'PUT', run: (r) => putCriteria(r, idSegment('patient', id)) };
      return { route: '/v1/patients/{id}/criteria', method: 'GET', run: (r) => getCriteria(r, idSegment('patient', id)) };
    },
    close: () => table.stop(),
  };
}

function issues(error: z.ZodError, prefix?: string): string {
  return error.issues.slice(0, 10).map((i) => `${[prefix, ...i.path].filter((x) => x !== undefined).join('.') || '(body)'}: ${i.message}`).join('; ');
}

/** `If-Match: "3"` → 3; anything else (absent, `*`, not a number) → undefined or 400. */
function ifMatchVersion(header: string | string[] | undefined): number | undefined {
  const v = Array.isArray(header) ? header[0] : header;
  if (v === undefined || v.trim() === '*') return undefined;
  const m = /^\s*(?:W\/)?"(\d{1,9})"\s*$/.exec(v);
  if (!m) throw badRequest('If-Match must be the ETag of GET /v1/patients/{id}/criteria, e.g. "3"');
  return Number(m[1]);
}
