import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  ConfigError,
  type Env,
  isProduction,
  parseEnv,
  plansEnv,
  port,
  positiveInt,
  processEnv,
  serviceTokenEnv,
  stripeEnv,
} from '@billing/config';
import { z } from 'zod';

/** The simulator's default port (stripe-mock's, so Stripe tooling habits carry over). */
export const DEFAULT_SIMULATOR_PORT = 12111;

const here = path.dirname(fileURLToPath(import.meta.url));

/** The monorepo root: the nearest ancestor holding pnpm-workspace.yaml. */
export function repoRoot(): string {
  let dir = here;
  for (;;) {
    if (fs.existsSync(path.join(dir, 'pnpm-workspace.yaml'))) return dir;
    const parent = path.dirname(dir);
    if (parent === dir) return path.resolve(here, '../../..');
    dir = parent;
  }
}

const httpUrl = z
  .string()
  .url('must be an http(s) URL')
  .refine((value) => /^https?:$/.test(new URL(value).protocol), 'must be an http(s) URL');

const simulatorEnvSchema = z.object({
  STRIPE_SIMULATOR_PORT: port(DEFAULT_SIMULATOR_PORT),
  STRIPE_SIMULATOR_HOST: z.string().min(1).default('127.0.0.1'),
  /** What browsers use to reach the hosted checkout page. Default http://localhost:<port>. */
  STRIPE_SIMULATOR_PUBLIC_URL: httpUrl.optional(),
  INGRESS_PORT: port(3000),
  /** Where webhooks go. Default http://127.0.0.1:<INGRESS_PORT>/webhooks/stripe. */
  STRIPE_SIMULATOR_WEBHOOK_URL: httpUrl.optional(),
  /** The simulated account's file; `off` keeps it in memory only. */
  STRIPE_SIMULATOR_STATE_FILE: z.string().min(1).optional(),
  /** Delivery attempts per event before giving up (Stripe retries for 3 days; here ~2 min). */
  STRIPE_SIMULATOR_WEBHOOK_ATTEMPTS: positiveInt(8),
  /** Deliveries in flight at once; 1 keeps Stripe's order for one change. */
  STRIPE_SIMULATOR_WEBHOOK_CONCURRENCY: positiveInt(1),
});

export interface SimulatorConfig {
  port: number;
  host: string;
  publicUrl: string;
  webhookUrl: string;
  /** The first of STRIPE_WEBHOOK_SECRETS: the endpoint secret deliveries are signed with. */
  webhookSecret: string;
  stateFile: string | undefined;
  plansFile: string;
  webhookAttempts: number;
  webhookConcurrency: number;
}

/** The simulator process's settings. Refuses production: it is a local development tool. */
export function loadSimulatorConfig(env: Env = processEnv()): SimulatorConfig {
  if (isProduction(env)) {
    throw new ConfigError('the Stripe simulator does not run with NODE_ENV=production', [
      'NODE_ENV',
    ]);
  }
  const sim = parseEnv(simulatorEnvSchema, env, 'stripe simulator');
  const stripe = stripeEnv(env);
  const plans = plansEnv(env);
  const stateFile =
    sim.STRIPE_SIMULATOR_STATE_FILE === 'off'
      ? undefined
      : path.resolve(
          sim.STRIPE_SIMULATOR_STATE_FILE ?? path.join(repoRoot(), '.stack/stripe-simulator.json'),
        );
  return {
    port: sim.STRIPE_SIMULATOR_PORT,
    host: sim.STRIPE_SIMULATOR_HOST,
    publicUrl: sim.STRIPE_SIMULATOR_PUBLIC_URL ?? `http://localhost:${sim.STRIPE_SIMULATOR_PORT}`,
    webhookUrl:
      sim.STRIPE_SIMULATOR_WEBHOOK_URL ?? `http://127.0.0.1:${sim.INGRESS_PORT}/webhooks/stripe`,
    webhookSecret: stripe.STRIPE_WEBHOOK_SECRETS[0]!,
    stateFile,
    plansFile: plans.PLANS_FILE,
    webhookAttempts: sim.STRIPE_SIMULATOR_WEBHOOK_ATTEMPTS,
    webhookConcurrency: sim.STRIPE_SIMULATOR_WEBHOOK_CONCURRENCY,
  };
}

const scenarioEnvSchema = z.object({
  API_PORT: port(3001),
  STRIPE_SIMULATOR_PORT: port(DEFAULT_SIMULATOR_PORT),
  /** Default http://127.0.0.1:<API_PORT>. */
  SIMULATE_API_URL: httpUrl.optional(),
  /** Default http://127.0.0.1:<STRIPE_SIMULATOR_PORT>. */
  SIMULATE_STRIPE_URL: httpUrl.optional(),
});

export interface ScenarioConfig {
  apiUrl: string;
  simulatorUrl: string;
  serviceToken: string;
  /** The plan list the system runs with (PLANS_FILE): the scenarios' plans come from it. */
  plansFile: string;
}

/** `npm run simulate` settings: where the running system is, and the service token. */
export function loadScenarioConfig(env: Env = processEnv()): ScenarioConfig {
  const scenario = parseEnv(scenarioEnvSchema, env, 'simulate');
  const auth = serviceTokenEnv(env);
  return {
    apiUrl: (scenario.SIMULATE_API_URL ?? `http://127.0.0.1:${scenario.API_PORT}`).replace(
      /\/$/,
      '',
    ),
    simulatorUrl: (
      scenario.SIMULATE_STRIPE_URL ?? `http://127.0.0.1:${scenario.STRIPE_SIMULATOR_PORT}`
    ).replace(/\/$/, ''),
    serviceToken: auth.BILLING_SERVICE_TOKEN,
    plansFile: plansEnv(env).PLANS_FILE,
  };
}
