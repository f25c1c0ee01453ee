import { STRIPE_API_VERSION, type Stripe } from '@billing/stripe';
import { fixture } from '../fixtures.js';
import { nowSeconds, stripeId } from '../ids.js';
import { signStripePayload } from '../sign.js';
import type { Json } from './base.js';

/** A snapshot event (`object: 'event'`), as delivered to a webhook endpoint. */
export interface SnapshotEvent<T = Json> {
  id: string;
  object: 'event';
  account?: string;
  api_version: string | null;
  created: number;
  data: { object: T; previous_attributes?: Json };
  livemode: boolean;
  pending_webhooks: number;
  request: { id: string | null; idempotency_key: string | null };
  type: string;
}

export interface StripeEventOptions<T> {
  /** e.g. `customer.subscription.updated`; unknown types are allowed on purpose. */
  type: Stripe.Event.Type | (string & {});
  object: T;
  /** Unix seconds. Default now. */
  created?: number;
  id?: string;
  /** Connect account (`acct_…`); omitted for the platform's own events. */
  account?: string;
  /** The version the payload is rendered at; default the client's pinned version. */
  apiVersion?: string | null;
  previousAttributes?: Json;
  livemode?: boolean;
  request?: { id: string | null; idempotency_key: string | null };
  pendingWebhooks?: number;
}

export function stripeEvent<T = Json>(options: StripeEventOptions<T>): SnapshotEvent<T> {
  const event = fixture<Json>('event');
  Object.assign(event, {
    id: options.id ?? stripeId('evt'),
    object: 'event',
    api_version: options.apiVersion === undefined ? STRIPE_API_VERSION : options.apiVersion,
    created: options.created ?? nowSeconds(),
    data: {
      object: structuredClone(options.object),
      ...(options.previousAttributes
        ? { previous_attributes: structuredClone(options.previousAttributes) }
        : {}),
    },
    livemode: options.livemode ?? false,
    pending_webhooks: options.pendingWebhooks ?? 1,
    request: options.request ?? { id: null, idempotency_key: null },
    type: options.type,
  });
  if (options.account) event.account = options.account;
  else delete event.account;
  return event as unknown as SnapshotEvent<T>;
}

/** A thin event (`object: 'v2.core.event'`): a pointer to the object, no snapshot. */
export interface ThinEvent {
  id: string;
  object: 'v2.core.event';
  type: string;
  /** ISO 8601, as v2 APIs render times. */
  created: string;
  livemode: boolean;
  related_object: { id: string; type: string; url: string } | null;
  context: string | null;
  reason: Json | null;
  data?: Json;
}

export interface ThinEventOptions {
  type: string;
  relatedObject?: { id: string; type: string; url?: string } | null;
  /** Unix seconds or a Date. Default now. */
  created?: number | Date;
  id?: string;
  /** Connect account the event belongs to. */
  context?: string | null;
  reason?: Json | null;
  data?: Json;
  livemode?: boolean;
}

const relatedUrl = (type: string, id: string): string => {
  const [namespace, name] = type.includes('.') ? type.split('.', 2) : [undefined, type];
  return namespace ? `/v1/${namespace}/${name}s/${id}` : `/v1/${name}s/${id}`;
};

export function thinEvent(options: ThinEventOptions): ThinEvent {
  const created =
    options.created instanceof Date
      ? options.created
      : new Date((options.created ?? nowSeconds()) * 1000);
  const related =
    options.relatedObject === null
      ? null
      : options.relatedObject
        ? {
            id: options.relatedObject.id,
            type: options.relatedObject.type,
            url:
              options.relatedObject.url ??
              relatedUrl(options.relatedObject.type, options.relatedObject.id),
          }
        : null;
  return {
    id: options.id ?? stripeId('evt_test', 40),
    object: 'v2.core.event',
    type: options.type,
    created: created.toISOString(),
    livemode: options.livemode ?? false,
    related_object: related,
    context: options.context ?? null,
    reason: options.reason ?? null,
    ...(options.data ? { data: structuredClone(options.data) } : {}),
  };
}

export interface SignedDelivery {
  /** The exact bytes that were signed: send them unchanged. */
  body: string;
  headers: Record<string, string>;
}

/**
 * A webhook delivery as Stripe makes it: JSON body, `Stripe-Signature` over those exact bytes.
 * `fetch(url, { method: 'POST', ...signedDelivery(event, secret) })`.
 */
export function signedDelivery(
  event: unknown,
  secret: string,
  options: { timestamp?: number; body?: string } = {},
): SignedDelivery {
  const body = options.body ?? JSON.stringify(event, null, 2);
  return {
    body,
    headers: {
      'content-type': 'application/json; charset=utf-8',
      'user-agent': 'Stripe/1.0 (+https://stripe.com/docs/webhooks)',
      'stripe-signature': signStripePayload(body, secret, options.timestamp),
    },
  };
}
