import fs from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  DEFAULT_PLANS_FILE,
  DEV_WEBHOOK_SECRET,
  type Env,
  loadPlanCatalogue,
  processEnv,
} from '@billing/config';
import { rootLogger } from '@billing/logger';
import { closeServer, listen } from '@billing/runtime';
import { createStripeClient } from '@billing/stripe';
import { freePort, startApp, type TestServices } from '@billing/testing';
import { type RunningSimulator, startSimulator } from '@billing/testing/simulator';
import express from 'express';
import { type BrowserContext, chromium } from 'playwright-core';
import { billingPageRouter } from '../../src/billing-page/router.js';
import { SERVICE_TOKEN, startTestApi, type TestApi } from '../support.js';

/**
 * The whole system for a browser test, against the test file's own database and Redis
 * prefix: the Stripe simulator (in process), the real ingress and webhook worker (their
 * `src/main.ts` as child processes, as `npm start` runs them), and the API built by its
 * factory with the billing page in simulator mode in front of it.
 */

const here = path.dirname(fileURLToPath(import.meta.url));
export const REPO_ROOT = path.resolve(here, '../../../..');
/** Screenshots and other artefacts (gitignored; CI keeps the folder). */
export const ARTIFACTS_DIR = path.join(REPO_ROOT, 'test-artifacts/browser');

/** Debian's Chromium (`apt-get install chromium`); CHROMIUM_PATH overrides. */
const chromiumPath = (env: Env) => env.CHROMIUM_PATH || '/usr/bin/chromium';

const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--no-first-run',
  '--disable-sync',
  '--disable-dev-shm-usage',
];

export interface SimulatedStack {
  api: TestApi;
  /** The API with the billing page, e.g. http://127.0.0.1:41234 */
  url: string;
  simulator: RunningSimulator;
  close(): Promise<void>;
}

export interface BrowserStack extends SimulatedStack {
  browser: BrowserContext;
}

/** The system plus headless Chromium with a fresh profile. */
export async function startBrowserStack(services: TestServices): Promise<BrowserStack> {
  const stack = await startSimulatedStack(services);
  try {
    const env = processEnv();
    const executablePath = chromiumPath(env);
    if (!fs.existsSync(executablePath)) {
      throw new Error(
        `Chromium not found at ${executablePath}: apt-get install -y chromium (or set CHROMIUM_PATH)`,
      );
    }
    const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'billing-browser-'));
    const browser = await chromium.launchPersistentContext(profile, {
      executablePath,
      headless: true,
      args: CHROMIUM_ARGS,
      viewport: { width: 1180, height: 900 },
      // No CSS transitions: screenshots show the settled page.
      reducedMotion: 'reduce',
    });
    fs.mkdirSync(ARTIFACTS_DIR, { recursive: true });
    return {
      ...stack,
      browser,
      close: async () => {
        await browser.close().catch(() => undefined);
        fs.rmSync(profile, { recursive: true, force: true });
        await stack.close();
      },
    };
  } catch (error) {
    await stack.close();
    throw error;
  }
}

/** The system in simulator mode: simulator, ingress, webhook worker, API with the billing page. */
export async function startSimulatedStack(services: TestServices): Promise<SimulatedStack> {
  const logger = rootLogger();
  const base = processEnv();
  const [ingressPort, workerPort] = await Promise.all([freePort(), freePort()]);
  const stops: Array<() => Promise<unknown>> = [];
  const stopAll = async () => {
    for (const stop of stops.reverse()) await stop().catch(() => undefined);
  };

  try {
    // 1. Stripe: the simulator, delivering to the ingress (retrying until it is up).
    const simulator = await startSimulator({
      webhookUrl: `http://127.0.0.1:${ingressPort}/webhooks/stripe`,
      webhookSecret: DEV_WEBHOOK_SECRET,
      catalogue: loadPlanCatalogue(DEFAULT_PLANS_FILE),
      logger,
      webhooks: { backoffMs: () => 250, maxAttempts: 200 },
    });
    stops.push(() => simulator.close());

    // 2. The ingress and the webhook worker, as processes.
    const env: Env = {
      ...base,
      NODE_ENV: 'test',
      LOG_LEVEL: base.BROWSER_TEST_LOG_LEVEL ?? 'warn',
      DATABASE_URL: services.databaseUrl,
      REDIS_URL: services.redisUrl,
      REDIS_PREFIX: services.redisPrefix,
      INGRESS_PORT: String(ingressPort),
      WORKER_WEBHOOKS_PORT: String(workerPort),
      STRIPE_SECRET_KEY: 'sk_test_simulator',
      STRIPE_API_BASE: simulator.url,
      STRIPE_WEBHOOK_SECRETS: DEV_WEBHOOK_SECRET,
    };
    const [ingress, worker] = await Promise.all([
      startApp({
        app: 'ingress',
        env,
        port: ingressPort,
        healthPath: '/readyz',
        timeoutMs: 60_000,
      }),
      startApp({
        app: 'worker-webhooks',
        env,
        port: workerPort,
        healthPath: '/readyz',
        timeoutMs: 60_000,
      }),
    ]);
    stops.push(ingress.stop, worker.stop);

    // 3. The API (factory) with the billing page in simulator mode in front of it.
    const api = await startTestApi(services, {
      stripe: createStripeClient({ secretKey: 'sk_test_simulator', apiBase: simulator.url }),
    });
    stops.push(() => api.close());
    const outer = express();
    outer.use(
      billingPageRouter({ sql: api.sql, logger, serviceToken: SERVICE_TOKEN, simulator: true }),
    );
    outer.use(api.api.app);
    const server: Server = await listen(outer, 0, '127.0.0.1');
    stops.push(() => closeServer(server, 1_000));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

    // The catalogue's product/price webhooks have gone through (the worker synced them).
    await simulator.idle(30_000);

    return { api, url, simulator, close: stopAll };
  } catch (error) {
    await stopAll();
    throw error;
  }
}
