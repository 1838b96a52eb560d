/**
 * Failed authentication leaves a trace (security review finding 3): every 401 — missing,
 * malformed, expired, forged or alg=none token, over REST and on the stream's upgrade, first
 * message, renewal or silence — is an `auth.failed` audit entry (anonymous actor, route, remote
 * address, the reason sentence; never the token), and a warning in the log, rate-limited per
 * remote address so a flood of bad tokens cannot flood the log. Routes that need no token are
 * neither audited nor logged. A genuine token that only expired names its subject as the actor
 * (review finding: audited as anonymous before); a forged one never does.
 */
import { readFile } from 'node:fs/promises';
import { generateKeyPair, importJWK, SignJWT, type JWK } from 'jose';
import { afterEach, describe, expect, test } from 'vitest';
import { ANONYMOUS_ACTOR, type AuditEntry, type AuditSink } from '../../dashboard-api/audit.ts';
import { AuthFailureLogLimit } from '../../dashboard-api/auth.ts';
import { DEV_AUDIENCE, DEV_ISSUER } from '../../dashboard-api/dev-issuer.ts';
import { AUTH_FAILURES_AUDITED_PER_ADDRESS, type DashboardApiOptions } from '../../dashboard-api/server.ts';
import { createLogger } from '../../platform/log.ts';
import { http, startFixture, StreamClient } from './helpers.ts';
import type { Fixture } from './helpers.ts';

let fx: Fixture | undefined;
afterEach(async () => { await fx?.close(); fx = undefined; });

/** A fixture whose log lines are kept (parsed). */
async function start(overrides: Partial<DashboardApiOptions> = {}) {
  const lines: Record<string, unknown>[] = [];
  const raw: string[] = [];
  fx = await startFixture({ logger: createLogger('debug', {}, (l) => { raw.push(l); lines.push(JSON.parse(l) as Record<string, unknown>); }), ...overrides });
  return { fx, lines, raw };
}

const b64url = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
const nowS = () => Math.floor(Date.now() / 1000);
const claims = (over: Record<string, unknown> = {}) => ({ iss: DEV_ISSUER, aud: DEV_AUDIENCE, sub: 'mallory', role: 'admin', patients: [], iat: nowS(), exp: nowS() + 600, ...over });
async function signWithDevKey(f: Fixture, payload: Record<string, unknown>): Promise<string> {
  const file = JSON.parse(await readFile(f.issuer.keyPath, 'utf8')) as { kid: string; privateJwk: JWK };
  return new SignJWT(payload).setProtectedHeader({ alg: 'ES256', kid: file.kid, typ: 'JWT' }).sign(await importJWK(file.privateJwk, 'ES256'));
}
const auditOf = async (f: Fixture) => (await readFile(f.auditPath, 'utf8').catch(() => '')).trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as AuditEntry);
const closeCode = (c: StreamClient) => new Promise<number>((resolve) => c.ws.once('close', (code) => resolve(code)));

describe('a failed authentication', () => {
  test('is audited as auth.failed with route, address and reason (never the token), on REST and the stream; open routes are not', async () => {
    const { fx: f, lines, raw } = await start({ streamAuthTimeoutMs: 150 });
    const expired = await signWithDevKey(f, claims({ iat: nowS() - 7200, exp: nowS() - 120 }));
    const algNone = `${b64url({ alg: 'none', typ: 'JWT' })}.${b64url(claims())}.`;
    const good = await f.token('dr-a', 'clinician', ['p1']);
    const roleSwapped = (() => { const [h, , s] = good.split('.'); return `${h}.${b64url({ ...claims(), sub: 'dr-a' })}.${s}`; })();
    const tokens = [expired, algNone, roleSwapped, 'garbage'];

    // Open routes and unknown paths: no token needed, nothing to record.
    for (const p of ['/healthz', '/metrics', '/', '/app.js', '/app.css', '/v1/auth/config', '/nope', '/v1/stream']) await http('GET', `${f.url}${p}`);
    await http('GET', `${f.url}/healthz`, 'garbage');
    expect(await auditOf(f)).toEqual([]);

    const rest = [
      await http('GET', `${f.url}/v1/patients`),
      await http('GET', `${f.url}/v1/patients/p1`, expired),
      await http('GET', `${f.url}/v1/alerts`, algNone),
      await http('POST', `${f.url}/v1/alerts/al-x/ack`, roleSwapped),
      await http('GET', `${f.url}/v1/patients/p1/vitals`, undefined, { authorization: `Basic ${good}` }),
    ];
    expect(rest.map((r) => r.status)).toEqual([401, 401, 401, 401, 401]);

    await expect(StreamClient.open(`${f.wsUrl}?access_token=garbage`)).rejects.toMatchObject({ status: 401 });
    const badFirst = await StreamClient.open(f.wsUrl);
    const badFirstClosed = closeCode(badFirst);
    badFirst.ws.send(JSON.stringify({ type: 'auth', token: expired }));
    const notAuth = await StreamClient.open(f.wsUrl);
    const notAuthClosed = closeCode(notAuth);
    notAuth.ws.send(JSON.stringify({ type: 'watch', patientId: 'p1' }));
    const silent = await StreamClient.open(f.wsUrl);
    const silentClosed = closeCode(silent);
    expect([await badFirstClosed, await notAuthClosed, await silentClosed]).toEqual([4401, 4401, 4401]);
    // A renewed token that fails on an open stream.
    const open = await StreamClient.open(f.wsUrl, { headers: { authorization: `Bearer ${good}` } });
    const openClosed = closeCode(open);
    open.ws.send(JSON.stringify({ type: 'auth', token: algNone }));
    expect(await openClosed).toBe(4401);

    const entries = (await auditOf(f)).filter((e) => e.action === 'auth.failed');
    const at = expect.any(String);
    const failed = (route: string, detail: string, actor: AuditEntry['actor'] = ANONYMOUS_ACTOR) => ({ at, actor, action: 'auth.failed', route, outcome: 'denied', status: 401, detail, remoteAddress: '127.0.0.1' });
    // The expired token is genuine (the dev issuer's key): its subject is who failed.
    const mallory = { sub: 'mallory', role: 'admin' } as const;
    expect(entries.slice(0, 5)).toEqual([
      failed('/v1/patients', 'no token was sent'),
      failed('/v1/patients/{id}', 'the token has expired', mallory),
      failed('/v1/alerts', 'the token algorithm is not accepted'),
      failed('/v1/alerts/{id}/ack', 'the token signature is invalid'),
      failed('/v1/patients/{id}/vitals', "the Authorization header is not of the form 'Bearer <token>'"),
    ]);
    // The stream's: upgrade, first messages (their order is the sockets'), silence, renewal.
    expect(entries.slice(5, 6)).toEqual([failed('/v1/stream', 'the token is malformed or invalid')]);
    expect(entries.slice(6, 9)).toEqual(expect.arrayContaining([
      failed('/v1/stream', 'the token has expired', mallory),
      failed('/v1/stream', 'the first message must be {"type":"auth","token":…}'),
      failed('/v1/stream', 'no {"type":"auth","token":…} message within 150 ms'),
    ]));
    expect(entries.slice(9)).toEqual([failed('/v1/stream', 'the token algorithm is not accepted')]);

    const trail = await readFile(f.auditPath, 'utf8');
    for (const t of [...tokens, good]) expect(trail).not.toContain(t);
    // One warning for this address in this window, with what failed and why; never a token.
    const warned = lines.filter((l) => l['msg'] === 'authentication failed');
    expect(warned).toEqual([expect.objectContaining({ level: 'warn', route: '/v1/patients', remoteAddress: '127.0.0.1', reason: 'no token was sent' })]);
    for (const t of [...tokens, good]) expect(raw.join('\n')).not.toContain(t);
    const metrics = await http('GET', `${f.url}/metrics`);
    expect(metrics.body).toContain('pulsebridge_dashboard_auth_failures_total{reason="missing"} 4');
    expect(metrics.body).toContain('pulsebridge_dashboard_auth_failures_total{reason="invalid"} 6');
  });

  test('an expired token names its subject only when its signature, issuer and audience verify; still 401 with the same answer', async () => {
    const { fx: f } = await start();
    const expiredClaims = (over: Record<string, unknown> = {}) => claims({ sub: 'dr-b', role: 'clinician', patients: ['p1'], iat: nowS() - 7200, exp: nowS() - 120, ...over });
    // Signed with another key under the dev key's kid: a forgery naming dr-b.
    const { kid } = JSON.parse(await readFile(f.issuer.keyPath, 'utf8')) as { kid: string };
    const forged = await new SignJWT(expiredClaims()).setProtectedHeader({ alg: 'ES256', kid, typ: 'JWT' }).sign((await generateKeyPair('ES256')).privateKey);
    const cases: [string, string][] = [
      ['genuine', await signWithDevKey(f, expiredClaims())],
      ['forged signature', forged],
      ['other audience', await signWithDevKey(f, expiredClaims({ aud: 'another-app' }))],
      ['other issuer', await signWithDevKey(f, expiredClaims({ iss: 'https://elsewhere.example' }))],
      ['role this API refuses', await signWithDevKey(f, expiredClaims({ role: 'superuser' }))],
      ['unsigned', `${b64url({ alg: 'none', typ: 'JWT' })}.${b64url(expiredClaims())}.`],
    ];
    const answers = [];
    for (const [, token] of cases) answers.push(await http('GET', `${f.url}/v1/patients/p1`, token));
    expect(answers.map((a) => a.status)).toEqual([401, 401, 401, 401, 401, 401]);
    // The genuine expired token's answer is the one an expired token always got.
    expect(answers[0]!.body).toEqual({ error: { code: 'PB_AUTH_INVALID_TOKEN', message: 'the token has expired' } });
    const entries = (await auditOf(f)).filter((e) => e.action === 'auth.failed');
    expect(entries.map((e, i) => [cases[i]![0], e.actor, e.detail])).toEqual([
      ['genuine', { sub: 'dr-b', role: 'clinician' }, 'the token has expired'],
      ['forged signature', ANONYMOUS_ACTOR, 'the token signature is invalid'],
      ['other audience', ANONYMOUS_ACTOR, "the token's aud claim is not accepted"],
      ['other issuer', ANONYMOUS_ACTOR, "the token's iss claim is not accepted"],
      ['role this API refuses', ANONYMOUS_ACTOR, 'the token has expired'],
      ['unsigned', ANONYMOUS_ACTOR, 'the token algorithm is not accepted'],
    ]);
    // Nothing else was disclosed or recorded for them.
    expect(await auditOf(f)).toHaveLength(cases.length);
  });

  test('expired genuine tokens count against the same flood limit: 20 entries naming the subject, then one anonymous count', async () => {
    const entries: AuditEntry[] = [];
    const { fx: f } = await start({ audit: { record: async (e) => { entries.push(e); } } });
    const expired = await signWithDevKey(f, claims({ sub: 'dr-c', role: 'clinician', iat: nowS() - 7200, exp: nowS() - 120 }));
    const n = AUTH_FAILURES_AUDITED_PER_ADDRESS + 5;
    for (let i = 0; i < n; i++) expect((await http('GET', `${f.url}/v1/alerts`, expired)).status).toBe(401);
    expect(entries).toHaveLength(AUTH_FAILURES_AUDITED_PER_ADDRESS);
    expect(new Set(entries.map((e) => `${e.actor.sub} ${e.actor.role} ${e.detail}`))).toEqual(new Set(['dr-c clinician the token has expired']));
    await f.api.close();
    await new Promise((r) => setTimeout(r, 20));
    expect(entries.slice(AUTH_FAILURES_AUDITED_PER_ADDRESS)).toEqual([expect.objectContaining({
      actor: ANONYMOUS_ACTOR, detail: '5 more failed authentications from this address in the last 60 s, not recorded one by one',
    })]);
  });

  // The security re-check (session 33) wrote 1,600 audit entries a second from one client without
  // a token: a flood could fill the disk the trail is on, and then every audited PHI read fails.
  test('10 000 bad tokens: the first 20 audited one by one and the rest as one entry with their count; one log line and one summary; audit writes held to the request limit', async () => {
    const entries: AuditEntry[] = [];
    let inFlight = 0;
    let maxInFlight = 0;
    // A sink a little slower than the requests, counting the writes waiting at once.
    const audit: AuditSink = {
      async record(e) {
        maxInFlight = Math.max(maxInFlight, ++inFlight);
        await new Promise((r) => setTimeout(r, 1));
        inFlight--;
        entries.push(e);
      },
    };
    const { fx: f, lines } = await start({ audit, maxConcurrentRequests: 8 });
    const n = 10_000;
    let next = 0;
    const statuses = new Map<number, number>();
    await Promise.all(Array.from({ length: 100 }, async () => {
      while (next < n) {
        const i = next++;
        const res = await fetch(`${f.url}/v1/alerts`, { headers: { authorization: `Bearer forged.${i}.token` } });
        await res.arrayBuffer();
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
      }
    }));
    expect([...statuses]).toEqual([[401, n]]);
    expect(entries).toHaveLength(AUTH_FAILURES_AUDITED_PER_ADDRESS);
    expect(new Set(entries.map((e) => `${e.action} ${e.actor.sub} ${e.route} ${e.status} ${e.detail}`))).toEqual(new Set(['auth.failed anonymous /v1/alerts 401 the token is malformed or invalid']));
    expect(maxInFlight).toBeLessThanOrEqual(8);
    expect(lines.filter((l) => l['msg'] === 'authentication failed')).toHaveLength(1);
    // The window's count is reported when it ends (here: at shutdown), in the log and the trail.
    await f.api.close();
    await new Promise((r) => setTimeout(r, 20));
    expect(entries.slice(AUTH_FAILURES_AUDITED_PER_ADDRESS)).toEqual([expect.objectContaining({
      action: 'auth.failed', actor: ANONYMOUS_ACTOR, outcome: 'denied', status: 401, remoteAddress: '127.0.0.1',
      detail: `${n - AUTH_FAILURES_AUDITED_PER_ADDRESS} more failed authentications from this address in the last 60 s, not recorded one by one`,
    })]);
    const summaries = lines.filter((l) => String(l['msg']).startsWith('authentication failures not logged'));
    expect(summaries).toEqual([expect.objectContaining({ level: 'warn', windowMs: 60_000, suppressed: n - 1, byAddress: { '127.0.0.1': n - 1 } })]);
    expect(lines.filter((l) => l['level'] === 'warn' || l['level'] === 'error')).toHaveLength(2);
  }, 60_000);

  test('whose audit entry cannot be written is still a 401, and the write failure is logged once per window', async () => {
    const { fx: f, lines } = await start({ audit: { record: async () => { throw new Error('disk full'); } } });
    for (let i = 0; i < 20; i++) expect((await http('GET', `${f.url}/v1/patients`, 'garbage')).status).toBe(401);
    expect(lines.filter((l) => l['level'] === 'error')).toEqual([expect.objectContaining({ msg: 'audit entry could not be written', action: 'auth.failed' })]);
    expect((await http('GET', `${f.url}/metrics`)).body).toContain('pulsebridge_dashboard_audit_failures_total 20');
  });
});

describe('AuthFailureLogLimit', () => {
  test('admits the first failure per address per window, at most maxAddresses addresses, and counts the rest', () => {
    const limit = new AuthFailureLogLimit({ maxAddresses: 3 });
    const admitted = ['a', 'a', 'b', 'a', 'c', 'd', 'e', 'b'].map((addr) => limit.admit(addr));
    expect(admitted).toEqual([true, false, true, false, true, false, false, false]);
    expect(limit.roll()).toEqual({ suppressed: 5, byAddress: { a: 2, b: 1, '(other addresses)': 2 }, all: [['a', 2], ['b', 1], ['(other addresses)', 2]] });
    // A new window: each address gets its line again; nothing kept back, nothing to report.
    expect(['a', 'd'].map((addr) => limit.admit(addr))).toEqual([true, true]);
    expect(limit.roll()).toBeUndefined();
  });

  test('admits the first perAddress failures of each address', () => {
    const limit = new AuthFailureLogLimit({ perAddress: 2 });
    expect(['a', 'a', 'b', 'a', 'a', 'b'].map((addr) => limit.admit(addr))).toEqual([true, true, true, false, false, true]);
    expect(limit.roll()).toEqual({ suppressed: 2, byAddress: { a: 2 }, all: [['a', 2]] });
  });
});
