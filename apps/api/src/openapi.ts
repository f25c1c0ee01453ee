import { z } from 'zod';
import {
  checkoutBody,
  checkoutResponse,
  errorResponse,
  overviewResponse,
  pendingResponse,
  performanceQuery,
  performanceResponse,
  plansQuery,
  plansResponse,
  portalSessionBody,
  portalSessionResponse,
  prorationQuery,
  prorationResponse,
  subscriptionResponse,
  upgradeBody,
  upgradeResponse,
  usageQuery,
  usageResponse,
  userBody,
  userQuery,
} from './http/schemas.js';

type Json = Record<string, unknown>;

interface Operation {
  method: 'get' | 'post';
  path: string;
  summary: string;
  description?: string;
  tag: string;
  /** Who may call: user routes accept the service token and user API keys. */
  auth: 'public' | 'user' | 'ops';
  query?: z.ZodObject;
  body?: z.ZodType | Json;
  /** Success status and schema. */
  ok: { status: number; schema: z.ZodType | Json; description: string };
  errors?: number[];
  idempotent?: boolean;
}

const toSchema = (schema: z.ZodType | Json, io: 'input' | 'output'): Json => {
  if (!(schema instanceof z.ZodType)) return schema;
  const { $schema: _ignored, ...rest } = z.toJSONSchema(schema, {
    io,
    unrepresentable: 'any',
  }) as Json;
  return rest;
};

const usageRecord: Json = {
  type: 'object',
  properties: {
    userId: { type: 'string', description: 'Required with the service token' },
    metric: { type: 'string', description: 'A metric the plan list limits' },
    quantity: { type: 'integer' },
    occurredAt: { type: 'string', description: 'ISO 8601 time with a zone' },
    idempotencyKey: { type: 'string' },
    correctsKey: { type: 'string', description: 'For a negative correction: the original key' },
  },
  required: ['metric', 'quantity', 'occurredAt', 'idempotencyKey'],
};

/** Every route the API serves. A test checks this list against the app's routers. */
export const OPERATIONS: Operation[] = [
  {
    method: 'get',
    path: '/api/billing/subscription',
    summary: 'The user’s subscription ({ subscription: null } for a free user)',
    description:
      'With several subscriptions the live one (active, trialing, past_due) wins, newest first; a canceled one is shown only when no live one exists. Cached 5 minutes, invalidated by webhooks.',
    tag: 'billing',
    auth: 'user',
    query: userQuery,
    ok: { status: 200, schema: subscriptionResponse, description: 'The subscription or null' },
    errors: [400, 401, 403, 429],
  },
  {
    method: 'get',
    path: '/api/billing/usage',
    summary: 'Usage of one metric in the current period against the plan limit',
    tag: 'billing',
    auth: 'user',
    query: usageQuery,
    ok: { status: 200, schema: usageResponse, description: 'Usage figures (cached 2 minutes)' },
    errors: [400, 401, 403, 429],
  },
  {
    method: 'get',
    path: '/api/billing/plans',
    summary: 'The plan list with prices',
    tag: 'billing',
    auth: 'user',
    query: plansQuery,
    ok: { status: 200, schema: plansResponse, description: 'Plans, sorted' },
    errors: [400, 401, 403, 429],
  },
  {
    method: 'get',
    path: '/api/billing/overview',
    summary: 'Plans, subscription and usage (every metric), loaded in parallel',
    tag: 'billing',
    auth: 'user',
    query: userQuery,
    ok: { status: 200, schema: overviewResponse, description: 'Everything a billing page needs' },
    errors: [400, 401, 403, 429],
  },
  {
    method: 'post',
    path: '/api/billing/create-checkout-session',
    summary: 'A Stripe Checkout URL for a paid plan',
    description:
      'Reuses the user’s Stripe customer or creates one tagged with metadata.user_id; the session sets client_reference_id and subscription_data.metadata.user_id. 409 if the user already has a live subscription.',
    tag: 'billing',
    auth: 'user',
    body: checkoutBody,
    ok: { status: 200, schema: checkoutResponse, description: 'The Checkout URL' },
    errors: [400, 401, 403, 409, 429, 502, 503],
    idempotent: true,
  },
  {
    method: 'post',
    path: '/api/billing/portal-session',
    summary: 'A Stripe customer portal link (update the card, see invoices)',
    description:
      'Creates a billing portal session for the user’s Stripe customer with return_url = returnUrl, else BILLING_PORTAL_RETURN_URL (400 if neither; returnUrl must use an origin of CHECKOUT_ALLOWED_ORIGINS when that is set). The way a past_due customer fixes the payment: Stripe retries the open invoice with the new card. 409 no_customer if the user never had a Stripe customer.',
    tag: 'billing',
    auth: 'user',
    body: portalSessionBody,
    ok: { status: 200, schema: portalSessionResponse, description: 'The portal URL' },
    errors: [400, 401, 403, 409, 429, 502, 503],
    idempotent: true,
  },
  {
    method: 'get',
    path: '/api/billing/proration-preview',
    summary: 'What a plan change would cost now (Stripe invoice preview), cached 5 minutes',
    tag: 'billing',
    auth: 'user',
    query: prorationQuery,
    ok: { status: 200, schema: prorationResponse, description: 'Amount due and currency' },
    errors: [400, 401, 403, 409, 429, 502, 503],
  },
  {
    method: 'post',
    path: '/api/billing/upgrade',
    summary: 'Change plan with proration',
    description:
      'Sends only the item’s new price and proration_behavior=create_prorations. The local state changes when Stripe’s webhook is processed: the answer is 202 with status pending_webhook.',
    tag: 'billing',
    auth: 'user',
    body: upgradeBody,
    ok: {
      status: 202,
      schema: upgradeResponse,
      description: 'Sent to Stripe; pending the webhook',
    },
    errors: [400, 401, 403, 409, 429, 502, 503],
    idempotent: true,
  },
  {
    method: 'post',
    path: '/api/billing/cancel',
    summary: 'Cancel at the end of the current period',
    tag: 'billing',
    auth: 'user',
    body: userBody,
    ok: {
      status: 202,
      schema: pendingResponse,
      description: '202 pending_webhook, or 200 unchanged if already set',
    },
    errors: [400, 401, 403, 409, 429, 502, 503],
    idempotent: true,
  },
  {
    method: 'post',
    path: '/api/billing/resume',
    summary: 'Undo a cancellation at period end',
    tag: 'billing',
    auth: 'user',
    body: userBody,
    ok: {
      status: 202,
      schema: pendingResponse,
      description: '202 pending_webhook, or 200 unchanged if not set to cancel',
    },
    errors: [400, 401, 403, 409, 429, 502, 503],
    idempotent: true,
  },
  {
    method: 'post',
    path: '/api/usage',
    summary: 'Record usage (one record, or { records: [...] } up to 1,000)',
    description:
      'Exactly-once per (userId, idempotencyKey). Options: atomic (all or none), enforceLimit (reject records over the plan limit with limit_exceeded). Answers 200 with per-record rejections.',
    tag: 'usage',
    auth: 'user',
    body: {
      oneOf: [
        usageRecord,
        {
          type: 'object',
          properties: {
            records: { type: 'array', items: usageRecord, maxItems: 1000 },
            atomic: { type: 'boolean' },
            enforceLimit: { type: 'boolean' },
          },
          required: ['records'],
        },
      ],
    },
    ok: {
      status: 200,
      schema: {
        type: 'object',
        properties: {
          accepted: { type: 'integer' },
          duplicates: { type: 'integer' },
          rejected: {
            type: 'array',
            items: {
              type: 'object',
              properties: { index: { type: 'integer' }, error: { type: 'string' } },
            },
          },
        },
      },
      description: 'Counts and per-record rejections',
    },
    errors: [400, 401, 403, 429, 503],
  },
  {
    method: 'get',
    path: '/api/ops/performance',
    summary: 'Response times per endpoint and overall for a window',
    tag: 'ops',
    auth: 'ops',
    query: performanceQuery,
    ok: { status: 200, schema: performanceResponse, description: 'Performance report' },
    errors: [400, 401, 403, 429],
  },
  {
    method: 'get',
    path: '/api/ops/dead-letters',
    summary: 'Failed webhook events with their reason (rows and the failed job set)',
    tag: 'ops',
    auth: 'ops',
    query: z.object({
      type: z.string().optional().describe('Stripe event type, e.g. invoice.paid'),
      from: z.string().optional().describe('ISO 8601 time or unix seconds'),
      to: z.string().optional().describe('ISO 8601 time or unix seconds'),
      limit: z.string().optional().describe('1 to 1000'),
    }),
    ok: { status: 200, schema: { type: 'object' }, description: 'Dead letters' },
    errors: [400, 401, 403, 429],
  },
  {
    method: 'post',
    path: '/api/ops/dead-letters/replay',
    summary: 'Replay one dead letter, a filter (type, time range) or all, from the stored payload',
    description: 'Idempotent: an event applied meanwhile is skipped by the worker.',
    tag: 'ops',
    auth: 'ops',
    body: {
      type: 'object',
      properties: {
        eventId: { type: 'string' },
        type: { type: 'string' },
        from: { type: 'string' },
        to: { type: 'string' },
        all: { type: 'boolean', enum: [true] },
      },
    },
    ok: { status: 202, schema: { type: 'object' }, description: 'What was re-enqueued' },
    errors: [400, 401, 403, 404, 429],
  },
  {
    method: 'get',
    path: '/api/ops/db',
    summary: 'Database report: slowest statements, index usage, unused indexes, table sizes',
    tag: 'ops',
    auth: 'ops',
    ok: { status: 200, schema: { type: 'object' }, description: 'Report' },
    errors: [401, 403, 429],
  },
  {
    method: 'get',
    path: '/api/ops/sync',
    summary: "Stripe backfill cursors: where each resource's last backfill got to",
    tag: 'ops',
    auth: 'ops',
    ok: { status: 200, schema: { type: 'object' }, description: 'Cursors' },
    errors: [401, 403, 429],
  },
  {
    method: 'get',
    path: '/api/openapi.json',
    summary: 'This document',
    tag: 'meta',
    auth: 'public',
    ok: { status: 200, schema: { type: 'object' }, description: 'OpenAPI 3.1 document' },
  },
];

const ERROR_TEXT: Record<number, string> = {
  400: 'Bad input; error.field names the offending field',
  401: 'Missing or invalid bearer token',
  403: 'The credential may not act for this user (or is not an ops credential)',
  409: 'Conflicts with the current billing state',
  429: 'Rate limited; see Retry-After',
  502: 'Stripe refused the request',
  503: 'Stripe (or a dependency) unavailable; retry',
};

/** Express `/a/:id` → OpenAPI `/a/{id}`. */
export const toOpenApiPath = (path: string) => path.replace(/:(\w+)/g, '{$1}');

/** The OpenAPI 3.1 document, generated from OPERATIONS and the zod schemas. */
export function buildOpenApi(version = '1.0.0'): Json {
  const paths: Record<string, Record<string, Json>> = {};
  for (const op of OPERATIONS) {
    const parameters: Json[] = [];
    if (op.query) {
      const shape = op.query.shape as Record<string, z.ZodType>;
      for (const [name, schema] of Object.entries(shape)) {
        parameters.push({
          name,
          in: 'query',
          required: !schema.safeParse(undefined).success,
          schema: toSchema(schema, 'input'),
          ...(schema.description ? { description: schema.description } : {}),
        });
      }
    }
    for (const match of op.path.matchAll(/:(\w+)/g)) {
      parameters.push({ name: match[1], in: 'path', required: true, schema: { type: 'string' } });
    }
    if (op.idempotent) {
      parameters.push({
        name: 'Idempotency-Key',
        in: 'header',
        required: false,
        description:
          'Optional; a retry with the same key makes the same Stripe call (otherwise calls within one minute are deduplicated)',
        schema: { type: 'string', maxLength: 200 },
      });
    }
    const responses: Record<string, Json> = {
      [String(op.ok.status)]: {
        description: op.ok.description,
        content: { 'application/json': { schema: toSchema(op.ok.schema, 'output') } },
      },
    };
    for (const status of op.errors ?? []) {
      responses[String(status)] = {
        description: ERROR_TEXT[status] ?? 'Error',
        content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
      };
    }
    const operation: Json = {
      operationId: `${op.method}${op.path.replace(/[^A-Za-z0-9]+(.)?/g, (_m, c: string | undefined) => (c ? c.toUpperCase() : ''))}`,
      summary: op.summary,
      ...(op.description ? { description: op.description } : {}),
      tags: [op.tag],
      security: op.auth === 'public' ? [] : [{ bearer: [] }],
      parameters,
      responses,
    };
    if (op.auth === 'ops') {
      operation['x-credentials'] = 'OPS_TOKEN or the service token';
    } else if (op.auth === 'user') {
      operation['x-credentials'] = 'BILLING_SERVICE_TOKEN (with userId) or a user API key';
    }
    if (op.body) {
      operation.requestBody = {
        required: op.body !== userBody,
        content: { 'application/json': { schema: toSchema(op.body, 'input') } },
      };
    }
    const path = toOpenApiPath(op.path);
    paths[path] ??= {};
    paths[path][op.method] = operation;
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'Billing API',
      version,
      description:
        'Billing state, usage, plans and plan changes. Bearer auth: BILLING_SERVICE_TOKEN may act for any user by passing userId (query for GET, JSON body for POST); a user API key acts for its own user only.',
    },
    servers: [{ url: '/' }],
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
      schemas: { Error: toSchema(errorResponse, 'output') },
    },
    paths,
  };
}
