import { CACHE_TTLS, fields, type TieredCache } from '@billing/cache';
import type { Interval, PlanDefinition } from '@billing/config';
import { isLiveSubscriptionStatus, type Sql } from '@billing/db';
import type { Logger } from '@billing/logger';
import { AppError, ServiceUnavailableError } from '@billing/runtime';
import type { Stripe } from '@billing/stripe';
import { fieldError } from '../http/validation.js';
import { stripeIdempotencyKey } from './idempotency.js';
import type { PlanDirectory } from './plan-directory.js';
import {
  type ItemRecord,
  loadCustomerId,
  loadItems,
  loadSubscription,
  type SubscriptionRecord,
} from './queries.js';
import { fromStripeError, stripeNotConfigured } from './stripe-errors.js';

const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]']);
export interface PlanChoice {
  planId: string;
  interval: Interval;
  /**
   * Unix seconds to prorate from. A preview without one fixes it (now) and returns it; an
   * upgrade given the preview's is charged exactly what the preview showed.
   */
  prorationDate?: number;
}

/** How far ahead of the server's clock a proration date may be (client clock skew). */
const PRORATION_FUTURE_SKEW_S = 300;

export interface CheckoutInput extends PlanChoice {
  successUrl: string;
  cancelUrl: string;
}

export interface CheckoutResult {
  url: string;
  sessionId: string;
  customerId: string;
}

/** Mutations are applied by Stripe; the local copy changes when its webhook is processed. */
export interface PendingChange {
  status: 'pending_webhook' | 'unchanged';
  subscriptionId: string;
  message: string;
}

export interface PortalSessionResult {
  url: string;
  sessionId: string;
  customerId: string;
}

export interface UpgradeResult extends PendingChange {
  planId: string;
  interval: Interval;
  priceId: string;
}

export interface ProrationPreview {
  subscriptionId: string;
  planId: string;
  interval: Interval;
  priceId: string;
  currency: string;
  /** Net of the proration lines (charge for the new plan minus credit for the unused old one), minor units. */
  amountDue: number;
  /** What the next invoice would total with the change (prorations plus the next period). */
  nextInvoiceAmountDue: number;
  /** The moment the preview prorates from (unix seconds), as Stripe computed it. */
  prorationDate: number | null;
  lines: { description: string | null; amount: number; proration: boolean }[];
}

export interface BillingActionsDeps {
  sql: Sql;
  cache: TieredCache;
  directory: PlanDirectory;
  /** Undefined when no Stripe key is configured: every action answers 503. */
  stripe: Stripe | undefined;
  logger: Logger;
  /** APP_ORIGIN and CHECKOUT_ALLOWED_ORIGINS: where Checkout may send a customer back. */
  checkoutAllowedOrigins?: string[];
  /** Also allow loopback origins (development; never in production). */
  checkoutAllowLoopback?: boolean;
  /** Default `return_url` of customer portal sessions. */
  billingPortalReturnUrl?: string;
  now?: () => number;
}

const conflict = (code: string, message: string) => new AppError(409, code, message);

const PENDING_MESSAGE =
  'Stripe accepted the change; the billing state updates when Stripe’s webhook is processed (usually within seconds).';

/**
 * The Stripe-backed actions: checkout, plan change, cancel/resume at period end, proration
 * preview. Inputs are validated against the plan list before anything is sent to Stripe; each
 * call carries a deterministic idempotency key (see idempotency.ts); only the fields that
 * change are sent. Mutations read the subscription from Postgres, not the cache.
 */
export class BillingActions {
  private readonly log: Logger;
  private readonly now: () => number;

  constructor(private readonly deps: BillingActionsDeps) {
    this.log = deps.logger.child({ module: 'billing-actions' });
    this.now = deps.now ?? Date.now;
  }

  /** A paid plan with a price for `interval`, or a 400 naming the field. Sends nothing. */
  paidPlan(choice: PlanChoice, source: 'body' | 'query'): PlanDefinition {
    const { directory } = this.deps;
    const plan = directory.plan(choice.planId);
    if (!plan) {
      const known = directory.planList.plans.map((p) => p.id).join(', ');
      throw fieldError(
        'planId',
        `unknown plan "${choice.planId}" (plans: ${known})`,
        source,
        'unknown_plan',
      );
    }
    if (directory.isFree(plan)) {
      throw fieldError(
        'planId',
        `"${plan.id}" is the free plan; cancel the subscription instead`,
        source,
        'free_plan',
      );
    }
    if (!plan.prices?.[choice.interval]) {
      throw fieldError(
        'interval',
        `plan "${plan.id}" has no ${choice.interval}ly price`,
        source,
        'no_price_for_interval',
      );
    }
    return plan;
  }

  /**
   * Success/cancel (and portal return) URLs: Stripe sends the paying customer there, so an open list would make
   * Checkout a redirector to any site. Allowed: the configured origins (APP_ORIGIN and
   * CHECKOUT_ALLOWED_ORIGINS) and, outside production, loopback on any port.
   */
  checkRedirectUrl(field: 'successUrl' | 'cancelUrl' | 'returnUrl', value: string): void {
    const url = new URL(value);
    if (this.deps.checkoutAllowedOrigins?.includes(url.origin)) return;
    if (this.deps.checkoutAllowLoopback && LOOPBACK_HOSTS.has(url.hostname)) return;
    throw fieldError(
      field,
      `origin ${url.origin} is not allowed (APP_ORIGIN, CHECKOUT_ALLOWED_ORIGINS)`,
      'body',
      'origin_not_allowed',
    );
  }

  async checkout(
    userId: string,
    input: CheckoutInput,
    clientKey?: string,
  ): Promise<CheckoutResult> {
    const plan = this.paidPlan(input, 'body');
    this.checkRedirectUrl('successUrl', input.successUrl);
    this.checkRedirectUrl('cancelUrl', input.cancelUrl);
    const stripe = this.requireStripe();
    const current = await loadSubscription(this.deps.sql, userId);
    if (current && isLiveSubscriptionStatus(current.status)) {
      throw conflict(
        'subscription_exists',
        `the user already has a ${current.status} subscription (${current.id}); use /api/billing/upgrade`,
      );
    }
    const priceId = await this.priceId(plan, input.interval);
    const now = this.now();
    try {
      // 1. The user's Stripe customer, or a new one tagged with the user id.
      let customerId = await loadCustomerId(this.deps.sql, userId);
      if (!customerId) {
        const customer = await stripe.customers.create(
          { metadata: { user_id: userId } },
          { idempotencyKey: stripeIdempotencyKey('customer', [userId], clientKey, now) },
        );
        customerId = customer.id;
      }
      // 2. The session; the subscription it creates carries the user id for the webhook worker.
      const session = await stripe.checkout.sessions.create(
        {
          mode: 'subscription',
          customer: customerId,
          client_reference_id: userId,
          line_items: [{ price: priceId, quantity: 1 }],
          success_url: input.successUrl,
          cancel_url: input.cancelUrl,
          metadata: { user_id: userId, plan_id: plan.id, interval: input.interval },
          subscription_data: { metadata: { user_id: userId, plan_id: plan.id } },
        },
        {
          idempotencyKey: stripeIdempotencyKey(
            'checkout',
            [userId, customerId, priceId, input.successUrl, input.cancelUrl],
            clientKey,
            now,
          ),
        },
      );
      if (!session.url)
        throw new AppError(502, 'stripe_error', 'Stripe returned a session without a URL');
      this.log.info({ userId, planId: plan.id, sessionId: session.id }, 'checkout session created');
      return { url: session.url, sessionId: session.id, customerId };
    } catch (error) {
      throw fromStripeError(error);
    }
  }

  /**
   * A Stripe customer portal session, where the customer updates their card (a past-due
   * subscription is then retried by Stripe) and sees their invoices. Any user with a Stripe
   * customer may open one, whatever the subscription's status.
   */
  async portalSession(
    userId: string,
    input: { returnUrl?: string },
    clientKey?: string,
  ): Promise<PortalSessionResult> {
    if (input.returnUrl !== undefined) this.checkRedirectUrl('returnUrl', input.returnUrl);
    const returnUrl = input.returnUrl ?? this.deps.billingPortalReturnUrl;
    if (returnUrl === undefined) {
      throw fieldError(
        'returnUrl',
        'is required (no BILLING_PORTAL_RETURN_URL is configured)',
        'body',
        'return_url_required',
      );
    }
    const stripe = this.requireStripe();
    const customerId = await loadCustomerId(this.deps.sql, userId);
    if (!customerId) {
      throw conflict(
        'no_customer',
        'the user has no Stripe customer yet; use create-checkout-session',
      );
    }
    try {
      const session = await stripe.billingPortal.sessions.create(
        { customer: customerId, return_url: returnUrl },
        {
          idempotencyKey: stripeIdempotencyKey(
            'portal-session',
            [userId, customerId, returnUrl],
            clientKey,
            this.now(),
          ),
        },
      );
      this.log.info({ userId, sessionId: session.id }, 'customer portal session created');
      return { url: session.url, sessionId: session.id, customerId };
    } catch (error) {
      throw fromStripeError(error);
    }
  }

  async upgrade(userId: string, choice: PlanChoice, clientKey?: string): Promise<UpgradeResult> {
    const plan = this.paidPlan(choice, 'body');
    const stripe = this.requireStripe();
    const { subscription, item } = await this.liveSubscriptionItem(userId);
    const priceId = await this.priceId(plan, choice.interval);
    if (item.priceId === priceId) {
      throw conflict(
        'already_on_plan',
        `the subscription is already on ${plan.id} (${choice.interval})`,
      );
    }
    const prorationDate = this.checkProrationDate(choice.prorationDate, subscription, 'body');
    try {
      // Only the item's price changes; Stripe prorates it, from the preview's date when given.
      await stripe.subscriptions.update(
        subscription.id,
        {
          items: [{ id: item.id, price: priceId }],
          proration_behavior: 'create_prorations',
          ...(prorationDate === undefined ? {} : { proration_date: prorationDate }),
        },
        {
          idempotencyKey: stripeIdempotencyKey(
            'upgrade',
            [
              userId,
              subscription.id,
              subscription.lastEventId,
              item.id,
              priceId,
              ...(prorationDate === undefined ? [] : [prorationDate]),
            ],
            clientKey,
            this.now(),
          ),
        },
      );
    } catch (error) {
      throw fromStripeError(error);
    }
    this.log.info({ userId, subscriptionId: subscription.id, planId: plan.id }, 'plan change sent');
    return {
      status: 'pending_webhook',
      subscriptionId: subscription.id,
      planId: plan.id,
      interval: choice.interval,
      priceId,
      message: PENDING_MESSAGE,
    };
  }

  /** Cancel at period end (`cancel: true`) or undo it (`cancel: false`). */
  async setCancelAtPeriodEnd(
    userId: string,
    cancel: boolean,
    clientKey?: string,
  ): Promise<PendingChange> {
    const stripe = this.requireStripe();
    const subscription = await loadSubscription(this.deps.sql, userId);
    if (!subscription || !isLiveSubscriptionStatus(subscription.status)) {
      throw conflict('no_subscription', 'the user has no active subscription');
    }
    if (subscription.cancelAtPeriodEnd === cancel) {
      return {
        status: 'unchanged',
        subscriptionId: subscription.id,
        message: cancel
          ? 'the subscription is already set to cancel at the end of the period'
          : 'the subscription is not set to cancel',
      };
    }
    try {
      await stripe.subscriptions.update(
        subscription.id,
        { cancel_at_period_end: cancel },
        {
          idempotencyKey: stripeIdempotencyKey(
            cancel ? 'cancel' : 'resume',
            [userId, subscription.id, subscription.lastEventId],
            clientKey,
            this.now(),
          ),
        },
      );
    } catch (error) {
      throw fromStripeError(error);
    }
    this.log.info({ userId, subscriptionId: subscription.id, cancel }, 'cancel_at_period_end sent');
    return { status: 'pending_webhook', subscriptionId: subscription.id, message: PENDING_MESSAGE };
  }

  /**
   * What changing to `choice` would cost if done at its proration date (given, or now, fixed
   * here and returned); cached 5 minutes per user, plan, interval and given date. The cached
   * answer keeps its date, so an upgrade sent with it is charged exactly the amount shown.
   */
  prorationPreview(userId: string, choice: PlanChoice): Promise<ProrationPreview> {
    const plan = this.paidPlan(choice, 'query');
    const stripe = this.requireStripe();
    return this.deps.cache.user(
      userId,
      fields.proration(plan.id, choice.interval, choice.prorationDate),
      CACHE_TTLS.proration,
      async () => {
        const { subscription, item } = await this.liveSubscriptionItem(userId);
        const prorationDate =
          this.checkProrationDate(choice.prorationDate, subscription, 'query') ??
          Math.floor(this.now() / 1000);
        const priceId = await this.priceId(plan, choice.interval);
        if (item.priceId === priceId) {
          throw conflict(
            'already_on_plan',
            `the subscription is already on ${plan.id} (${choice.interval})`,
          );
        }
        let invoice: Stripe.Invoice;
        try {
          invoice = await stripe.invoices.createPreview(
            {
              customer: subscription.customerId,
              subscription: subscription.id,
              subscription_details: {
                items: [{ id: item.id, price: priceId }],
                proration_behavior: 'create_prorations',
                proration_date: prorationDate,
              },
            },
            {
              idempotencyKey: stripeIdempotencyKey(
                'proration-preview',
                [
                  userId,
                  subscription.id,
                  subscription.lastEventId,
                  item.id,
                  priceId,
                  ...(prorationDate === undefined ? [] : [prorationDate]),
                ],
                undefined,
                this.now(),
              ),
            },
          );
        } catch (error) {
          throw fromStripeError(error);
        }
        const lines = invoice.lines.data.map((line) => ({
          description: line.description ?? null,
          amount: line.amount,
          proration: isProration(line),
        }));
        return {
          subscriptionId: subscription.id,
          planId: plan.id,
          interval: choice.interval,
          priceId,
          currency: invoice.currency,
          amountDue: lines
            .filter((line) => line.proration)
            .reduce((sum, line) => sum + line.amount, 0),
          nextInvoiceAmountDue: invoice.amount_due,
          prorationDate:
            invoice.parent?.subscription_details?.subscription_proration_date ?? prorationDate,
          lines,
        } satisfies ProrationPreview;
      },
    );
  }

  /**
   * A client's proration date must lie in the subscription's current period (Stripe prorates
   * within it) and not ahead of our clock by more than the skew allowed.
   */
  private checkProrationDate(
    date: number | undefined,
    subscription: SubscriptionRecord,
    source: 'body' | 'query',
  ): number | undefined {
    if (date === undefined) return undefined;
    const now = Math.floor(this.now() / 1000);
    if (date > now + PRORATION_FUTURE_SKEW_S) {
      throw fieldError('prorationDate', 'must not be in the future', source);
    }
    const periodStart = subscription.currentPeriodStart
      ? Math.floor(Date.parse(subscription.currentPeriodStart) / 1000)
      : undefined;
    if (periodStart !== undefined && date < periodStart) {
      throw fieldError('prorationDate', 'must be within the current billing period', source);
    }
    return date;
  }

  private requireStripe(): Stripe {
    if (!this.deps.stripe) throw stripeNotConfigured();
    return this.deps.stripe;
  }

  /** The Stripe price id of a plan's interval (resolving a lookup key), or 503 if unresolvable. */
  private async priceId(plan: PlanDefinition, interval: Interval): Promise<string> {
    const ref = await this.deps.directory.priceFor(plan.id, interval);
    if (ref?.price) return ref.price.id;
    const raw = plan.prices?.[interval];
    if (raw?.startsWith('price_')) return raw;
    throw new ServiceUnavailableError(
      'price_unresolved',
      `the price "${raw}" of plan "${plan.id}" could not be resolved; retry later`,
    );
  }

  /** The live subscription and the item carrying its plan (fresh from Postgres). */
  private async liveSubscriptionItem(
    userId: string,
  ): Promise<{ subscription: SubscriptionRecord; item: ItemRecord }> {
    const subscription = await loadSubscription(this.deps.sql, userId);
    if (!subscription || !isLiveSubscriptionStatus(subscription.status)) {
      throw conflict(
        'no_subscription',
        'the user has no active subscription; use create-checkout-session',
      );
    }
    const items = await loadItems(this.deps.sql, subscription.id);
    const listedItems: ItemRecord[] = [];
    for (const item of items) {
      if (await this.deps.directory.planForPrice(item.priceId, item.lookupKey))
        listedItems.push(item);
    }
    const item = listedItems[0] ?? (items.length === 1 ? items[0] : undefined);
    if (!item) {
      throw conflict(
        'no_plan_item',
        `subscription ${subscription.id} has no single item carrying a listed plan`,
      );
    }
    return { subscription, item };
  }
}

/** Whether an invoice line is a proration: `parent.*_details.proration` (basil+), else `proration`. */
function isProration(line: Stripe.InvoiceLineItem): boolean {
  const parent = line.parent as
    | {
        subscription_item_details?: { proration?: boolean } | null;
        invoice_item_details?: { proration?: boolean } | null;
      }
    | null
    | undefined;
  const flag =
    parent?.subscription_item_details?.proration ??
    parent?.invoice_item_details?.proration ??
    (line as unknown as { proration?: boolean }).proration;
  return flag === true;
}
