/**
 * The dashboard page in a real browser (Debian Chromium through playwright-core): sign in with a
 * token in the URL fragment, see an alert appear live on its patient's tile, acknowledge it,
 * notice a disconnect (actions disabled), and catch up on what was missed after reconnecting.
 * The live pipeline (processor, sound, ECG, renewal) is in central-station.int.test.ts.
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { chromium } from 'playwright-core';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, expect, test } from 'vitest';
import type { AlertEnvelope } from '../../contracts/alert.ts';
import type { OperatorAlarmRecord } from '../../contracts/operator-alarm.ts';
import { STREAMS } from '../../contracts/topics.ts';
import { silentLogger } from '../../platform/log.ts';
import { MetricsRegistry } from '../../platform/metrics.ts';
import { JsonlAuditSink } from '../../dashboard-api/audit.ts';
import type { AuditEntry } from '../../dashboard-api/audit.ts';
import { createDevTokenVerifier } from '../../dashboard-api/auth.ts';
import { demoPatientIdentity, registryPatientDirectory } from '../../dashboard-api/patient-directory.ts';
import { createDashboardApi } from '../../dashboard-api/server.ts';
import { describeWithService } from '../helpers/services.ts';
import type { EcgStrip } from '../../contracts/ecg-strip.ts';
import { makeAlert, publishAlerts, startFixture, T0 } from './helpers.ts';
import type { TelemetryRecord } from '../../contracts/telemetry.ts';
import { buildFrames, type TimedBeat } from '../../device-sim/frames.ts';
import { InProcessBus } from '../../platform/bus/index.ts';
import { criteriaRoutes } from '../../dashboard-api/routes-criteria.ts';
import type { Fixture } from './helpers.ts';

// Runs in the page (the test's tsconfig has no DOM library).
declare const getComputedStyle: (element: unknown) => { backgroundColor: string; animationName: string; animationDuration: string; animationTimingFunction: string };
declare const window: { __pbAudio: { wanted: string | null } };
declare const document: { styleSheets: Iterable<{ cssRules: Iterable<{ name?: string; cssRules?: Iterable<{ keyText: string }> }> }> };

const CHROMIUM = '/usr/bin/chromium';
const RESULTS = path.resolve('test-results');

await describeWithService('dashboard page in Chromium', async () => existsSync(CHROMIUM), () => {
  let fx: Fixture;
  let browser: Browser;
  let page: Page;

  beforeAll(async () => {
    await mkdir(RESULTS, { recursive: true });
    fx = await startFixture({ heartbeatIntervalMs: 2000 });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    page = await browser.newPage({ viewport: { width: 1280, height: 720 } });
  });

  afterAll(async () => {
    await browser?.close();
    await fx?.close();
  });

  test('shows live alerts of the clinician\'s patients and acknowledges one from the page', async () => {
    const token = await fx.token('dr-web', 'clinician', ['p1', 'p3']);
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });

    await page.goto(`${fx.url}/#token=${token}`);
    await page.locator('#connection.state-live').waitFor();
    expect(page.url()).toBe(`${fx.url}/`); // the token left the address bar
    expect(await page.locator('#identity').textContent()).toBe('dr-web · clinician · patients: p1, p3');

    const hidden = makeAlert('p2', 'asystole', 1);
    const low = makeAlert('p3', 'lead_off', 2);
    const high = makeAlert('p1', 'extreme_brady', 3);
    await publishAlerts(fx.bus, fx.api.projection, [hidden, low, high]);

    const highRow = page.locator(`li[data-alert-id="${high.id}"]`);
    await highRow.waitFor();
    await page.locator(`li[data-alert-id="${low.id}"]`).waitFor();
    // One tile per care-team patient, the high alarm's patient first; the other patient is not on this board.
    expect(await page.locator('#board .tile').evaluateAll((tiles) => tiles.map((t) => t.getAttribute('data-patient-id')))).toEqual(['p1', 'p3']);
    expect(await page.locator('[data-patient-id="p1"] .tile-name').textContent()).toBe(demoPatientIdentity('p1').displayName);
    expect(await page.locator('[data-patient-id="p1"] .tile-mrn').textContent()).toBe(`MRN ${demoPatientIdentity('p1').mrn.value}`);
    expect(await highRow.innerText()).toMatch(/^HIGH\s*Extreme bradycardia · 35\/min for 5 beats · \d+ (s|min|h|d) ago/);
    expect(await highRow.getByRole('button').allInnerTexts()).toEqual(['Acknowledge', 'Resolve…']);
    expect(await highRow.getByRole('button', { name: `Acknowledge Extreme bradycardia of ${demoPatientIdentity('p1').displayName}` }).count()).toBe(1);
    expect(await highRow.locator('.badge').evaluate((b) => getComputedStyle(b).backgroundColor)).toMatch(/^rgb\(229, 50, 45\)|^rgb\(90, 18, 16\)/);
    expect(await page.locator(`li[data-alert-id="${low.id}"] .badge`).evaluate((b) => getComputedStyle(b).backgroundColor)).toBe('rgb(30, 200, 224)');
    expect(await page.locator('#count-high').textContent()).toBe('1');
    // No telemetry from these devices: the tiles say so instead of showing a number.
    expect(await page.locator('[data-patient-id="p3"] .hr-value').textContent()).toBe('---');
    expect(await page.locator('[data-patient-id="p3"] .nodata-banner').textContent()).toBe('NO DATA since the board connected');
    await page.screenshot({ path: path.join(RESULTS, 'dashboard-live.png') });

    await highRow.getByRole('button', { name: 'Acknowledge' }).click();
    await page.locator(`li[data-alert-id="${high.id}"][data-state="acknowledged"]`).waitFor();
    expect(await highRow.innerText()).toContain('acknowledged by dr-web');
    // The header's colours count what still waits for someone; the acknowledged alarm is counted beside them.
    expect(await page.locator('#count-high').textContent()).toBe('0');
    expect(await page.locator('#count-low').textContent()).toBe('1');
    expect(await page.locator('#count-acknowledged').textContent()).toBe('+ 1 acknowledged');
    const published = fx.bus.read(STREAMS.alerts).map((m) => JSON.parse(String(m.value)) as AlertEnvelope);
    expect(published.at(-1)).toMatchObject({ source: 'clinician', alert: { id: high.id, state: 'acknowledged', acknowledgedBy: 'dr-web', revision: 1 } });

    expect(errors).toEqual([]);
  });

  test('without a token it says no alerts are being received and signs in with a pasted token', async () => {
    const fresh = await browser.newPage({ viewport: { width: 1280, height: 720 } });
    await fresh.goto(`${fx.url}/`);
    await fresh.locator('#connection.state-unauthorized').waitFor();
    expect(await fresh.locator('#connection-status').textContent()).toBe('NOT SIGNED IN — no alarms are being received');
    expect(await fresh.locator('#sign-in').isVisible()).toBe(true);
    await fresh.screenshot({ path: path.join(RESULTS, 'dashboard-sign-in.png') });

    await fresh.locator('#token-input').fill('not-a-token');
    await fresh.getByRole('button', { name: 'Use token' }).click();
    await fresh.locator('#sign-in-error', { hasText: 'The server rejected the token.' }).waitFor();

    await fresh.locator('#token-input').fill(await fx.token('dr-paste', 'clinician', ['p1']));
    await fresh.getByRole('button', { name: 'Use token' }).click();
    await fresh.locator('#connection.state-live').waitFor();
    expect(await fresh.locator('#sign-in').isVisible()).toBe(false);
    await fresh.close();
  });

  test('says loudly when it is disconnected and catches up on missed alerts after reconnecting', async () => {
    const port = Number(new URL(fx.url).port);
    await fx.api.close();
    await page.locator('#connection.state-disconnected').waitFor();
    expect(await page.locator('#connection-status').textContent()).toBe('NOT CONNECTED — alarms are NOT being received');
    expect(await page.title()).toBe('⚠ NOT CONNECTED — Pulsebridge');
    // Nothing can reach the server: every action is disabled, and the board says it is stale.
    const buttons = page.locator('#board button');
    expect(await buttons.count()).toBeGreaterThan(0);
    expect(await buttons.evaluateAll((bs) => bs.every((b) => (b as unknown as { disabled: boolean }).disabled))).toBe(true);
    expect(await page.locator('#stale-note').isVisible()).toBe(true);
    await page.screenshot({ path: path.join(RESULTS, 'dashboard-disconnected.png') });

    // Published while the page was away; a new server instance on the same port folds the same stream.
    const missed = makeAlert('p1', 'vt', 10);
    await fx.bus.publish(STREAMS.alerts, [{ key: 'p1', value: Buffer.from(JSON.stringify({ schema: 'pb.alert.v1', source: 'processor', alert: missed })) }]);
    const again = createDashboardApi({
      bus: fx.bus,
      vitalsStore: fx.store,
      patients: registryPatientDirectory(fx.registry),
      auth: createDevTokenVerifier(fx.issuer),
      audit: new JsonlAuditSink({ dataDir: fx.dataDir }),
      logger: silentLogger,
      metrics: new MetricsRegistry(),
      heartbeatIntervalMs: 2000,
    });
    fx.api = again;
    await again.listen(port, '127.0.0.1');

    await page.locator(`li[data-alert-id="${missed.id}"]`).waitFor();
    await page.locator('#connection.state-live').waitFor();
    // Most urgent first: the active VT, then the acknowledged extreme brady (same patient), then p3's lead-off.
    const rows = await page.locator('#board li[data-alert-id]').evaluateAll((lis) => lis.map((r) => [r.getAttribute('data-alert-id'), r.getAttribute('data-state')]));
    expect(rows).toEqual([
      [missed.id, 'active'],
      [makeAlert('p1', 'extreme_brady', 3).id, 'acknowledged'],
      [makeAlert('p3', 'lead_off', 2).id, 'active'],
    ]);
    expect(await page.locator('#board button').first().isEnabled()).toBe(true);
    // First connect: after the REST snapshot of an empty log (-1). Reconnect: after the last event
    // the page had seen (3: the acknowledgement), not starting over.
    const audit = (await readFile(fx.auditPath, 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as AuditEntry);
    expect(audit.filter((e) => e.action === 'stream.open' && e.actor.sub === 'dr-web').map((e) => e.detail)).toEqual(['lastEventId=-1', 'lastEventId=3']);
    const live = makeAlert('p3', 'low_battery', 11);
    await publishAlerts(fx.bus, again.projection, [live]);
    await page.locator(`li[data-alert-id="${live.id}"]`).waitFor();
  });

  test('a latched alarm whose condition ended says so, escalation shows, one episode\'s alarms are grouped', async () => {
    // The brady of the same episode is listed under the extreme brady, not as its own row.
    const latched = makeAlert('p3', 'asystole', 4, { end: new Date(T0 + 4 * 60_000 + 9000).toISOString(), escalationLevel: 2, escalatedAt: new Date(T0 + 5 * 60_000).toISOString() });
    const brady = makeAlert('p3', 'brady', 6);
    const extreme = makeAlert('p3', 'extreme_brady', 6);
    await publishAlerts(fx.bus, fx.api.projection, [latched, brady, extreme]);
    const latchedItem = page.locator(`li[data-alert-id="${latched.id}"]`);
    await latchedItem.waitFor();
    expect(await latchedItem.innerText()).toMatch(/Asystole · .* ago · ended, needs ack · ESCALATED ×2/);
    const group = page.locator(`li[data-alert-id="${extreme.id}"]`);
    await group.waitFor();
    expect(await group.innerText()).toContain('Extreme bradycardia with Bradycardia');
    expect(await page.locator(`li[data-alert-id="${brady.id}"]`).count()).toBe(0);
  });

  // Session 31, from a clinician's walkthrough: tiles ordered by their oldest unacknowledged alarm
  // kept a patient whose asystole had just begun below patients with alarms that ended long ago;
  // and a patient off the care team was drawn as an empty, quiet patient view.
  // Session 32 (operator walkthrough): with the processor down, heart rates kept moving on the board
  // and nothing said that no alarm could come.
  test('says in the alarm colour when no alarm analysis runs (the API\'s processor_silent alarm), and stops saying it when it runs again', async () => {
    let silent = false;
    const record: OperatorAlarmRecord = { schema: 'pb.operator-alarm.v1', source: 'dashboard-api', kind: 'processor_silent', state: 'active', sinceMs: Date.now() - 20_000, atMs: Date.now(), streams: [], streamCount: 0, gateways: [], reason: 'no processor heartbeat for 20 s' };
    const own = await startFixture({ operatorAlarms: { active: () => (silent ? [record] : []) } });
    const board = await browser.newPage({ viewport: { width: 1280, height: 720 } });
    try {
      await board.goto(`${own.url}/#token=${await own.token('dr-analysis', 'clinician', ['p1'])}`);
      await board.locator('#connection.state-live').waitFor();
      expect(await board.locator('#analysis').isVisible()).toBe(false);
      silent = true;
      await board.locator('#analysis').waitFor({ timeout: 10_000 });
      expect(await board.locator('#analysis-status').textContent()).toBe('ALARM ANALYSIS STOPPED — no alarm is being raised');
      expect(await board.locator('#analysis-detail').textContent()).toMatch(/^No alarm analysis has reported since \d\d:\d\d:\d\d: watch the patients' monitors directly\. Operators are alarmed\.$/);
      expect(await board.title()).toBe('⚠ NO ALARM ANALYSIS — Pulsebridge');
      // Session 33 (hardened walk): the connection line still said "LIVE — receiving alarms" in green.
      expect(await board.locator('#connection-status').textContent()).toBe('CONNECTED — patient data only, no alarm can arrive');
      expect(await board.locator('#connection.analysis-stopped').count()).toBe(1);
      silent = false;
      await board.locator('#analysis').waitFor({ state: 'hidden', timeout: 10_000 });
      expect(await board.title()).toBe('Pulsebridge');
      expect(await board.locator('#connection-status').textContent()).toBe('LIVE — receiving alarms and patient data');
      expect(await board.locator('#connection.analysis-stopped').count()).toBe(0);
    } finally {
      await board.close();
      await own.close();
    }
  });

  test('a condition that goes on comes before alarms that only wait for their acknowledgement; a patient off the care team gets one clear page', async () => {
    for (const p of ['p4', 'p5']) await fx.registry.add(`dev-${p}`, p, 'test');
    const ended = makeAlert('p4', 'asystole', 20, { end: new Date(T0 + 20 * 60_000 + 9000).toISOString() });
    const ongoing = makeAlert('p5', 'extreme_tachy', 30);
    await publishAlerts(fx.bus, fx.api.projection, [ended, ongoing]);
    const board = await browser.newPage({ viewport: { width: 1280, height: 720 } });
    await board.goto(`${fx.url}/#token=${await fx.token('dr-order', 'clinician', ['p4', 'p5'])}`);
    await board.locator(`li[data-alert-id="${ongoing.id}"]`).waitFor();
    expect(await board.locator('#board .tile').evaluateAll((tiles) => tiles.map((t) => t.getAttribute('data-patient-id')))).toEqual(['p5', 'p4']);
    // An onset ahead of the station's clock (the device's clock runs ahead) says so instead of "0 s ago".
    const ahead = makeAlert('p4', 'low_battery', 0, { onset: new Date(Date.now() + 90_000).toISOString() });
    await publishAlerts(fx.bus, fx.api.projection, [ahead]);
    await board.locator(`li[data-alert-id="${ahead.id}"]`).waitFor();
    expect(await board.locator(`li[data-alert-id="${ahead.id}"] .ago`).textContent()).toMatch(/^\d+ s ahead of this clock \(device clock\)$/);
    await board.close();

    const nurse = await browser.newPage({ viewport: { width: 1280, height: 720 } });
    const asked: string[] = [];
    nurse.on('request', (r) => { if (r.url().includes('/p5')) asked.push(r.url()); });
    await nurse.goto(`${fx.url}/#token=${await fx.token('nurse-p4', 'clinician', ['p4'])}`);
    await nurse.locator('#connection.state-live').waitFor();
    await nurse.goto(`${fx.url}/#/patient/p5`);
    await nurse.locator('#detail-denied').waitFor();
    expect(await nurse.locator('#detail-denied').textContent()).toBe('Patient p5 is not on your care team (or does not exist): nothing of theirs is shown, and the server refuses their data. Ask an administrator if they should be.');
    expect(await nurse.locator('#detail-body').isVisible()).toBe(false);
    expect(await nurse.locator('#detail-now').isVisible()).toBe(false);
    expect(asked).toEqual([]);
    await nurse.goto(`${fx.url}/#/patient/p4`);
    await nurse.locator('#detail-body').waitFor();
    expect(await nurse.locator('#detail-denied').isVisible()).toBe(false);
    await nurse.close();
  });

  test('a live ECG watch the server refuses (its audit entry could not be written) is said on the patient page, which keeps working', async () => {
    // The stream answers {"type":"error","request":"watch",…} and sends no waveform.
    const failing = await startFixture({ heartbeatIntervalMs: 2000, audit: { record: async (e) => { if (e.action === 'ecg.watch') throw new Error('disk full'); } } });
    const errors: string[] = [];
    const p = await browser.newPage({ viewport: { width: 1280, height: 720 } });
    p.on('pageerror', (e) => errors.push(e.message));
    try {
      await p.goto(`${failing.url}/#token=${await failing.token('dr-watch', 'clinician', ['p1'])}`);
      await p.locator('#connection.state-live').waitFor();
      await p.goto(`${failing.url}/#/patient/p1`);
      await p.locator('#detail-body').waitFor();
      await expect.poll(() => p.locator('#live-ecg-note').textContent(), { timeout: 5000 }).toBe('Live ECG not available: the audit log could not be written');
      expect(await p.locator('#connection').getAttribute('class')).toContain('state-live');
      expect(errors).toEqual([]);
    } finally {
      await p.close();
      await failing.close();
    }
  });
  // Session 34, from a cardiologist's walk with real records (/work/notes/cardiologist-walk.md
  // findings 5, 9, 12, 13): the board showed no rate, beat count or length of any alarm, read
  // "Extreme tachycardia with Extreme tachycardia", offered an "ECG" button (404s) for a device
  // that sends no ECG, left medium alarms steady and the strip legend without F and Q.
  test('alarm rows and the history say the evidence in clinical words, one kind is counted, no ECG button without a strip; medium flashes at 0.4–0.8 Hz; the strip legend names F and Q', async () => {
    for (const p of ['p6', 'p7', 'p8']) await fx.registry.add(`dev-${p}`, p, 'test');
    const onset = (minute: number) => T0 + minute * 60_000;
    const th = { minBeats: 5, hrAboveBpm: 100 };
    const vt = makeAlert('p6', 'vt', 40, { end: new Date(onset(40) + 5367).toISOString(), ecgStrip: true, evidence: { hrBpm: 167.6, rrMs: [375, 364, 345, 356, 365, 343], beatCount: 7, runMs: 2148, durationMs: 5367, criterion: 'VF-filter leakage 0.59 < 0.65 over 4 s of ECG; then ≥ 5 consecutive ventricular beats at HR > 100 bpm', thresholds: th } });
    const pause = makeAlert('p6', 'pause', 42, { ecgStrip: true, evidence: { gapMs: 3200, criterion: 'RR ≥ 3 s', thresholds: { gapMs: 3000 } } });
    const tachy1 = makeAlert('p7', 'extreme_tachy', 50, { end: new Date(onset(50) + 30_000).toISOString(), ecgStrip: false, evidence: { hrBpm: 152.3, beatCount: 17, criterion: 'HR > 140 bpm for 17 beats', thresholds: { hrAboveBpm: 140 } } });
    const tachy2 = makeAlert('p7', 'extreme_tachy', 51, { ecgStrip: false, evidence: { hrBpm: 147.4, beatCount: 17, criterion: 'HR > 140 bpm for 17 beats', thresholds: { hrAboveBpm: 140 } } });
    const af = makeAlert('p8', 'afib', 60, { ecgStrip: false, evidence: { hrBpm: 118.2, beatCount: 80, criterion: 'irregular RR for 30 s', thresholds: {} } });
    await publishAlerts(fx.bus, fx.api.projection, [vt, pause, tachy1, tachy2, af]);
    const strip: EcgStrip = {
      schema: 'pb.ecg-strip.v1', alertId: vt.id, kind: 'vt', patientId: 'p6', deviceId: 'dev-p6', startMs: onset(40) - 8000, fsHz: 250,
      uV: Array.from({ length: 16 * 250 }, (_, i) => Math.round(300 * Math.sin(i / 9))), leadOff: [],
      beats: [{ timeMs: onset(40) - 1600, cls: 'N' }, { timeMs: onset(40) - 800, cls: 'F' }, { timeMs: onset(40), cls: 'V' }, { timeMs: onset(40) + 360, cls: 'V' }, { timeMs: onset(40) + 3000, cls: 'Q' }],
    };
    await fx.store.writeEcgStrips([strip]);

    const board = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const errors: string[] = [];
    board.on('pageerror', (e) => errors.push(e.message));
    const ecgAsked: string[] = [];
    board.on('request', (r) => { if (r.url().includes('/ecg')) ecgAsked.push(r.url()); });
    try {
      await board.goto(`${fx.url}/#token=${await fx.token('dr-evidence', 'clinician', ['p6', 'p7', 'p8'])}`);
      const row = (a: { id: string }) => board.locator(`#board li[data-alert-id="${a.id}"]`);
      await row(af).waitFor();
      // B: the run, the silence, the rate — on the tile's alarm row, before the age.
      expect(await row(vt).locator('.alarm-text').innerText()).toMatch(/^Ventricular tachycardia · 7 ventricular beats at 168\/min over 2\.1 s · .* ago · ended, needs ack$/);
      expect(await row(pause).locator('.alarm-text').innerText()).toMatch(/^Pause · 3\.2 s without a beat · .* ago$/);
      expect(await row(af).locator('.alarm-text').innerText()).toMatch(/^Atrial fibrillation · irregular rhythm at 118\/min · .* ago$/);
      // One episode's alarms of one kind are counted, not listed as "X with X"; the lead's rate is shown.
      expect(await row(tachy2).locator('.alarm-text').innerText()).toMatch(/^Extreme tachycardia ×2 · 147\/min, above 140\/min for 17 beats · .* ago$/);
      expect(await row(tachy1).count()).toBe(0);

      // D: an active medium alarm flashes yellow at 0.4–0.8 Hz with a 20–60 % duty (IEC 60601-1-8 Table 2), its tile too.
      const flash = (sel: string) => board.locator(sel).evaluate((b) => {
        const cs = getComputedStyle(b);
        let keyframes: string[] = [];
        for (const sheet of document.styleSheets) for (const rule of sheet.cssRules) if (rule.name === cs.animationName && rule.cssRules) keyframes = [...rule.cssRules].map((k) => k.keyText);
        return { name: cs.animationName, duration: cs.animationDuration, timing: cs.animationTimingFunction, keyframes };
      });
      const medium = await flash(`#board li[data-alert-id="${af.id}"] .badge`);
      expect(medium.name).toBe('flash-medium');
      const hz = 1 / Number.parseFloat(medium.duration);
      expect(hz).toBeGreaterThanOrEqual(0.4);
      expect(hz).toBeLessThanOrEqual(0.8);
      // steps(1, end) with one keyframe at 50 %: the colour holds half the period (50 % duty).
      expect(medium.timing).toMatch(/^steps\(1(, end)?\)$/);
      expect(medium.keyframes).toEqual(['50%']);
      expect((await flash('#board .tile[data-patient-id="p8"]')).name).toBe('tile-flash-medium');
      expect((await flash(`#board li[data-alert-id="${tachy2.id}"] .badge`)).name).toBe('flash');
      // … and neither flashes for a user who asked for reduced motion.
      await board.emulateMedia({ reducedMotion: 'reduce' });
      expect((await flash(`#board li[data-alert-id="${af.id}"] .badge`)).name).toBe('none');
      expect((await flash('#board .tile[data-patient-id="p8"]')).name).toBe('none');
      expect((await flash(`#board li[data-alert-id="${tachy2.id}"] .badge`)).name).toBe('none');
      await board.emulateMedia({ reducedMotion: 'no-preference' });

      // C: an RR-only device's alarm (ecgStrip false) has no ECG button, and no strip is asked for.
      await board.goto(`${fx.url}/#/patient/p8`);
      const afRow = board.locator(`#history-rows tr[data-alert-id="${af.id}"]`);
      await afRow.waitFor();
      expect(await afRow.locator('.evidence').textContent()).toBe('irregular rhythm at 118/min');
      expect(await afRow.getByRole('button', { name: 'ECG' }).count()).toBe(0);
      await expect.poll(() => board.locator('#ecg-caption').textContent()).toBe('No ECG strip: the device of these alarms sends no ECG (heartbeat intervals only).');
      expect(ecgAsked).toEqual([]);

      // B in the history, E in the strip's legend.
      await board.goto(`${fx.url}/#/patient/p6`);
      const vtRow = board.locator(`#history-rows tr[data-alert-id="${vt.id}"]`);
      await vtRow.waitFor();
      expect(await vtRow.locator('.evidence').textContent()).toBe('7 ventricular beats at 168/min over 2.1 s');
      expect(await board.locator(`#history-rows tr[data-alert-id="${pause.id}"] .evidence`).textContent()).toBe('3.2 s without a beat');
      await vtRow.getByRole('button', { name: 'ECG' }).click();
      await board.locator(`#ecg[data-alert-id="${vt.id}"]`).waitFor();
      expect(await board.locator('#ecg-caption').textContent()).toContain('letters = beat classes (N normal, V ventricular, S supraventricular, F fusion, Q unclassified or paced)');
      expect(errors).toEqual([]);
    } finally {
      await board.close();
    }
  });

  // The same walk (finding 2): an AF that ended before anyone saw it stays until reviewed (the
  // lifecycle latches AF, alarm-lifecycle.ts latchingKinds), and an alarm the processor closed
  // itself read "resolved by pulsebridge-processor", as if someone had dealt with it.
  test('an ended AF says it needs review; an alarm that ended on its own says so, not who "resolved" it', async () => {
    await fx.registry.add('dev-p9', 'p9', 'test');
    const at = (minute: number, s = 0) => new Date(T0 + minute * 60_000 + s * 1000).toISOString();
    const af = makeAlert('p9', 'afib', 70, { end: at(77), ecgStrip: false, evidence: { hrBpm: 121, criterion: 'irregular RR for 30 s', thresholds: {} } });
    const brady = makeAlert('p9', 'brady', 60, { state: 'resolved', end: at(63), resolvedBy: 'pulsebridge-processor', resolvedAt: at(65), ecgStrip: false });
    const tachy = makeAlert('p9', 'tachy', 62, { state: 'resolved', end: at(64), acknowledgedBy: 'dr-x', acknowledgedAt: at(62, 30), resolvedBy: 'pulsebridge-processor', resolvedAt: at(66), ecgStrip: false,
      evidence: { hrBpm: 125, note: 'alarm switched off for this patient', criterion: 'HR > 120 bpm', thresholds: {} } });
    const byHand = makeAlert('p9', 'pause', 66, { state: 'resolved', resolvedBy: 'dr-y', resolvedAt: at(67), resolveReason: 'Artefact', ecgStrip: false, evidence: { gapMs: 3100, criterion: 'RR ≥ 3 s', thresholds: {} } });
    // Walk #3: an AF that ended into a fast regular rhythm says so (processor/detectors/afib.ts endNote).
    const flutterNote = 'irregularity ended, rate 149/min regular — consider atrial flutter';
    const afToFlutter = makeAlert('p9', 'afib', 68, { end: at(69), ecgStrip: false, evidence: { hrBpm: 140, endNote: flutterNote, criterion: 'irregular RR for 30 s', thresholds: {} } });
    const afToFlutterClosed = makeAlert('p9', 'afib', 50, { state: 'resolved', end: at(52), acknowledgedBy: 'dr-x', acknowledgedAt: at(51), resolvedBy: 'pulsebridge-processor', resolvedAt: at(54), ecgStrip: false,
      evidence: { hrBpm: 140, endNote: flutterNote, criterion: 'irregular RR for 30 s', thresholds: {} } });
    await publishAlerts(fx.bus, fx.api.projection, [af, brady, tachy, byHand, afToFlutter, afToFlutterClosed]);
    const board = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    try {
      await board.goto(`${fx.url}/#token=${await fx.token('dr-review', 'clinician', ['p9'])}`);
      const item = board.locator(`#board li[data-alert-id="${af.id}"]`);
      await item.waitFor();
      expect(await item.locator('.alarm-text').innerText()).toMatch(/^Atrial fibrillation · irregular rhythm at 121\/min · .* ago · ended, needs review$/);
      await board.goto(`${fx.url}/#/patient/p9`);
      const handled = (a: { id: string }) => board.locator(`#history-rows tr[data-alert-id="${a.id}"] .handled`).textContent();
      await board.locator(`#history-rows tr[data-alert-id="${byHand.id}"]`).waitFor();
      expect(await board.locator(`#history-rows tr[data-alert-id="${af.id}"] .state-pill`).textContent()).toBe('ended, needs review');
      expect(await handled(brady)).toMatch(/^ended on its own at [-\d ]*\d\d:\d\d:\d\d \(not reviewed\)$/);
      expect(await handled(tachy)).toMatch(/^acknowledged by dr-x at [-\d ]*\d\d:\d\d:\d\d; closed by Pulsebridge at [-\d ]*\d\d:\d\d:\d\d: alarm switched off for this patient$/);
      expect(await handled(byHand)).toMatch(/^resolved by dr-y at [-\d ]*\d\d:\d\d:\d\d — “Artefact”$/);
      expect(await board.locator('#history-rows').textContent()).not.toContain('pulsebridge-processor');
      expect(await board.locator(`#history-rows tr[data-alert-id="${afToFlutter.id}"] .evidence`).textContent()).toBe(`irregular rhythm at 140/min; ${flutterNote}`);
      expect(await board.locator(`#history-rows tr[data-alert-id="${af.id}"] .evidence`).textContent()).toBe('irregular rhythm at 121/min');
      expect(await handled(afToFlutterClosed)).toMatch(new RegExp(`^acknowledged by dr-x at [-\\d ]*\\d\\d:\\d\\d:\\d\\d; ended on its own at [-\\d ]*\\d\\d:\\d\\d:\\d\\d \\(${flutterNote}\\)$`));
    } finally {
      await board.close();
    }
  });

  // A latched AF whose condition ended kept the medium tone and flashing until someone reviewed it
  // (session 35's leftover): it now stays on the board steady and silent; a high-priority latched
  // alarm keeps sounding until acknowledged, and an AF that goes on sounds as before.
  test('an ended AF waiting for review is steady and silent; an AF that goes on and an ended asystole still sound', async () => {
    await fx.registry.add('dev-p10', 'p10', 'test');
    await fx.registry.add('dev-p11', 'p11', 'test');
    const at = (minute: number) => new Date(T0 + minute * 60_000).toISOString();
    const endedAf = makeAlert('p10', 'afib', 80, { end: at(85), ecgStrip: false, evidence: { hrBpm: 118, criterion: 'irregular RR for 30 s', thresholds: {} } });
    await publishAlerts(fx.bus, fx.api.projection, [endedAf]);
    const board = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const audio = () => board.evaluate(() => window.__pbAudio.wanted);
    const tileClass = (p: string) => board.locator(`#board .tile[data-patient-id="${p}"]`).getAttribute('class');
    try {
      await board.goto(`${fx.url}/#token=${await fx.token('dr-latch', 'clinician', ['p10', 'p11'])}`);
      const item = board.locator(`#board li[data-alert-id="${endedAf.id}"]`);
      await item.waitFor();
      expect(await item.locator('.alarm-text').innerText()).toMatch(/ended, needs review$/);
      expect(await audio()).toBe(null);
      expect(await tileClass('p10')).toMatch(/\blatched\b/);
      expect(await tileClass('p10')).not.toMatch(/\balarming\b/);
      expect(await item.getAttribute('class')).toMatch(/\blatched\b/);
      expect(await item.locator('.badge').evaluate((b) => getComputedStyle(b).animationName)).toBe('none');
      // An ongoing low-priority technical alarm beside it sounds low; the tile does not flash medium for the AF.
      const leadOff = makeAlert('p10', 'lead_off', 86, { ecgStrip: false, evidence: { criterion: 'leads off', thresholds: {} } });
      await publishAlerts(fx.bus, fx.api.projection, [leadOff]);
      await board.locator(`#board li[data-alert-id="${leadOff.id}"]`).waitFor();
      await board.waitForFunction(() => window.__pbAudio.wanted === 'low');
      expect(await tileClass('p10')).toMatch(/\blatched\b/);
      expect(await tileClass('p10')).not.toMatch(/\balarming\b/);

      const ongoingAf = makeAlert('p11', 'afib', 86, { ecgStrip: false, evidence: { hrBpm: 124, criterion: 'irregular RR for 30 s', thresholds: {} } });
      await publishAlerts(fx.bus, fx.api.projection, [ongoingAf]);
      await board.locator(`#board li[data-alert-id="${ongoingAf.id}"]`).waitFor();
      await board.waitForFunction(() => window.__pbAudio.wanted === 'medium');
      expect(await tileClass('p11')).toMatch(/\balarming\b/);
      expect(await board.locator(`#board li[data-alert-id="${ongoingAf.id}"] .badge`).evaluate((b) => getComputedStyle(b).animationName)).toBe('flash-medium');

      const endedAsystole = makeAlert('p10', 'asystole', 87, { end: at(87.2) });
      await publishAlerts(fx.bus, fx.api.projection, [endedAsystole]);
      await board.locator(`#board li[data-alert-id="${endedAsystole.id}"]`).waitFor();
      await board.waitForFunction(() => window.__pbAudio.wanted === 'high');
      expect(await tileClass('p10')).toMatch(/\balarming\b/);
    } finally {
      await board.close();
    }
  });

  // Cardiologist walk #9: the board showed the detector's criterion ("VF-filter leakage … Kuo &
  // Dillman 1978; fhir-and-alarms.md §5", "issue 4", "P-wave coherence 0.33, limit 0.5"), and the
  // criteria form asked a clinician for a VF-filter leakage. The criterion texts below are the
  // processor's own (vt.ts, afib.ts, brady.ts, pause.ts, stream-runtime.ts).
  test('alarms read as clinical sentences; the detector\'s criterion with its sources stays behind a tooltip and a collapsed "criterion"; engineering criteria are labelled', async () => {
    // Its own API with the criteria routes (the shared fixture has none): criteria on a bus of their own, the defaults.
    const criteria = criteriaRoutes({ bus: new InProcessBus(), logger: silentLogger });
    const words = await startFixture({ heartbeatIntervalMs: 2000, routeModules: [criteria] });
    await words.registry.add('dev-p11', 'p11', 'test');
    const vtCriterion = 'VF-filter leakage 0.59 < 0.65 over 4 s of ECG: VT/VF/flutter waveform (Kuo & Dillman 1978; fhir-and-alarms.md §5 VF/flutter ≥ 4 s, raised as vt); then ≥ 5 consecutive ventricular beats at HR > 100 bpm (PhysioNet/CinC 2015; Philips default)';
    const vt = makeAlert('p11', 'vt', 80, { ecgStrip: true, evidence: { hrBpm: 167.6, beatCount: 7, runMs: 2148, criterion: vtCriterion, thresholds: { minBeats: 5, hrAboveBpm: 100, leakageBelow: 0.65 } } });
    const waveOnly = makeAlert('p11', 'vt', 81, { ecgStrip: true, evidence: { beatCount: 0, criterion: 'VF-filter leakage 0.64 < 0.65 over 4 s of ECG: VT/VF/flutter waveform (Kuo & Dillman 1978; fhir-and-alarms.md §5 VF/flutter ≥ 4 s, raised as vt)', thresholds: { minBeats: 5, hrAboveBpm: 100, leakageBelow: 0.65 } } });
    const pause = makeAlert('p11', 'pause', 82, { ecgStrip: true, evidence: { gapMs: 3400, criterion: 'RR ≥ 3 s (pause); ≥ 5 s is an asystole, not a pause', thresholds: { minRrMs: 3000 } } });
    const brady = makeAlert('p11', 'brady', 83, { ecgStrip: true, evidence: { hrBpm: 44.2, beatCount: 25, criterion: 'HR < 50 bpm for 5 consecutive beats; ends at HR ≥ 55 bpm for 5 beats (limit alarm); sustained 30 s', thresholds: { limitBpm: 50, consecutiveBeats: 5, hysteresisBpm: 5, recoveryBeats: 5, sustainMs: 30_000 } } });
    const af = makeAlert('p11', 'afib', 84, { ecgStrip: true, evidence: { hrBpm: 118.2, beatCount: 90, durationMs: 45_000, criterion: 'irregular RR (Petrėnas et al. 2015 8-beat detector) for ≥ 30 s (ESC 2016), no consistent P wave in the ECG (P-wave coherence 0.33, limit 0.5)', thresholds: { minEpisodeMs: 30_000 } } });
    const loss = makeAlert('p11', 'signal_loss', 85, { evidence: { criterion: 'no telemetry received for ≥ 10 s (issue 4: a streaming device silent for 10 s); measured on arrival (wall clock), onset = end of the last frame', thresholds: { silenceMs: 10_000 } } });
    await publishAlerts(words.bus, words.api.projection, [vt, waveOnly, pause, brady, af, loss]);
    const board = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    const errors: string[] = [];
    board.on('pageerror', (e) => errors.push(e.message));
    try {
      await board.goto(`${words.url}/#token=${await words.token('dr-words', 'clinician', ['p11'])}`);
      await board.goto(`${words.url}/#/patient/p11`);
      const row = (a: { id: string }) => board.locator(`#history-rows tr[data-alert-id="${a.id}"]`);
      await row(loss).waitFor();
      const sentence = (a: { id: string }) => row(a).locator('.evidence').textContent();
      expect(await sentence(vt)).toBe('7 ventricular beats at 168/min over 2.1 s');
      expect(await sentence(waveOnly)).toBe('VT/VF-like waveform on the ECG, no ventricular beats counted: check the strip');
      expect(await sentence(pause)).toBe('3.4 s without a beat');
      expect(await sentence(brady)).toBe('44/min, below 50/min for ≥ 30 s');
      expect(await sentence(af)).toBe('irregular rhythm at 118/min for 45 s, no P waves');
      expect(await sentence(loss)).toBe('no data from the device for ≥ 10 s: rhythm not monitored');
      // What a clinician sees of the history holds no document section, issue number or detector internals …
      const visible = await board.locator('#history-rows').innerText();
      for (const engineering of ['fhir-and-alarms', 'issue 4', 'VF-filter leakage', 'Petrėnas', 'P-wave coherence', 'wall clock']) expect(visible).not.toContain(engineering);
      // … and the criterion is one pointer or one click away: the sentence's tooltip, and a collapsed "criterion".
      expect(await row(vt).locator('.evidence').getAttribute('title')).toBe(`Criterion: ${vtCriterion}\nThresholds: minBeats 5, hrAboveBpm 100, leakageBelow 0.65`);
      const detail = row(vt).locator('details.criterion');
      expect(await detail.evaluate((d) => (d as unknown as { open: boolean }).open)).toBe(false);
      await detail.locator('summary').click();
      expect(await detail.locator('.criterion-text').innerText()).toContain('Kuo & Dillman 1978; fhir-and-alarms.md §5');
      expect(await row(loss).locator('details.criterion .criterion-text').textContent()).toContain('(issue 4: a streaming device silent for 10 s)');

      // The board's alarm row: the sentence, with the criterion as its tooltip.
      await board.goto(`${words.url}/#/`);
      const item = board.locator(`#board li[data-alert-id="${af.id}"]`);
      await item.waitFor();
      expect(await item.locator('.alarm-text').innerText()).toMatch(/^Atrial fibrillation · irregular rhythm at 118\/min for 45 s, no P waves · .* ago$/);
      expect(await item.locator('.evidence').getAttribute('title')).toContain('P-wave coherence 0.33, limit 0.5');

      // The criteria form: the VF-filter leakage and complex-similarity thresholds sit under an "engineering" tag, still editable.
      await board.goto(`${words.url}/#/patient/p11`);
      const leakage = board.locator('#criteria-form .engineering input[name="vt.leakageBelow"]');
      await leakage.waitFor();
      expect(await board.locator('#criteria-form .engineering input[name="vt.similarityMin"]').count()).toBe(1);
      expect(await leakage.locator('xpath=ancestor::span[contains(@class, "engineering")]').locator('.engineering-tag').textContent()).toBe('engineering');
      // The clinical limits are not under it.
      expect(await board.locator('#criteria-form .engineering input[name="vt.minBeats"]').count()).toBe(0);
      expect(await board.locator('#criteria-form').evaluate((f) => (f as unknown as { checkValidity(): boolean }).checkValidity())).toBe(true);
      expect(errors).toEqual([]);
    } finally {
      await board.close();
      await words.close();
      await criteria.close();
    }
  });

  // Cardiologist walk #7: in mitdb 106's bigeminy the tile's rate flipped 61 ↔ 136 every second
  // (the beat-to-beat rate of the newest frame). The tile shows the averaged rate (hrAvgBpm).
  test('the tile and the patient view show the averaged heart rate: bigeminy at RR 0.45 / 1.0 s reads 83, not the newest frame\'s beat-to-beat rate', async () => {
    const live = await startFixture({ heartbeatIntervalMs: 2000, liveVitals: true });
    const board = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    try {
      await live.registry.add('dev-p12', 'p12', 'test');
      await board.goto(`${live.url}/#token=${await live.token('dr-rate', 'clinician', ['p12'])}`);
      await board.locator('#connection.state-live').waitFor();
      // 19 s of bigeminy: beats 0.45 s and 1.0 s apart in turn (82.8/min), in 1 s frames; the last
      // frame holds one beat, 0.45 s after the one before.
      const beats: TimedBeat[] = [];
      for (let t = T0 + 200, i = 0; t < T0 + 19_000; t += i++ % 2 === 0 ? 450 : 1000) beats.push({ tMs: t, cls: i % 2 === 0 ? 'N' : 'V' });
      const frames = [...buildFrames(beats, { t0Ms: T0, durationMs: 19_000, battery: 80 })];
      const last = frames.at(-1)!.beats.filter((b) => b.rr > 0);
      const beatToBeat = 60000 / (last.reduce((sum, b) => sum + b.rr, 0) / last.length);
      // The newest frame's beat-to-beat rate (hrBpm, what the tile showed before) is far from the average.
      expect(Math.abs(beatToBeat - 82.8)).toBeGreaterThan(20);
      await live.bus.publish(STREAMS.telemetry, frames.map((frame) => ({ key: 'p12', value: Buffer.from(JSON.stringify({ schema: 'pb.telemetry.v1', deviceId: 'dev-p12', patientId: 'p12', format: 'json-v1', receivedAt: Date.now(), frame } satisfies TelemetryRecord)) })));
      const hr = board.locator('[data-patient-id="p12"] .hr-value');
      await board.locator('[data-patient-id="p12"] .hr-value', { hasText: /^83$/ }).waitFor();
      expect(await hr.getAttribute('title')).toMatch(/^Averaged heart rate: the mean of the last 12/);
      await board.goto(`${live.url}/#/patient/p12`);
      await board.locator('#detail-now', { hasText: /^83 bpm \(averaged\) · / }).waitFor();
    } finally {
      await board.close();
      await live.close();
    }
  });
});
