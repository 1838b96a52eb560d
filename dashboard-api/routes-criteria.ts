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
 * stream (STREAMS.criteria), which the processor reads; this module folds it too. No write that
 * was answered 200 is lost to another written at the same moment, on this instance or another
 * (oneWriteAtATime, publishAndConfirm).
 */
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import {
  alarmCriteriaSchema, criteriaAt, criteriaRecordSchema, latestCriteria, MAX_CRITERIA_VERSIONS, MAX_RELEARNS,
  type CriteriaRecord, type CriteriaVersion, type Relearn,
} from '../contracts/criteria.ts';
import { CRITERIA_GUIDE } from '../contracts/criteria-guide.ts';
import { STREAMS } from '../contracts/topics.ts';
import type { Bus } from '../platform/bus/index.ts';
import { PulsebridgeError } from '../platform/errors.ts';
import type { Logger } from '../platform/log.ts';
import { ChangelogTable } from '../processor/changelog-table.ts';
import { Lock } from '../processor/lock.ts';
import { canAccessPatient } from './auth.ts';
import { mergeCriteria, sameVersion, type CriteriaEntries } from './criteria-merge.ts';
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

/** How often a write merges in another instance's write before it gives up (each needs a write at the same moment). */
const MAX_MERGES = 3;

const entriesOf = (record: CriteriaRecord | undefined): CriteriaEntries => ({ versions: record?.versions ?? [], relearns: record?.relearns ?? [] });

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
    ephemeralGroup: o.groupId === undefined,
    logger: o.logger,
    parse: (_key, value) => criteriaRecordSchema.safeParse(value).data,
  });
  let starting: Promise<void> | undefined;
  /**
   * Each write reads the patient's record, changes it and publishes it whole (the stream is
   * compacted). Two writes for one patient at once would both start from the same record, and the
   * later would drop the earlier one's change after both were answered 200. So an instance runs a
   * patient's writes one after the other; the entry is removed when the last one is done. (Writes
   * of two instances at once are merged by the later writer: publishAndConfirm.)
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
  async function readUpToNow(): Promise<void> {
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
  }

  /** The patient's record as of now (undefined: nobody changed the defaults yet). */
  async function currentRecord(patientId: string): Promise<CriteriaRecord | undefined> {
    await readUpToNow();
    return table.get(patientId);
  }

  /**
   * This instance's records not read back yet (by write id) → the record each replaced without
   * having been built on it (undefined: none so far). Filled while the record is read back.
   */
  const unconfirmed = new Map<string, CriteriaRecord | undefined>();
  table.onChange((_patientId, record, previous) => {
    if (record.writeId === undefined || !unconfirmed.has(record.writeId)) return;
    if (previous !== undefined && previous.writeId !== record.basedOn) unconfirmed.set(record.writeId, previous);
  });

  /**
   * Publishes the patient's record with `entries`, built on `base`, and reads it back. Two API
   * instances may write one patient at the same moment, each building on the record it read; the
   * later record would replace the earlier one without its entry after both writers answered.
   * Each record names the record it was built on (`basedOn`), so the writer whose record replaced
   * another one sees that while reading its own back, and publishes the two merged
   * (criteria-merge.ts) before it answers: the later writer always repairs. `onMerge` may take
   * the writer's own entry out of a merge (a change based on a version that is no longer current).
   */
  async function publishAndConfirm(
    r: RouteRequest, patientId: string, base: CriteriaRecord | undefined, entries: CriteriaEntries,
    action: 'criteria.change' | 'criteria.relearn', what: string,
    onMerge: (merged: CriteriaEntries, other: CriteriaRecord) => CriteriaEntries = (merged) => merged,
  ): Promise<{ merges: number; after: CriteriaEntries }> {
    let basedOn = base?.writeId;
    for (let merges = 0; merges <= MAX_MERGES; merges++) {
      const writeId = randomUUID();
      const record: CriteriaRecord = {
        schema: 'pb.criteria.v1', patientId, versions: entries.versions, ...(entries.relearns.length > 0 ? { relearns: entries.relearns } : {}),
        writeId, ...(basedOn !== undefined ? { basedOn } : {}),
      };
      unconfirmed.set(writeId, undefined);
      let replaced: CriteriaRecord | undefined;
      try {
        await publish(r, record, action, what);
        await readUpToNow();
      } finally {
        replaced = unconfirmed.get(writeId);
        unconfirmed.delete(writeId);
      }
      // Read up to now already: the table holds the patient's record after this write.
      if (!replaced) return { merges, after: entriesOf(table.get(patientId)) };
      o.logger.warn('a criteria record replaced one written at the same moment by another instance; publishing the two merged', { patientId, writeId, replaced: replaced.writeId });
      entries = onMerge(mergeCriteria(entriesOf(replaced), entries), replaced);
      basedOn = writeId;
    }
    throw new PulsebridgeError('PB_BUS_UNAVAILABLE', `the ${what} met other writes ${MAX_MERGES + 1} times in a row; read the criteria again`);
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
    // What each criterion means, its unit, range and default (contracts/criteria-guide.ts), so a
    // client shows "heart rate below [50] bpm (30–60)" instead of the field name.
    fields: CRITERIA_GUIDE,
  });

  async function getCriteria(r: RouteRequest, patientId: string): Promise<void> {
    await authorize(r, patientId, 'criteria.read');
    const body = view(patientId, entriesOf(await currentRecord(patientId)));
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
      const base = await currentRecord(patientId);
      const { versions, relearns } = entriesOf(base);
      const previous = latestCriteria(versions);
      const expected = parsedBody.data.expectedVersion ?? ifMatchVersion(r.req.headers['if-match']);
      const conflict = async (current: number) => {
        await r.audit({ action: 'criteria.change', patientId, outcome: 'conflict', status: 409, detail: `expected version ${expected}, current ${current}` });
        return new PulsebridgeError('PB_CRITERIA_CONFLICT', `the criteria are at version ${current}, not ${expected}; read them again`, { details: { status: 409 } });
      };
      if (expected !== undefined && expected !== previous.version) throw await conflict(previous.version);
      const next: CriteriaVersion = {
        version: previous.version + 1,
        effectiveFrom: new Date(effectiveFromMs).toISOString(),
        setBy: r.principal.sub,
        setAt: new Date(nowMs).toISOString(),
        ...(parsedBody.data.reason !== undefined ? { reason: parsedBody.data.reason } : {}),
        alarms: alarms.data,
      };
      // Audited before it happens, with the old and the new criteria: if the trail cannot be
      // written, the change is not made.
      await r.audit({
        action: 'criteria.change', patientId, outcome: 'allowed', status: 200,
        detail: JSON.stringify({ version: next.version, effectiveFrom: next.effectiveFrom, reason: next.reason, old: { version: previous.version, alarms: previous.alarms }, new: next.alarms }),
      });
      // Another instance's change published at the same moment, which this one replaced: merged,
      // unless this change was based on a version (If-Match) that the other one has overtaken.
      let overtaken = false;
      const { merges, after } = await publishAndConfirm(r, patientId, base, { versions: [...versions, next].slice(-MAX_CRITERIA_VERSIONS), relearns }, 'criteria.change', `criteria version ${next.version}`, (merged, other) => {
        if (expected === undefined || other.versions.every((v) => versions.some((w) => sameVersion(v, w)))) return merged;
        overtaken = true;
        return { ...merged, versions: merged.versions.filter((v) => !sameVersion(v, next)) };
      });
      if (overtaken) throw await conflict(latestCriteria(after.versions).version);
      const numbered = after.versions.find((v) => sameVersion(v, next));
      if (merges > 0 && numbered && numbered.version !== next.version) {
        // The trail said which number the change would get; it got another.
        await r.audit({ action: 'criteria.change', patientId, outcome: 'allowed', status: 200, detail: JSON.stringify({ version: numbered.version, renumberedFrom: next.version, why: 'merged with a change another API instance wrote at the same moment' }) });
      }
      return view(patientId, after);
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
      const base = await currentRecord(patientId);
      const { versions, relearns } = entriesOf(base);
      const relearn: Relearn = { at: new Date(now()).toISOString(), by: r.principal.sub, ...(parsedBody.data.reason !== undefined ? { reason: parsedBody.data.reason } : {}) };
      // Audited before it happens, as a criteria change is.
      await r.audit({ action: 'criteria.relearn', patientId, outcome: 'allowed', status: 200, detail: JSON.stringify(relearn) });
      const { after } = await publishAndConfirm(r, patientId, base, { versions, relearns: [...relearns, relearn].slice(-MAX_RELEARNS) }, 'criteria.relearn', 'relearn');
      return view(patientId, after);
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
