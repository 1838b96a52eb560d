/**
 * Production sign-in of the page in Chromium against an OpenID Connect provider (a minimal real
 * one, test/helpers/fake-oidc.ts): Authorization Code with PKCE (S256), the code removed from the
 * address bar, the API verifying the issuer's tokens (JWKS), and the refresh token keeping the
 * board live past the first access token's expiry.
 */
import { existsSync } from 'node:fs';
import { chromium } from 'playwright-core';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { createOidcTokenVerifier } from '../../dashboard-api/auth.ts';
import { describeWithService } from '../helpers/services.ts';
import { startFakeOidc, type FakeOidc } from '../helpers/fake-oidc.ts';
import { http, makeAlert, publishAlerts, startFixture, type Fixture } from './helpers.ts';

const CHROMIUM = '/usr/bin/chromium';
declare const window: { __pbBoard: { renewals: number; tokenExpiresAtMs: number } };

await describeWithService('page sign-in with OpenID Connect (Authorization Code + PKCE) in Chromium', async () => existsSync(CHROMIUM), () => {
  let idp: FakeOidc;
  let fx: Fixture;
  let browser: Browser;

  beforeAll(async () => {
    idp = await startFakeOidc({ sub: 'dr-oidc', role: 'clinician', patients: ['p1'] }, { clientId: 'pulsebridge-web', audience: 'pulsebridge', accessTtlSeconds: 4 });
    fx = await startFixture({
      auth: createOidcTokenVerifier({ issuer: idp.issuer, audience: 'pulsebridge' }),
      browserLogin: { issuer: idp.issuer, clientId: 'pulsebridge-web' },
      heartbeatIntervalMs: 1000,
    });
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'] });
  });

  afterAll(async () => {
    await browser?.close();
    await fx?.close();
    await idp?.close();
  });

  test('the API tells the page where to sign in and allows only that token endpoint besides itself', async () => {
    const config = await http('GET', `${fx.url}/v1/auth/config`);
    expect([config.status, config.body]).toEqual([200, {
      kind: 'oidc', issuer: idp.issuer, clientId: 'pulsebridge-web', scope: 'openid offline_access',
      authorizationEndpoint: `${idp.issuer}/authorize`, tokenEndpoint: `${idp.issuer}/token`,
    }]);
    const page = await http('GET', `${fx.url}/`);
    expect(page.headers.get('content-security-policy')).toContain(`connect-src 'self' ${idp.issuer};`);
  });

  test('signs in with PKCE, keeps the code out of the address bar, and stays live past the first token by refreshing', async () => {
    const page = await browser.newPage({ viewport: { width: 1000, height: 700 } });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${fx.url}/`);
    await page.locator('#connection.state-unauthorized').waitFor();
    await page.getByRole('button', { name: `Sign in with ${new URL(idp.issuer).host}` }).click();
    await page.locator('#connection.state-live').waitFor();
    expect(page.url()).toBe(`${fx.url}/`);
    expect(await page.locator('#identity').textContent()).toBe('dr-oidc · clinician · patients: p1');

    const authorize = idp.log.authorize[0]!;
    expect([authorize.get('code_challenge_method'), authorize.get('redirect_uri'), authorize.get('scope')]).toEqual(['S256', `${fx.url}/`, 'openid offline_access']);
    expect(authorize.get('code_challenge')).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(idp.log.token[0]!.get('grant_type')).toBe('authorization_code');
    expect(idp.log.token[0]!.get('code_verifier')).toMatch(/^[A-Za-z0-9_-]{43}$/);

    const firstExpiry = await page.evaluate(() => window.__pbBoard.tokenExpiresAtMs);
    await page.waitForFunction((t) => Date.now() > t + 2500, firstExpiry, { timeout: 20_000 });
    expect(await page.evaluate(() => window.__pbBoard.renewals)).toBeGreaterThan(0);
    expect(idp.log.token.slice(1).map((f) => f.get('grant_type'))).toContain('refresh_token');
    expect(await page.locator('#connection').getAttribute('class')).toBe('connection state-live');
    const late = makeAlert('p1', 'brady', 1, { onset: new Date().toISOString() });
    await publishAlerts(fx.bus, fx.api.projection, [late]);
    await page.locator(`li[data-alert-id="${late.id}"]`).waitFor();
    expect(errors).toEqual([]);
    await page.close();
  });
});
