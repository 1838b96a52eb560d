/**
 * Criteria routes (dashboard-api/routes-criteria.ts): care team or admin read and change a
 * patient's alarm criteria; changes are validated, versioned, audited with old and new values,
 * and published on the criteria stream the processor reads.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DEFAULT_ALARM_CRITERIA, type CriteriaRecord } from '../../contracts/criteria.ts';
import { CRITERIA_GUIDE } from '../../contracts/criteria-guide.ts';
import { STREAMS } from '../../contracts/topics.ts';
import { auditLogPath, JsonlAuditSink, type AuditEntry } from '../../dashboard-api/audit.ts';
import { createDevTokenVerifier } from '../../dashboard-api/auth.ts';
import { openDevIssuer, type DevIssuer, type Role } from '../../dashboard-api/dev-issuer.ts';
import { staticPatientDirectory } from '../../dashboard-api/patient-directory.ts';
import { criteriaRoutes, type CriteriaRoutes } from '../../dashboard-api/routes-criteria.ts';
import { createDashboardApi, type DashboardApi } from '../../dashboard-api/server.ts';
import { InProcessBus, type Bus } from '../../platform/bus/index.ts';
import { silentLogger } from '../../platform/log.ts';
import { MetricsRegistry } from '../../platform/metrics.ts';
import { SqliteVitalsStore } from '../../platform/store/index.ts';

const NOW = Date.parse('2026-03-01T10:00:00.000Z');
const iso = (ms: number) => new Date(ms).toISOString();

interface Api { url: string; bus: InProcessBus; api: DashboardApi; routes: CriteriaRoutes; dataDir: string; issuer: DevIssuer; close(): Promise<void> }

/** An API instance with the criteria routes; a second instance is given the first one's bus (its criteria stream through `routesBus`) and token issuer. */
async function startApi(shared: { bus: InProcessBus; routesBus?: Bus; issuer: DevIssuer } | undefined = undefined): Promise<Api> {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'pb-criteria-api-'));
  const bus = shared?.bus ?? new InProcessBus();
  const store = new SqliteVitalsStore(':memory:');
  const issuer = shared?.issuer ?? (await openDevIssuer({ dataDir }));
  const patients = staticPatientDirectory([{ id: 'p1', devices: [] }, { id: 'p2', devices: [] }]);
  const routes = criteriaRoutes({ bus: shared?.routesBus ?? bus, logger: silentLogger, patients, now: () => NOW });
  const api = createDashboardApi({
    bus, vitalsStore: store, patients, auth: createDevTokenVerifier(issuer), audit: new JsonlAuditSink({ dataDir }),
    logger: silentLogger, metrics: new MetricsRegistry(), heartbeatIntervalMs: 600_000, now: () => NOW, routeModules: [routes],
  });
  const { url } = await api.listen(0, '127.0.0.1');
  return {
    url, bus, api, routes, dataDir, issuer,
    close: async () => {
      await api.close();
      await routes.close();
      if (!shared) await bus.close();
      await store.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

async function call(method: string, url: string, token: string | undefined, body?: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(url, {
    method,
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text ? (JSON.parse(text) as Record<string, any>) : {} };
}

describe('criteria routes', () => {
  let a: Api;
  let token: (sub: string, role: Role, patients?: string[]) => Promise<string>;
  beforeEach(async () => {
    a = await startApi();
    token = (sub, role, patients = []) => a.issuer.issueToken({ sub, role, patients, ttlSeconds: 3600 });
  });
  afterEach(async () => a.close());

  const auditEntries = async () => (await readFile(auditLogPath(a.dataDir), 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as AuditEntry);
  const records = () => a.bus.read(STREAMS.criteria).map((m) => JSON.parse(m.value.toString())).filter((r) => r.schema === 'pb.criteria.v1') as CriteriaRecord[];

  it('shows a care-team clinician the defaults (version 0) of a patient nobody configured', async () => {
    const res = await call('GET', `${a.url}/v1/patients/p1/criteria`, await token('dr-a', 'clinician', ['p1']));
    expect(res.status).toBe(200);
    expect(res.headers.get('etag')).toBe('"0"');
    expect(res.body).toEqual({
      patientId: 'p1',
      current: { version: 0, effectiveFrom: iso(0), setBy: 'pulsebridge-defaults', setAt: iso(0), alarms: DEFAULT_ALARM_CRITERIA },
      inForce: { version: 0, effectiveFrom: iso(0), setBy: 'pulsebridge-defaults', setAt: iso(0), alarms: DEFAULT_ALARM_CRITERIA },
      versions: [],
      relearns: [],
      fields: CRITERIA_GUIDE,
    });
    // The guide a page shows the criteria with: wording, unit, and range and default read from the schema.
    expect(res.body.fields.brady.sustainMs).toEqual({ label: 'alarm delay', unit: 'ms', min: 0, max: 600_000, default: 120_000, help: expect.stringMatching(/^The low rate must last/) });
    expect(res.body.fields.vt.leakageBelow).toMatchObject({ unit: 'ratio', min: 0, max: 0.75, default: 0.65 });
  });

  it('has the guide cover every numeric criterion of every kind, with the schema\'s defaults', () => {
    for (const [kind, fields] of Object.entries(DEFAULT_ALARM_CRITERIA)) {
      const numeric = Object.keys(fields).filter((f) => f !== 'enabled').sort();
      const guide = CRITERIA_GUIDE[kind as keyof typeof CRITERIA_GUIDE];
      expect(Object.keys(guide).sort(), kind).toEqual(numeric);
      for (const f of numeric) {
        const g = guide[f]!;
        expect(g.default, `${kind}.${f}`).toBe((fields as Record<string, unknown>)[f]);
        expect(g.min <= g.default && g.default <= g.max, `${kind}.${f} range`).toBe(true);
        expect(g.label.length, `${kind}.${f} label`).toBeGreaterThan(0);
      }
    }
  });

  it('lets a care-team clinician set a new version: validated, numbered, published on the criteria stream and audited with old and new', async () => {
    const dr = await token('dr-a', 'clinician', ['p1']);
    const effectiveFrom = iso(NOW + 60_000);
    const res = await call('PUT', `${a.url}/v1/patients/p1/criteria`, dr, { alarms: { brady: { limitBpm: 45 }, pause: { enabled: false } }, effectiveFrom, reason: 'athlete, known sinus pauses' });
    expect(res.status).toBe(200);
    const expectedAlarms = { ...DEFAULT_ALARM_CRITERIA, brady: { ...DEFAULT_ALARM_CRITERIA.brady, limitBpm: 45 }, pause: { ...DEFAULT_ALARM_CRITERIA.pause, enabled: false } };
    const v1 = { version: 1, effectiveFrom, setBy: 'dr-a', setAt: iso(NOW), reason: 'athlete, known sinus pauses', alarms: expectedAlarms };
    expect(res.body).toEqual({ patientId: 'p1', current: v1, inForce: expect.objectContaining({ version: 0 }), versions: [v1], relearns: [], fields: CRITERIA_GUIDE });
    expect(res.headers.get('etag')).toBe('"1"');
    // The write's id is on the record (criteria-merge across API instances); the first has no basedOn.
    expect(records()).toEqual([{ schema: 'pb.criteria.v1', patientId: 'p1', versions: [v1], writeId: expect.any(String) }]);
    expect(a.bus.read(STREAMS.criteria).filter((m) => m.key === 'p1')).toHaveLength(1);

    const change = (await auditEntries()).find((e) => e.action === 'criteria.change')!;
    expect(change).toMatchObject({ actor: { sub: 'dr-a', role: 'clinician' }, patientId: 'p1', outcome: 'allowed', status: 200, at: iso(NOW) });
    expect(JSON.parse(change.detail!)).toEqual({ version: 1, effectiveFrom, reason: 'athlete, known sinus pauses', old: { version: 0, alarms: DEFAULT_ALARM_CRITERIA }, new: expectedAlarms });

    const again = await call('GET', `${a.url}/v1/patients/p1/criteria`, dr);
    expect(again.body.current).toEqual(v1);
  });

  it('refuses values outside the allowed ranges, switching off a life-threatening alarm, and inconsistent limits, with the reasons', async () => {
    const dr = await token('dr-a', 'clinician', ['p1']);
    const cases: [unknown, RegExp][] = [
      [{ asystole: { minGapMs: 2000 } }, /alarms\.asystole\.minGapMs/],
      [{ pause: { minRrMs: 4500 } }, /alarms\.pause\.minRrMs/],
      [{ brady: { limitBpm: 65 } }, /alarms\.brady\.limitBpm/],
      [{ tachy: { limitBpm: 90 } }, /alarms\.tachy\.limitBpm/],
      [{ vt: { enabled: false } }, /vt cannot be switched off/],
      [{ brady: { limitBpm: 40 }, extreme_brady: { hrBelowBpm: 40 } }, /must be below the brady limit/],
      [{ unknown_alarm: {} }, /alarms/],
    ];
    for (const [alarms, reason] of cases) {
      const res = await call('PUT', `${a.url}/v1/patients/p1/criteria`, dr, { alarms });
      expect(res.status, JSON.stringify(alarms)).toBe(400);
      expect(res.body.error.message, JSON.stringify(alarms)).toMatch(reason);
    }
    const past = await call('PUT', `${a.url}/v1/patients/p1/criteria`, dr, { alarms: {}, effectiveFrom: iso(NOW - 10 * 60_000) });
    expect(past.status).toBe(400);
    expect(records()).toEqual([]);
  });

  it('answers 403 to a clinician outside the care team (audited as denied) and 404 for an unknown patient', async () => {
    const other = await token('dr-b', 'clinician', ['p2']);
    expect((await call('GET', `${a.url}/v1/patients/p1/criteria`, other)).status).toBe(403);
    expect((await call('PUT', `${a.url}/v1/patients/p1/criteria`, other, { alarms: {} })).status).toBe(403);
    expect((await call('GET', `${a.url}/v1/patients/nobody/criteria`, await token('ops', 'admin'))).status).toBe(404);
    expect((await auditEntries()).filter((e) => e.outcome === 'denied').map((e) => [e.action, e.actor.sub, e.patientId])).toEqual([
      ['criteria.read', 'dr-b', 'p1'],
      ['criteria.change', 'dr-b', 'p1'],
    ]);
    expect(records()).toEqual([]);
  });

  it('lets an admin change any patient, and refuses a change based on a stale version (If-Match) with 409', async () => {
    const admin = await token('ops', 'admin');
    const first = await call('PUT', `${a.url}/v1/patients/p2/criteria`, admin, { alarms: { tachy: { limitBpm: 130 } } }, { 'if-match': '"0"' });
    expect(first.status).toBe(200);
    expect(first.body.current).toMatchObject({ version: 1, setBy: 'ops', effectiveFrom: iso(NOW) });
    expect(first.body.inForce).toMatchObject({ version: 1 });
    const stale = await call('PUT', `${a.url}/v1/patients/p2/criteria`, admin, { alarms: {} }, { 'if-match': '"0"' });
    expect(stale.status).toBe(409);
    expect(stale.body.error.code).toBe('PB_CRITERIA_CONFLICT');
    const second = await call('PUT', `${a.url}/v1/patients/p2/criteria`, admin, { alarms: {}, expectedVersion: 1 });
    expect(second.body.versions.map((v: { version: number }) => v.version)).toEqual([1, 2]);
  });

  it('relearn: a care-team clinician has the beat shapes learned afresh from now; kept with the versions, audited, refused outside the care team', async () => {
    const dr = await token('dr-a', 'clinician', ['p1']);
    const scheduled = iso(NOW + 3_600_000);
    expect((await call('PUT', `${a.url}/v1/patients/p1/criteria`, dr, { alarms: { tachy: { limitBpm: 130 } }, effectiveFrom: scheduled })).status).toBe(200);

    const res = await call('POST', `${a.url}/v1/patients/p1/relearn`, dr, { reason: 'patch re-applied, every beat read V' });
    expect(res.status).toBe(200);
    const relearn = { at: iso(NOW), by: 'dr-a', reason: 'patch re-applied, every beat read V' };
    expect(res.body.relearns).toEqual([relearn]);
    // Not a criteria version: the change scheduled an hour ahead stays the current version and takes effect then.
    expect(res.body.current).toMatchObject({ version: 1, effectiveFrom: scheduled });
    expect(res.body.inForce).toMatchObject({ version: 0 });
    expect(records().at(-1)).toEqual({
      schema: 'pb.criteria.v1', patientId: 'p1', versions: [expect.objectContaining({ version: 1 })], relearns: [relearn], writeId: expect.any(String), basedOn: records().at(-2)!.writeId,
    });
    const audited = (await auditEntries()).find((e) => e.action === 'criteria.relearn')!;
    expect(audited).toMatchObject({ actor: { sub: 'dr-a' }, patientId: 'p1', outcome: 'allowed', status: 200 });
    expect(JSON.parse(audited.detail!)).toEqual(relearn);

    // A later criteria change keeps the relearns; a second relearn without a body is recorded too.
    await call('PUT', `${a.url}/v1/patients/p1/criteria`, dr, { alarms: {}, expectedVersion: 1 });
    expect(records().at(-1)!.relearns).toEqual([relearn]);
    expect((await call('POST', `${a.url}/v1/patients/p1/relearn`, await token('ops', 'admin'))).body.relearns).toEqual([relearn, { at: iso(NOW), by: 'ops' }]);

    const other = await token('dr-b', 'clinician', ['p2']);
    expect((await call('POST', `${a.url}/v1/patients/p1/relearn`, other, {})).status).toBe(403);
    expect((await call('POST', `${a.url}/v1/patients/p1/relearn`, dr, { reason: 7 })).status).toBe(400);
    expect((await call('GET', `${a.url}/v1/patients/p1/relearn`, dr)).status).toBe(405);
    expect((await auditEntries()).filter((e) => e.outcome === 'denied').map((e) => [e.action, e.actor.sub])).toEqual([['criteria.relearn', 'dr-b']]);
    expect(records().at(-1)!.relearns).toHaveLength(2);
  });
  it('runs one patient’s writes one after the other: changes and relearns sent at once are all kept, and of two changes based on one version one is refused', async () => {
    const dr = await token('dr-a', 'clinician', ['p1', 'p2']);
    const put = (alarms: object, extra: object = {}) => call('PUT', `${a.url}/v1/patients/p1/criteria`, dr, { alarms, ...extra });
    const relearn = (reason: string) => call('POST', `${a.url}/v1/patients/p1/relearn`, dr, { reason });

    const answers = await Promise.all([
      put({ brady: { limitBpm: 45 } }, { reason: 'one' }), relearn('first'), put({ tachy: { limitBpm: 130 } }, { reason: 'two' }),
      relearn('second'), put({ pause: { enabled: false } }, { reason: 'three' }),
      call('PUT', `${a.url}/v1/patients/p2/criteria`, dr, { alarms: {}, reason: 'other patient' }),
    ]);
    expect(answers.map((x) => x.status)).toEqual([200, 200, 200, 200, 200, 200]);
    const last = records().filter((r) => r.patientId === 'p1').at(-1)!;
    // Every answered change is in the record the processor reads, numbered in the order they ran.
    expect(last.versions.map((v) => v.reason).sort()).toEqual(['one', 'three', 'two']);
    expect(last.versions.map((v) => v.version)).toEqual([1, 2, 3]);
    expect(last.relearns!.map((x) => x.reason).sort()).toEqual(['first', 'second']);

    const [first, second] = await Promise.all([put({}, { expectedVersion: 3, reason: 'a' }), put({}, { expectedVersion: 3, reason: 'b' })]);
    expect([first.status, second.status].sort()).toEqual([200, 409]);
    const after = records().filter((r) => r.patientId === 'p1').at(-1)!;
    expect(after.versions.map((v) => v.version)).toEqual([1, 2, 3, 4]);
  });
});

describe('two API instances writing one patient at the same moment', () => {
  let a: Api;
  let b: Api;
  /** Instance B's criteria records wait here until released: B has read the record, A writes meanwhile. */
  let held: { arrived: Promise<void>; release: () => void };
  beforeEach(async () => {
    a = await startApi();
    let arrive!: () => void;
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    held = { arrived: new Promise<void>((r) => (arrive = r)), release };
    const holding: Bus = {
      async publish(stream, messages) {
        if (stream === STREAMS.criteria && messages.some((m) => (JSON.parse(m.value.toString()) as { schema?: string }).schema === 'pb.criteria.v1')) {
          arrive();
          await gate;
        }
        return a.bus.publish(stream, messages);
      },
      subscribe: (stream, options) => a.bus.subscribe(stream, options),
      ensureStreams: (streams) => a.bus.ensureStreams(streams),
      close: async () => {},
    };
    b = await startApi({ bus: a.bus, routesBus: holding, issuer: a.issuer });
  });
  afterEach(async () => {
    held.release();
    await b.close();
    await a.close();
  });

  const last = () => a.bus.read(STREAMS.criteria).map((m) => JSON.parse(m.value.toString())).filter((r) => r.schema === 'pb.criteria.v1' && r.patientId === 'p1').at(-1) as CriteriaRecord;
  const token = () => a.issuer.issueToken({ sub: 'dr-a', role: 'clinician', patients: ['p1'], ttlSeconds: 3600 });
  /** B's write is held after it read the record; A's write goes through; then B's is released. */
  async function race(first: (t: string) => Promise<{ status: number; body: Record<string, any> }>, heldWrite: (t: string) => Promise<{ status: number; body: Record<string, any> }>) {
    const t = await token();
    const later = heldWrite(t);
    await held.arrived;
    const earlier = await first(t);
    held.release();
    return { earlier, later: await later };
  }
  const put = (api: Api, alarms: object, extra: object = {}) => (t: string) => call('PUT', `${api.url}/v1/patients/p1/criteria`, t, { alarms, ...extra });

  it('two changes: both are kept, the one published last numbered after the other, whatever each instance had read', async () => {
    const { earlier, later } = await race(put(a, { brady: { limitBpm: 45 } }, { reason: 'from A' }), put(b, { tachy: { limitBpm: 130 } }, { reason: 'from B' }));
    expect([earlier.status, later.status]).toEqual([200, 200]);
    expect(earlier.body.current).toMatchObject({ version: 1, reason: 'from A' });
    // B's record (built on no record) replaced A's; B saw it reading its own back, and published both.
    expect(later.body.versions.map((v: { version: number; reason: string }) => [v.version, v.reason])).toEqual([[1, 'from A'], [2, 'from B']]);
    expect(last().versions.map((v) => v.reason)).toEqual(['from A', 'from B']);
    expect(last().versions[1]!.alarms.tachy.limitBpm).toBe(130);
    expect(last().versions[0]!.alarms.brady.limitBpm).toBe(45);
    // B's trail said version 1 before it published; it says where the change ended up.
    const trail = (await readFile(auditLogPath(b.dataDir), 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as AuditEntry).filter((e) => e.action === 'criteria.change');
    expect(trail.map((e) => JSON.parse(e.detail!).version)).toEqual([1, 2]);
    expect(JSON.parse(trail[1]!.detail!)).toMatchObject({ renumberedFrom: 1 });
  });

  it('a change and a relearn: both kept', async () => {
    const relearn = (t: string) => call('POST', `${b.url}/v1/patients/p1/relearn`, t, { reason: 'patch re-applied' });
    const { earlier, later } = await race(put(a, { brady: { limitBpm: 45 } }), relearn);
    expect([earlier.status, later.status]).toEqual([200, 200]);
    expect(last()).toMatchObject({ versions: [{ version: 1, alarms: { brady: { limitBpm: 45 } } }], relearns: [{ reason: 'patch re-applied' }] });
  });

  it('two changes based on the same version (If-Match): the one published first stands, the other is refused with 409 and taken out again', async () => {
    const { earlier, later } = await race(put(a, { brady: { limitBpm: 45 } }, { expectedVersion: 0, reason: 'from A' }), put(b, { tachy: { limitBpm: 130 } }, { expectedVersion: 0, reason: 'from B' }));
    expect([earlier.status, later.status]).toEqual([200, 409]);
    expect(later.body.error.code).toBe('PB_CRITERIA_CONFLICT');
    expect(last().versions.map((v) => [v.version, v.reason])).toEqual([[1, 'from A']]);
    const got = await call('GET', `${b.url}/v1/patients/p1/criteria`, await token());
    expect(got.body.current).toMatchObject({ version: 1, reason: 'from A' });
  });
});
