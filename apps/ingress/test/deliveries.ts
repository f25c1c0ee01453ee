import http from 'node:http';
import {
  customerObject,
  signStripePayload,
  stripeEvent,
  stripeId,
  thinEvent as thinEventObject,
} from '@billing/stripe-fake';

/**
 * Webhook bodies for the ingress tests, from the shared Stripe factories (built on Stripe's
 * own fixtures3.json, so as large and nested as real deliveries). Pretty-printed as Stripe
 * sends them: the ingress must keep these exact bytes.
 */
export function snapshotEvent(
  id: string,
  options: { type?: string; marker?: string } = {},
): string {
  const event = stripeEvent({
    id,
    type: options.type ?? 'customer.updated',
    object: customerObject({ email: options.marker ?? `${id.toLowerCase()}@example.com` }),
    previousAttributes: { email: null },
  });
  return JSON.stringify(event, null, 2);
}

/** A thin event (`object: "v2.core.event"`): ids only, as Stripe's event destinations send. */
export function thinEvent(id: string): string {
  const event = thinEventObject({
    id,
    type: 'v1.billing.meter.error_report_triggered',
    relatedObject: { id: stripeId('mtr'), type: 'billing.meter' },
  });
  return JSON.stringify(event, null, 2);
}

export interface PostOptions {
  secret?: string;
  /** Stripe-Signature header as sent; overrides `secret`. `null` sends none. */
  signature?: string | null;
  timestamp?: number;
  contentType?: string | null;
  headers?: Record<string, string>;
  method?: string;
  path?: string;
}

export interface Posted {
  status: number;
  body: { received?: boolean; error?: { code: string; message: string } };
  headers: http.IncomingHttpHeaders;
  signature: string | undefined;
}

/**
 * Posts `payload` to the ingress the way Stripe does: raw JSON body, signed. Uses node:http
 * rather than fetch, which would add a Content-Type of its own when none is wanted.
 */
export function deliver(
  baseUrl: string,
  payload: string | Buffer,
  options: PostOptions = {},
): Promise<Posted> {
  const signature =
    options.signature === null
      ? undefined
      : (options.signature ??
        signStripePayload(payload.toString(), options.secret ?? 'whsec_unset', options.timestamp));
  const headers: Record<string, string | number> = { ...options.headers };
  if (options.contentType !== null)
    headers['content-type'] = options.contentType ?? 'application/json; charset=utf-8';
  if (signature !== undefined) headers['stripe-signature'] = signature;
  const method = options.method ?? 'POST';
  const body = method === 'GET' || method === 'HEAD' ? undefined : payload;
  if (body !== undefined) headers['content-length'] = Buffer.byteLength(body);
  return new Promise((resolve, reject) => {
    const request = http.request(
      `${baseUrl}${options.path ?? '/webhooks/stripe'}`,
      { method, headers, agent: false },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          resolve({
            status: response.statusCode ?? 0,
            body: text ? JSON.parse(text) : {},
            headers: response.headers,
            signature,
          });
        });
        response.on('error', reject);
      },
    );
    request.on('error', reject);
    request.end(body);
  });
}
