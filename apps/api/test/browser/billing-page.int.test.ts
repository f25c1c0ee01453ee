import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { rootLogger } from '@billing/logger';
import { closeServer, listen } from '@billing/runtime';
import { useTestServices } from '@billing/testing';
import express from 'express';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiKey } from '../../src/auth/api-keys.js';
import { billingPageRouter } from '../../src/billing-page/router.js';
import { SERVICE_TOKEN, uniqueUser } from '../support.js';
import { ARTIFACTS_DIR, type BrowserStack, startBrowserStack } from './stack.js';

/**
 * The billing page in headless Chromium against the whole system in simulator mode: a free
 * user checks out on the simulator's hosted page, then switches the interval and upgrades,
 * and the page shows each new state once Stripe's webhook has gone through the ingress, the
 * queue and the worker. Screenshots go to test-artifacts/browser/.
 */
const services = await useTestServices('billing-page');

let stack: BrowserStack;
let page: Page;

beforeAll(async () => {
  stack = await startBrowserStack(services);
  page = await stack.browser.newPage();
  page.setDefaultTimeout(60_000);
}, 90_000);

afterAll(async () => {
  await stack?.close();
}, 60_000);

const shot = (name: string) =>
  page.screenshot({ path: path.join(ARTIFACTS_DIR, `${name}.png`), fullPage: true });
const text = async (testId: string) =>
  ((await page.getByTestId(testId).textContent()) ?? '').trim();

const userId = uniqueUser('browser');

describe('billing page (simulator mode)', () => {
  it('shows a new user on the free plan, with usage against the free limit and the plan cards', async () => {
    await page.goto(`${stack.url}/billing?user=${userId}`);
    await expect.poll(() => text('plan-name')).toBe('Free');
    expect(await text('status')).toBe('free');
    expect(await text('mode')).toBe('Simulator mode');
    expect(await text('usage-text')).toBe('0 / 100');
    await expect.poll(() => page.getByTestId('plans').locator('[data-plan-id]').count()).toBe(3);
    expect(await text('choose-pro')).toBe('Choose Pro');
    await shot('01-free-user');
  });

  it('checks out on the simulator hosted page and shows Pro once the webhook lands', async () => {
    await page.getByTestId('choose-pro').click();
    await page.waitForURL(/\/checkout\/cs_test_/);
    expect(await text('checkout-product')).toBe('Subscribe to Pro');
    expect(await text('checkout-amount')).toContain('$29.00');
    await shot('02-hosted-checkout');

    await page.getByTestId('checkout-pay').click();
    await page.waitForURL((url) => url.pathname === '/billing');
    await expect.poll(() => text('plan-name'), { timeout: 60_000 }).toBe('Pro');
    expect(await text('status')).toBe('active');
    expect(await text('period')).toContain('billed monthly');
    // The success redirect's ?checkout=success is consumed; the user stays in the URL.
    expect(new URL(page.url()).searchParams.get('user')).toBe(userId);
    expect(await page.getByTestId('plan-pro').locator('button').textContent()).toBe('Current plan');
    await shot('03-pro-monthly');
  });

  it('shows usage reported by the app as a bar against the Pro limit', async () => {
    const response = await stack.api.call('/api/usage', {
      method: 'POST',
      json: {
        userId,
        metric: 'compute_minutes',
        quantity: 1200,
        occurredAt: new Date().toISOString(),
        idempotencyKey: `${userId}-browser-1`,
      },
    });
    expect(response.status).toBe(200);
    await page.reload();
    await expect.poll(() => text('usage-text')).toBe('1,200 / 5,000');
    expect(await page.getByTestId('usage-bar').getAttribute('data-percent')).toBe('24');
  });

  it('switches the plan cards to yearly prices', async () => {
    expect(await text('plan-business')).toContain('$99.00');
    await page.getByTestId('interval-year').click();
    expect(await page.getByTestId('interval-year').getAttribute('aria-pressed')).toBe('true');
    expect(await text('plan-business')).toContain('$990.00');
    expect(await text('plan-pro')).toContain('$290.00');
    // Pro yearly is not the current subscription (Pro monthly is), so it can be switched to.
    expect(await text('choose-pro')).toBe('Switch to Pro');
    await shot('04-yearly-prices');
  });

  it('upgrades to Business yearly and shows the new plan after the webhook', async () => {
    await page.getByTestId('choose-business').click();
    await expect
      .poll(() => text('banner'))
      .toMatch(/Switching to Business|You are now on Business/);
    await expect.poll(() => text('plan-name'), { timeout: 60_000 }).toBe('Business');
    expect(await text('banner')).toBe('You are now on Business (yearly).');
    expect(await text('period')).toContain('billed yearly');
    expect(await page.getByTestId('plan-business').locator('button').textContent()).toBe(
      'Current plan',
    );

    const api = (await (
      await stack.api.call(`/api/billing/subscription?userId=${userId}`)
    ).json()) as {
      subscription: { planId: string; interval: string; status: string };
    };
    expect(api.subscription).toMatchObject({
      planId: 'business',
      interval: 'year',
      status: 'active',
    });
    await shot('05-business-yearly');
  });

  it('cancels at the period end and says when the plan ends', async () => {
    await page.getByTestId('cancel').click();
    await expect
      .poll(() => page.getByTestId('cancel-note').isVisible(), { timeout: 60_000 })
      .toBe(true);
    expect(await text('cancel-note')).toMatch(
      /^Cancels on .+: Business stays active until then\.$/,
    );
    expect(await page.getByTestId('resume').isVisible()).toBe(true);
    await shot('06-cancel-at-period-end');
  });

  it('lists the user in the simulator-mode user picker', async () => {
    const response = await page.request.get(`${stack.url}/billing/users`);
    const body = (await response.json()) as {
      users: Array<{ userId: string; planId: string | null; status: string | null }>;
    };
    expect(body.users).toContainEqual({ userId, planId: 'business', status: 'active' });
  });
});

describe('simulator-mode routes', () => {
  it('serves the page with a strict Content-Security-Policy', async () => {
    const response = await fetch(`${stack.url}/billing`);
    expect(response.headers.get('content-type')).toContain('text/html');
    expect(response.headers.get('content-security-policy')).toContain("script-src 'self'");
    const html = await response.text();
    expect(html).not.toContain(SERVICE_TOKEN);
  });

  it('forwards only the allow-listed billing calls (tried POST usage and DELETE cancel)', async () => {
    const overview = await fetch(`${stack.url}/billing/sim-api/overview?userId=${userId}`);
    expect(overview.status).toBe(200);
    expect(
      ((await overview.json()) as { subscription: { planId: string } }).subscription.planId,
    ).toBe('business');

    const usage = await fetch(`${stack.url}/billing/sim-api/usage`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ userId, metric: 'compute_minutes', quantity: 1 }),
    });
    expect(usage.status).toBe(404);
    const deleted = await fetch(`${stack.url}/billing/sim-api/cancel`, { method: 'DELETE' });
    expect(deleted.status).toBe(404);
  });

  it("passes the API's validation errors through (tried an unknown plan)", async () => {
    const response = await fetch(`${stack.url}/billing/sim-api/upgrade`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ userId, planId: 'gold', interval: 'month' }),
    });
    expect(response.status).toBe(400);
    expect(((await response.json()) as { error: { code: string } }).error.code).toBeTruthy();
  });
});

describe('billing page (API-key mode)', () => {
  let keyServer: Server;
  let keyUrl: string;

  beforeAll(async () => {
    // The same API, with the page as production serves it: no picker, no proxy.
    const app = express();
    app.use(
      billingPageRouter({
        sql: stack.api.sql,
        logger: rootLogger(),
        serviceToken: SERVICE_TOKEN,
        simulator: false,
      }),
    );
    app.use(stack.api.api.app);
    keyServer = await listen(app, 0, '127.0.0.1');
    keyUrl = `http://127.0.0.1:${(keyServer.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    if (keyServer) await closeServer(keyServer, 1_000);
  });

  it('has no user list and no proxy', async () => {
    expect((await fetch(`${keyUrl}/billing/users`)).status).toBe(404);
    expect((await fetch(`${keyUrl}/billing/sim-api/overview?userId=${userId}`)).status).toBe(404);
  });

  it('shows the user of a pasted API key and resumes the cancelled subscription live', async () => {
    const { key } = await createApiKey(stack.api.db, {
      scope: 'user',
      userId,
      name: 'browser test',
    });
    await page.goto(`${keyUrl}/billing`);
    await expect.poll(() => text('mode')).toBe('API key');
    expect(await page.getByTestId('user-select').isVisible()).toBe(false);

    await page.getByTestId('api-key').fill(key);
    await page.getByTestId('api-key').press('Enter');
    await expect.poll(() => text('plan-name')).toBe('Business');
    expect(await page.getByTestId('cancel-note').isVisible()).toBe(true);

    await page.getByTestId('resume').click();
    await expect
      .poll(() => page.getByTestId('cancel-note').isVisible(), { timeout: 60_000 })
      .toBe(false);
    expect(await text('banner')).toBe('The subscription continues.');
    await shot('07-api-key-mode');
  });

  it('says so when the pasted key is not accepted (tried a made-up key)', async () => {
    await page.evaluate('sessionStorage.clear()');
    await page.goto(`${keyUrl}/billing`);
    await page.getByTestId('api-key').fill('bk_not_a_real_key');
    await page.getByTestId('api-key').press('Enter');
    await expect.poll(() => text('banner')).toBe('That API key was not accepted.');
  });
});
