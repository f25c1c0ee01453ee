import { INTERVALS, USER_ID_PATTERN, USER_ID_RULE } from '@billing/config';
import { z } from 'zod';

/**
 * Request and response shapes of the billing API. Requests are parsed with these (strict:
 * an unknown field is a 400 naming it); the OpenAPI document is generated from the same
 * schemas, so the two cannot drift.
 */

/** The SaaS app's user id: what the service token passes as `userId`. */
export const userIdSchema = z
  .string()
  .regex(USER_ID_PATTERN, USER_ID_RULE)
  .describe('The user to act for; required with the service token, optional with a user API key');

/**
 * The same user-id rule as an HTML `pattern` attribute, for forms: browsers anchor it and
 * compile it with the `v` flag, where `|` and `-` inside a class must be escaped (unescaped,
 * Chromium drops the pattern and validation is silently off). schemas.test.ts checks that it
 * accepts exactly what userIdSchema accepts.
 */
export const USER_ID_HTML_PATTERN = String.raw`[A-Za-z0-9_.:@\|\-]{1,200}`;

export const intervalSchema = z.enum(INTERVALS, { message: 'must be "month" or "year"' });
const planIdSchema = z.string().min(1, 'is required').max(64, 'is too long');
const metricSchema = z
  .string()
  .regex(/^[a-z][a-z0-9_]{0,62}$/, 'must be a lower_snake_case metric name');
const redirectUrl = z
  .string()
  .max(2048, 'is too long')
  .refine((value) => {
    try {
      const url = new URL(value);
      return url.protocol === 'https:' || url.protocol === 'http:';
    } catch {
      return false;
    }
  }, 'must be an absolute http(s) URL');

export const userQuery = z.object({ userId: userIdSchema.optional() }).strict();
export const usageQuery = z
  .object({
    userId: userIdSchema.optional(),
    metric: metricSchema.optional().describe('Default compute_minutes'),
  })
  .strict();
export const plansQuery = z
  .object({ userId: userIdSchema.optional(), interval: intervalSchema.optional() })
  .strict();
/** A preview's `prorationDate` (unix seconds): the upgrade prorates from it, as the preview did. */
const prorationDateSchema = z.coerce
  .number({ message: 'must be unix seconds' })
  .int({ message: 'must be whole unix seconds' })
  .positive({ message: 'must be unix seconds' });
export const prorationQuery = z
  .object({
    userId: userIdSchema.optional(),
    planId: planIdSchema,
    interval: intervalSchema,
    prorationDate: prorationDateSchema.optional(),
  })
  .strict();
export const performanceQuery = z
  .object({
    window: z.enum(['1h', '24h', '7d'], { message: 'must be 1h, 24h or 7d' }).default('1h'),
  })
  .strict();

export const checkoutBody = z
  .object({
    userId: userIdSchema.optional(),
    planId: planIdSchema,
    interval: intervalSchema,
    successUrl: redirectUrl,
    cancelUrl: redirectUrl,
  })
  .strict();
export const upgradeBody = z
  .object({
    userId: userIdSchema.optional(),
    planId: planIdSchema,
    interval: intervalSchema,
    prorationDate: prorationDateSchema
      .optional()
      .describe('The preview’s prorationDate: the change is charged exactly as previewed'),
  })
  .strict();
export const userBody = z.object({ userId: userIdSchema.optional() }).strict();
export const portalSessionBody = z
  .object({
    userId: userIdSchema.optional(),
    returnUrl: redirectUrl
      .optional()
      .describe('Where the portal sends the customer back; default BILLING_PORTAL_RETURN_URL'),
  })
  .strict();

// ---- responses (documentation) -------------------------------------------------------

const isoTime = z.string().describe('ISO 8601 time');

export const subscriptionView = z.object({
  id: z.string(),
  status: z.string().describe('active, trialing, past_due, canceled, incomplete, …'),
  planId: z.string().nullable().describe('Listed plan of the price; null if not in PLANS_FILE'),
  priceId: z.string().nullable(),
  interval: z.string().nullable(),
  quantity: z.number().int(),
  currentPeriodStart: isoTime.nullable(),
  currentPeriodEnd: isoTime.nullable(),
  cancelAtPeriodEnd: z.boolean(),
  trialEnd: isoTime.nullable(),
});
export const subscriptionResponse = z.object({ subscription: subscriptionView.nullable() });

export const usageResponse = z.object({
  currentPeriodMinutes: z.number().describe('Used so far in the period (of `metric`)'),
  planLimit: z.number().describe('Included in the plan (0 if the plan does not list the metric)'),
  planType: z.string().describe('The plan whose limits apply'),
  canMakeRequest: z.boolean(),
  remainingMinutes: z.number(),
  metric: z.string(),
  used: z.number(),
  limit: z.number(),
  remaining: z.number(),
  periodStart: isoTime,
  periodEnd: isoTime,
  periodSource: z.enum(['subscription', 'free']),
});

const priceView = z.object({
  id: z.string(),
  lookupKey: z.string().nullable(),
  currency: z.string(),
  unitAmount: z.number().int().nullable().describe('Minor units'),
  interval: z.string().nullable(),
  intervalCount: z.number().int().nullable(),
});
const planView = z.object({
  id: z.string(),
  name: z.string(),
  description: z.string().nullable(),
  features: z.array(z.string()),
  limits: z.record(z.string(), z.number()),
  isFree: z.boolean(),
  prices: z.object({
    month: priceView.nullable().optional(),
    year: priceView.nullable().optional(),
  }),
  price: priceView.nullable().optional().describe('With ?interval=: that interval’s price'),
});
export const plansResponse = z.object({ plans: z.array(planView) });
const endedPlanView = z.object({
  subscriptionId: z.string(),
  planId: z.string().nullable().describe('Catalogue plan of the ended subscription'),
  planName: z.string().nullable(),
  interval: z.string().nullable(),
  endedAt: isoTime.nullable().describe('Stripe ended_at, else canceled_at, else its period end'),
  periodStart: isoTime.nullable().describe('Its last period'),
  periodEnd: isoTime.nullable(),
  usage: z
    .record(z.string(), z.object({ used: z.number(), limit: z.number() }))
    .describe('Per metric: used in its last period, and the plan’s limit'),
});
export const overviewResponse = z.object({
  plans: z.array(planView),
  subscription: subscriptionView.nullable(),
  usage: usageResponse,
  usageByMetric: z.record(z.string(), usageResponse),
  ended: endedPlanView
    .nullable()
    .describe(
      'The paid plan that ended, when the shown subscription is canceled (no live one); else null',
    ),
});
export const checkoutResponse = z.object({
  url: z.string(),
  sessionId: z.string(),
  customerId: z.string(),
});
export const portalSessionResponse = z.object({
  url: z.string().describe('The customer portal link: send the customer there'),
  sessionId: z.string(),
  customerId: z.string(),
});
export const prorationResponse = z.object({
  subscriptionId: z.string(),
  planId: z.string(),
  interval: intervalSchema,
  priceId: z.string(),
  currency: z.string(),
  amountDue: z.number().int().describe('Net proration (minor units) the change adds'),
  nextInvoiceAmountDue: z.number().int(),
  prorationDate: z
    .number()
    .int()
    .nullable()
    .describe('Unix seconds the preview prorates from; pass it to the upgrade to be charged this'),
  lines: z.array(
    z.object({
      description: z.string().nullable(),
      amount: z.number().int(),
      proration: z.boolean(),
    }),
  ),
});
export const pendingResponse = z.object({
  status: z.enum(['pending_webhook', 'unchanged']),
  subscriptionId: z.string(),
  message: z.string(),
});
export const upgradeResponse = pendingResponse.extend({
  planId: z.string(),
  interval: intervalSchema,
  priceId: z.string(),
});

const endpointFigures = z.object({
  requests: z.number().int(),
  successRate: z.number().nullable().describe('Share of 2xx/3xx answers'),
  serverErrors: z.number().int(),
  clientErrors: z.number().int(),
  avgMs: z.number().nullable(),
  p95Ms: z.number().nullable(),
  minMs: z.number().nullable(),
  maxMs: z.number().nullable(),
  slow: z.number().int(),
  targetMs: z.number().int().nullable(),
});
export const performanceResponse = z.object({
  window: z.enum(['1h', '24h', '7d']),
  from: isoTime,
  to: isoTime,
  overall: endpointFigures,
  endpoints: z.array(endpointFigures.extend({ method: z.string(), endpoint: z.string() })),
  recentSlow: z.array(
    z.object({
      occurredAt: isoTime,
      method: z.string(),
      endpoint: z.string(),
      durationMs: z.number().int(),
      targetMs: z.number().int(),
      statusCode: z.number().int(),
    }),
  ),
});

export const errorResponse = z.object({
  error: z.object({
    code: z.string(),
    message: z.string(),
    field: z.string().optional().describe('The offending field for 400s'),
  }),
});
