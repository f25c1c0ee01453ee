import { createHmac } from 'node:crypto';

/**
 * The `Stripe-Signature` header value Stripe sends with a webhook delivery:
 * `t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<payload>")>`. This is Stripe's real
 * scheme, so the production verifier (`stripe.webhooks.constructEvent`) accepts it.
 *
 * `payload` must be the exact bytes that are sent as the body; re-serialising the JSON
 * afterwards breaks the signature, as it would with Stripe.
 */
export function signStripePayload(
  payload: string,
  secret: string,
  timestamp: number = Math.floor(Date.now() / 1000),
): string {
  const signature = createHmac('sha256', secret)
    .update(`${timestamp}.${payload}`, 'utf8')
    .digest('hex');
  return `t=${timestamp},v1=${signature}`;
}

/**
 * A header signed with several secrets at once, as Stripe does while a webhook secret is
 * being rolled (one `v1=` entry per active secret).
 */
export function signStripePayloadMulti(
  payload: string,
  secrets: readonly string[],
  timestamp: number = Math.floor(Date.now() / 1000),
): string {
  const parts = secrets.map(
    (secret) =>
      `v1=${createHmac('sha256', secret).update(`${timestamp}.${payload}`, 'utf8').digest('hex')}`,
  );
  return [`t=${timestamp}`, ...parts].join(',');
}
