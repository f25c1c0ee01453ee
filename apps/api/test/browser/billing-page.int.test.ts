import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { rootLogger } from '@billing/logger';
import { closeServer, listen } from '@billing/runtime';
import { useTestServices } from '@billing/testing';
import express from 'express';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createApiKey } from '../../src/auth/api-keys.js';
import { billingPageRouter } from '../../src/billing-page/router.js';
import { USER_ID_HTML_PATTERN } from '../../src/http/schemas.js';
import { SERVICE_TOKEN, uniqueUser } from '../support.js';
import { ARTIFACTS_DIR, type BrowserStack, startBrowserStack } from './stack.js';

/**
 * The billing page in headless Chromium against the whole system in simulator mode: a free
 * user checks out on the simulator's hosted page, then switches the interval and upgrades,
 * and the page shows each new state once Stripe's webhook has gone through the ingress, the
 * queue and the worker. Screenshots go to test-artifacts/browser/.
 */
const services = await useTestServices('billing-page');
// Each step waits for webhooks through child processes; deadlines are per poll (DEADLINE).
vi.setConfig({ testTimeout: 180_000 });

let stack: BrowserStack;
let page: Page;

beforeAll(async () => {
  stack = await startBrowserStack(services);
  page = await stack.browser.newPage();
  // Generous: on a busy 2-core machine a webhook round trip can take many seconds.
  page.setDefaultTimeout(60_000);
}, 300_000);

afterAll(async () => {
  await stack?.close();
}, 60_000);

const shot = (name: string) =>
  page.screenshot({ path: path.join(ARTIFACTS_DIR, `${name}.png`), fullPage: true });
const text = async (testId: string) =>
  ((await page.getByTestId(testId).textContent()) ?? '').trim();

const userId = uniqueUser('browser');

/** How long a poll of the page may take: a webhook round trip on a busy machine. */
const DEADLINE = { timeout: 60_000 };

describe('billing page (simulator mode)', () => {
  it('shows a new user on the free plan, with usage against the free limit and the plan cards', async () => {
    await page.goto(`${stack.url}/billing?user=${userId}`);
    await expect.poll(() => text('plan-name'), DEADLINE).toBe('Free');
    expect(await text('status')).toBe('free');
    expect(await text('mode')).toBe('Simulator mode');
    expect(await text('usage-text')).toBe('0 / 100');
    await expect
      .poll(() => page.getByTestId('plans').locator('[data-plan-id]').count(), DEADLINE)
      .toBe(3);
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
    await expect.poll(() => text('plan-name'), DEADLINE).toBe('Pro');
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
    await expect.poll(() => text('usage-text'), DEADLINE).toBe('1,200 / 5,000');
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

  it('shows the prorated amount of an upgrade to Business yearly and sends nothing before the confirm', async () => {
    const changesSent = () =>
      stack.simulator.fake
        .requestsTo('POST', '/v1/subscriptions/')
        .filter((request) => request.body.items !== undefined).length;
    const before = changesSent();
    await page.getByTestId('choose-business').click();
    await page.getByTestId('confirm').waitFor({ state: 'visible' });
    expect(await text('confirm-title')).toBe('Switch to Business (yearly)?');
    // The amount shown is Stripe's preview of this change (the API's answer is cached, so
    // this is the same preview the page got).
    const preview = (await (
      await stack.api.call(
        `/api/billing/proration-preview?userId=${userId}&planId=business&interval=year`,
      )
    ).json()) as { amountDue: number; currency: string };
    expect(preview.amountDue).toBeGreaterThan(0);
    expect(await page.getByTestId('confirm-amount').getAttribute('data-amount-due')).toBe(
      String(preview.amountDue),
    );
    const shown = new Intl.NumberFormat('en-US', { style: 'currency', currency: 'USD' }).format(
      preview.amountDue / 100,
    );
    expect(await text('confirm-amount')).toBe(`${shown} now (prorated)`);
    expect(await text('plan-name')).toBe('Pro');
    expect(changesSent()).toBe(before);
    await shot('05a-upgrade-confirm');

    // Dismissing sends nothing either.
    await page.getByTestId('confirm-dismiss').click();
    expect(await page.getByTestId('confirm').isVisible()).toBe(false);
    expect(await text('banner')).toBe('Nothing changed.');
    expect(changesSent()).toBe(before);
  });

  it('upgrades to Business yearly once confirmed and shows the new plan after the webhook', async () => {
    await page.getByTestId('choose-business').click();
    await page.getByTestId('confirm-upgrade').click();
    await expect
      .poll(() => text('banner'), DEADLINE)
      .toMatch(/Switching to Business|You are now on Business/);
    await expect.poll(() => text('plan-name'), DEADLINE).toBe('Business');
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
    await expect.poll(() => page.getByTestId('cancel-note').isVisible(), DEADLINE).toBe(true);
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

/** A call to the simulator's `/_simulator` helpers (what `npm run simulate` does). */
async function simulate<T>(pathname: string, body?: unknown): Promise<T> {
  const response = await fetch(`${stack.simulator.url}${pathname}`, {
    method: 'POST',
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  expect(response.status, `${pathname}: ${response.status}`).toBe(200);
  return (await response.json()) as T;
}

const subscriptionOf = async (user: string) =>
  (
    (await (await stack.api.call(`/api/billing/subscription?userId=${user}`)).json()) as {
      subscription: { id: string; status: string; cancelAtPeriodEnd: boolean } | null;
    }
  ).subscription;

describe('billing page: a customer can act on what it says', () => {
  it('past due: "Update card" opens the billing portal, and the new card brings the plan back', async () => {
    const pastDue = uniqueUser('past_due');
    const created = await simulate<{ subscription: { id: string } }>('/_simulator/subscriptions', {
      userId: pastDue,
      price: 'pro_monthly',
    });
    await simulate(`/_simulator/subscriptions/${created.subscription.id}/renew`, {
      paymentFails: true,
    });
    await expect
      .poll(async () => (await subscriptionOf(pastDue))?.status, DEADLINE)
      .toBe('past_due');

    await page.goto(`${stack.url}/billing?user=${pastDue}`);
    await expect.poll(() => text('status'), DEADLINE).toBe('past due');
    expect(await text('cancel-note')).toMatch(/update the card/);
    expect(await text('portal')).toBe('Update card');
    await shot('08-past-due');

    await page.getByTestId('portal').click();
    await page.waitForURL(/\/billing-portal\/bps_/);
    expect(await page.getByTestId('portal-open-invoice').count()).toBe(1);
    await shot('09-billing-portal');
    await page.getByTestId('portal-update-card').click();

    // Back on the billing page, which follows the payment's webhooks to "active".
    await page.waitForURL((url) => url.pathname === '/billing');
    await expect.poll(() => text('status'), DEADLINE).toBe('active');
    await expect
      .poll(() => text('banner'), DEADLINE)
      .toBe('The payment went through: your plan is active again.');
    expect(await page.getByTestId('cancel-note').isVisible()).toBe(false);
    expect(new URL(page.url()).searchParams.get('portal')).toBeNull();
    expect(await text('portal')).toBe('Card and invoices');
  });

  it('cancelled: says which plan ended and when, and the usage under it', async () => {
    const cancelled = uniqueUser('ended');
    const created = await simulate<{ subscription: { id: string } }>('/_simulator/subscriptions', {
      userId: cancelled,
      price: 'pro_monthly',
    });
    await expect
      .poll(async () => (await subscriptionOf(cancelled))?.status, DEADLINE)
      .toBe('active');
    const usage = await stack.api.call('/api/usage', {
      method: 'POST',
      json: {
        records: [400, 350, 500].map((quantity, index) => ({
          userId: cancelled,
          metric: 'compute_minutes',
          quantity,
          occurredAt: new Date().toISOString(),
          idempotencyKey: `${cancelled}-${index}`,
        })),
      },
    });
    expect(usage.status).toBe(200);
    // Cancelled at the period end, then the period ends (as in the journey).
    expect(
      (await stack.api.call('/api/billing/cancel', { method: 'POST', json: { userId: cancelled } }))
        .status,
    ).toBe(202);
    await expect
      .poll(async () => (await subscriptionOf(cancelled))?.cancelAtPeriodEnd, DEADLINE)
      .toBe(true);
    await simulate(`/_simulator/subscriptions/${created.subscription.id}/renew`, {});
    await expect
      .poll(async () => (await subscriptionOf(cancelled))?.status, DEADLINE)
      .toBe('canceled');

    await page.goto(`${stack.url}/billing?user=${cancelled}`);
    await expect.poll(() => page.getByTestId('ended').isVisible(), DEADLINE).toBe(true);
    expect(await text('ended-plan')).toMatch(/^Your Pro plan \(monthly\) ended on .+\.$/);
    expect(await text('ended-usage')).toMatch(
      /^In its last period \(.+ → .+\) you used 1,250 of 5,000 compute minutes\. You are on the free plan now\.$/,
    );
    expect(await text('plan-name')).toBe('Free');
    await shot('10-ended-plan');
  });

  it('picker: after a storm of 250 newer users it preselects the journey user, and search finds an older one', async () => {
    // A journey user, then 250 renewal-storm customers, all newer than `userId`.
    const journeyUser = uniqueUser('journey');
    await simulate('/_simulator/subscriptions', { userId: journeyUser, price: 'pro_monthly' });
    await expect
      .poll(async () => (await subscriptionOf(journeyUser))?.status, DEADLINE)
      .toBe('active');
    // It reports usage, as the journey does: seen after every earlier user (Stripe's own
    // timestamps are whole seconds, too coarse to order users created within one).
    const reported = await stack.api.call('/api/usage', {
      method: 'POST',
      json: {
        userId: journeyUser,
        metric: 'compute_minutes',
        quantity: 10,
        occurredAt: new Date().toISOString(),
        idempotencyKey: `${journeyUser}-1`,
      },
    });
    expect(reported.status).toBe(200);
    const run = uniqueUser('run').slice(-8);
    await stack.api.sql`
      insert into customers (id, user_id, created_at, last_event_id, last_event_created)
      select 'cus_storm_' || ${run} || '_' || n,
             'storm_' || ${run} || '_' || lpad(n::text, 4, '0'),
             now() + n * interval '1 millisecond',
             'evt_storm_' || ${run} || '_' || n,
             now()
        from generate_series(1, 250) n`;

    // A browser that has opened no user yet (cleared on a page of the same origin that runs
    // no script, so the billing page cannot write it back meanwhile).
    await page.goto(`${stack.url}/billing/config.json`);
    await page.evaluate('localStorage.clear()');
    await page.goto(`${stack.url}/billing`);
    await expect
      .poll(() => page.getByTestId('user-select').inputValue(), DEADLINE)
      .toBe(journeyUser);
    expect(new URL(page.url()).searchParams.get('user')).toBe(journeyUser);
    const listed = await page.getByTestId('user-select').locator('option').allTextContents();
    expect(listed.length).toBeGreaterThanOrEqual(200);
    // The older user is beyond the newest 200...
    expect(listed.some((label) => label.startsWith(userId))).toBe(false);

    // ...and found by searching for part of its id, on the server.
    await page.getByTestId('user-search').fill(userId.slice(5));
    await expect
      .poll(() => page.getByTestId('user-select').locator('option').allTextContents(), DEADLINE)
      .toEqual([expect.stringMatching(new RegExp(`^${userId} · business`))]);
    await page.getByTestId('user-open').click();
    await expect.poll(() => new URL(page.url()).searchParams.get('user'), DEADLINE).toBe(userId);
    await expect.poll(() => text('plan-name'), DEADLINE).toBe('Business');

    // The user opened last is the one preselected next time.
    await page.goto(`${stack.url}/billing`);
    await expect.poll(() => page.getByTestId('user-select').inputValue(), DEADLINE).toBe(userId);
  });

  it("the new-user field validates with the API's user-id rule (a pattern valid in Chromium)", async () => {
    const messages: string[] = [];
    page.on('console', (message) => messages.push(message.text()));
    const someone = uniqueUser('pattern');
    await page.goto(`${stack.url}/billing?user=${someone}`);
    await expect.poll(() => text('plan-name'), DEADLINE).toBe('Free');
    const field = page.getByTestId('user-new');
    const validity = () =>
      field.evaluate((input) => {
        // The browser's own constraint validation (ValidityState), not a copy of the rule.
        const { validity } = input as unknown as {
          validity: { valid: boolean; patternMismatch: boolean };
        };
        return { valid: validity.valid, patternMismatch: validity.patternMismatch };
      });
    // The API's own rule, not a copy of it.
    expect(await field.getAttribute('pattern')).toBe(USER_ID_HTML_PATTERN);
    for (const good of ['alice', 'org:42|user@example.com', 'a-b.c_d']) {
      await field.fill(good);
      expect(await validity(), good).toEqual({ valid: true, patternMismatch: false });
    }
    // An invalid pattern makes Chromium accept everything: these show it is in force.
    for (const bad of ['bad id', 'semi;colon', 'émile']) {
      await field.fill(bad);
      expect(await validity(), bad).toEqual({ valid: false, patternMismatch: true });
    }
    // The browser refuses to submit it: the page stays on the same user.
    await page.getByTestId('user-open').click();
    expect(new URL(page.url()).searchParams.get('user')).toBe(someone);
    expect(messages.filter((message) => /pattern/i.test(message))).toEqual([]);
    await field.fill('');
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

    // Sent as the page itself would (same Origin, JSON), so the same-origin gate lets them
    // through and the allow-list is what answers.
    const usage = await fetch(`${stack.url}/billing/sim-api/usage`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', origin: stack.url },
      body: JSON.stringify({ userId, metric: 'compute_minutes', quantity: 1 }),
    });
    expect(usage.status).toBe(404);
    const deleted = await fetch(`${stack.url}/billing/sim-api/cancel`, {
      method: 'DELETE',
      headers: { 'content-type': 'application/json', origin: stack.url },
    });
    expect(deleted.status).toBe(404);
  });

  it('searches users on the server, and refuses a search that cannot be part of a user id (tried a quote and a space)', async () => {
    const found = (await (
      await fetch(`${stack.url}/billing/users?q=${encodeURIComponent(userId.slice(5))}`)
    ).json()) as { users: Array<{ userId: string }> };
    expect(found.users.map((user) => user.userId)).toEqual([userId]);
    // '_' is a user-id character, not LIKE's "any character": 'us_r_browser' would match
    // 'user_browser_…' as a wildcard, and matches nothing taken literally.
    const underscore = (await (
      await fetch(`${stack.url}/billing/users?q=us_r_browser`)
    ).json()) as {
      users: unknown[];
    };
    expect(underscore.users).toEqual([]);
    const refused = await fetch(`${stack.url}/billing/users?q=${encodeURIComponent("a' b")}`);
    expect(refused.status).toBe(400);
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe(
      'invalid_query',
    );
  });

  it("passes the API's validation errors through (tried an unknown plan)", async () => {
    const response = await fetch(`${stack.url}/billing/sim-api/upgrade`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', origin: stack.url },
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
    await expect.poll(() => text('mode'), DEADLINE).toBe('API key');
    expect(await page.getByTestId('user-select').isVisible()).toBe(false);

    await page.getByTestId('api-key').fill(key);
    await page.getByTestId('api-key').press('Enter');
    await expect.poll(() => text('plan-name'), DEADLINE).toBe('Business');
    expect(await page.getByTestId('cancel-note').isVisible()).toBe(true);

    await page.getByTestId('resume').click();
    await expect.poll(() => page.getByTestId('cancel-note').isVisible(), DEADLINE).toBe(false);
    expect(await text('banner')).toBe('The subscription continues.');
    await shot('07-api-key-mode');
  });

  it('says so when the pasted key is not accepted (tried a made-up key)', async () => {
    await page.evaluate('sessionStorage.clear()');
    await page.goto(`${keyUrl}/billing`);
    await page.getByTestId('api-key').fill('bk_not_a_real_key');
    await page.getByTestId('api-key').press('Enter');
    await expect.poll(() => text('banner'), DEADLINE).toBe('That API key was not accepted.');
  });
});
