import {
  ConfigError,
  type Env,
  flag,
  isProduction,
  parseEnv,
  processEnv,
  stripeEnvSchema,
} from '@billing/config';
import { z } from 'zod';
import { originList } from '../env.js';

/**
 * STRIPE_SIMULATOR=true (set by `npm start` when it runs the bundled Stripe simulator) turns
 * on the billing page's simulator mode: a picker of known users, acting for them with the
 * service token on the server side. That lets anyone who can load the page act for any
 * user, so it is refused unless everything says "local development":
 * - not NODE_ENV=production;
 * - STRIPE_API_BASE points at a loopback address (the simulator, not Stripe);
 * - the Stripe key, when set, is a test key.
 * The router additionally answers the simulator-only routes to loopback clients only.
 */
const schema = z.object({
  STRIPE_SIMULATOR: flag(false),
  /** Public origins the page is served under (comma-separated), beyond loopback. */
  BILLING_PAGE_ORIGINS: originList,
});

const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]', '::1']);

export interface BillingPageConfig {
  /** Simulator mode: user picker and service-token proxy (local development only). */
  simulator: boolean;
  /** BILLING_PAGE_ORIGINS: origins (besides loopback) whose Host the page answers. */
  origins: string[];
}

export function billingPageConfig(env: Env = processEnv()): BillingPageConfig {
  const { STRIPE_SIMULATOR, BILLING_PAGE_ORIGINS: origins } = parseEnv(schema, env, 'billing page');
  if (!STRIPE_SIMULATOR) return { simulator: false, origins };
  const refuse = (reason: string) => {
    throw new ConfigError(`invalid billing page configuration: STRIPE_SIMULATOR: ${reason}`, [
      `STRIPE_SIMULATOR: ${reason}`,
    ]);
  };
  if (isProduction(env)) refuse('must not be set with NODE_ENV=production');
  const stripe = parseEnv(
    stripeEnvSchema(false).pick({ STRIPE_SECRET_KEY: true, STRIPE_API_BASE: true }),
    env,
    'stripe',
  );
  const base = stripe.STRIPE_API_BASE;
  if (!base || !LOOPBACK_HOSTS.has(new URL(base).hostname)) {
    refuse('needs STRIPE_API_BASE pointing at the local simulator (a loopback address)');
  }
  if (stripe.STRIPE_SECRET_KEY && !stripe.STRIPE_SECRET_KEY.startsWith('sk_test_')) {
    refuse('needs a test key (sk_test_…) or none');
  }
  return { simulator: true, origins };
}
