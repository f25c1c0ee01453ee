import Stripe from 'stripe';

/**
 * The one API version this system speaks. Webhook payloads may still arrive rendered at
 * older versions (an endpoint pinned long ago); the normalisers read both shapes.
 */
export const STRIPE_API_VERSION = '2026-10-28.endive' as const;

export interface StripeClientOptions {
  secretKey: string;
  /** STRIPE_API_BASE, e.g. http://127.0.0.1:12111 for the simulator or a test's fake server. */
  apiBase?: string;
  maxNetworkRetries?: number;
  timeoutMs?: number;
}

/** A Stripe client pinned to STRIPE_API_VERSION, optionally pointed at another host. */
export function createStripeClient(options: StripeClientOptions): Stripe {
  const base = options.apiBase ? new URL(options.apiBase) : undefined;
  return new Stripe(options.secretKey, {
    apiVersion: STRIPE_API_VERSION as Stripe.LatestApiVersion,
    maxNetworkRetries: options.maxNetworkRetries ?? 2,
    timeout: options.timeoutMs ?? 20_000,
    telemetry: false,
    appInfo: { name: 'billing-backend' },
    ...(base
      ? {
          host: base.hostname,
          port: Number(base.port || (base.protocol === 'https:' ? 443 : 80)),
          protocol: base.protocol.replace(':', '') as 'http' | 'https',
        }
      : {}),
  });
}

export { Stripe };
