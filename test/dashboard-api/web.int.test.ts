/**
 * The dashboard page in a real browser (Debian Chromium through playwright-core): sign in with a
 * token in the URL fragment, see an alert appear live, acknowledge it, notice a disconnect, and
 * catch up on what was missed after reconnecting.
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { chromium } from 'playwright-core';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, expect, test } from 'vitest';
import type { AlertEnvelope } from '../../contracts/alert.ts';
import { STREAMS } from '../../contracts/topics.ts';
import { silentLogger } from '../../platform/log.ts';
import { MetricsRegistry } from '../../platform/metrics.ts';
import { JsonlAuditSink } from '../../dashboard-api/audit.ts';
import type { AuditEntry } from '../../dashboard-api/audit.ts';
import { createDevTokenVerifier } from '../../dashboard-api/auth.ts';
import { registryPatientDirectory } from '../../dashboard-api/patient-directory.ts';
import { createDashboardApi } from '../../dashboard-api/server.ts';
import { describeWithService } from '../helpers/services.ts';
import { makeAlert, publishAlerts, startFixture } from './helpers.ts';
import type { Fixture } from './helpers.ts';

// Runs in the page (the test's tsconfig has no DOM library).
declare const getComputedStyle: (element: unknown) => { backgroundColor: string };

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

    const highRow = page.locator(`tr[data-alert-id="${high.id}"]`);
    await highRow.waitFor();
    await page.locator(`tr[data-alert-id="${low.id}"]`).waitFor();
    // Newest first; the other patient's alert is not on this board.
    expect(await page.locator('#alert-rows tr').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-alert-id')))).toEqual([high.id, low.id]);
    expect(await highRow.locator('td').allInnerTexts()).toEqual([
      'HIGH',
      'Extreme bradycardia\nphysiological · 35 bpm · 5 beats · five consecutive beats under 40 bpm',
      'p1\ndev-p1',
      expect.stringMatching(/ago$/),
      expect.any(String),
      'active',
      expect.any(String),
    ]);
    expect(await highRow.getByRole('button').allInnerTexts()).toEqual(['Acknowledge', 'Resolve']);
    expect(await highRow.locator('.badge').evaluate((b) => getComputedStyle(b).backgroundColor)).toMatch(/^rgb\(229, 50, 45\)|^rgb\(90, 18, 16\)/);
    expect(await page.locator(`tr[data-alert-id="${low.id}"] .badge`).evaluate((b) => getComputedStyle(b).backgroundColor)).toBe('rgb(30, 200, 224)');
    expect(await page.locator('#count-high').textContent()).toBe('1');
    await page.screenshot({ path: path.join(RESULTS, 'dashboard-live.png') });

    await highRow.getByRole('button', { name: 'Acknowledge' }).click();
    await page.locator(`tr[data-alert-id="${high.id}"][data-state="acknowledged"]`).waitFor();
    expect(await highRow.locator('td').nth(5).innerText()).toBe('acknowledged\nby dr-web');
    const published = fx.bus.read(STREAMS.alerts).map((m) => JSON.parse(String(m.value)) as AlertEnvelope);
    expect(published.at(-1)).toMatchObject({ source: 'clinician', alert: { id: high.id, state: 'acknowledged', acknowledgedBy: 'dr-web', revision: 1 } });
    expect(errors).toEqual([]);
  });

  test('without a token it says no alerts are being received and signs in with a pasted token', async () => {
    const fresh = await browser.newPage({ viewport: { width: 1280, height: 720 } });
    await fresh.goto(`${fx.url}/`);
    await fresh.locator('#connection.state-unauthorized').waitFor();
    expect(await fresh.locator('#connection-status').textContent()).toBe('NOT SIGNED IN — no alerts are being received');
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
    expect(await page.locator('#connection-status').textContent()).toBe('NOT CONNECTED — alerts are NOT being received');
    expect(await page.title()).toBe('⚠ NOT CONNECTED — Pulsebridge');
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

    await page.locator(`tr[data-alert-id="${missed.id}"]`).waitFor();
    await page.locator('#connection.state-live').waitFor();
    const rows = await page.locator('#alert-rows tr').evaluateAll((trs) => trs.map((r) => [r.getAttribute('data-alert-id'), r.getAttribute('data-state')]));
    expect(rows).toEqual([
      [missed.id, 'active'],
      [makeAlert('p1', 'extreme_brady', 3).id, 'acknowledged'],
      [makeAlert('p3', 'lead_off', 2).id, 'active'],
    ]);
    // First connect: after the REST snapshot of an empty log (-1). Reconnect: after the last event
    // the page had seen (3: the acknowledgement), not starting over.
    const audit = (await readFile(fx.auditPath, 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as AuditEntry);
    expect(audit.filter((e) => e.action === 'stream.open' && e.actor.sub === 'dr-web').map((e) => e.detail)).toEqual(['lastEventId=-1', 'lastEventId=3']);
    const live = makeAlert('p3', 'low_battery', 11);
    await publishAlerts(fx.bus, again.projection, [live]);
    await page.locator(`tr[data-alert-id="${live.id}"]`).waitFor();
  });
});
