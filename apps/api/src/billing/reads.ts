import { CACHE_TTLS, fields, type TieredCache } from '@billing/cache';
import type { Interval, PlanDefinition } from '@billing/config';
import { isLiveSubscriptionStatus, type Sql } from '@billing/db';
import type { Logger } from '@billing/logger';
import { type UsageConfig, type UsageSnapshot, usedInPeriod } from '@billing/usage';
import type { PlanDirectory, ResolvedPlan, ResolvedRef } from './plan-directory.js';
import { iso, loadSubscription, type SubscriptionRecord } from './queries.js';

export const DEFAULT_METRIC = 'compute_minutes';

/** `GET /api/billing/subscription` → `subscription`. Times are ISO strings. */
export interface SubscriptionView {
  id: string;
  status: string;
  planId: string | null;
  priceId: string | null;
  interval: string | null;
  quantity: number;
  currentPeriodStart: string | null;
  currentPeriodEnd: string | null;
  cancelAtPeriodEnd: boolean;
  trialEnd: string | null;
}

/**
 * `GET /api/billing/usage`. The first five fields are the original compute-minutes contract
 * that existing clients read; the rest say the same for any metric.
 */
export interface UsageView {
  currentPeriodMinutes: number;
  planLimit: number;
  planType: string;
  canMakeRequest: boolean;
  remainingMinutes: number;
  metric: string;
  used: number;
  limit: number;
  remaining: number;
  periodStart: string;
  periodEnd: string;
  /** `subscription`: the live subscription's period; `free`: the free-plan rule (USAGE_FREE_PERIOD). */
  periodSource: 'subscription' | 'free';
}

/**
 * A paid plan that has ended (the shown subscription is `canceled`): which plan, when it
 * ended, and what was used in its last period. After the end the user is on the free plan,
 * whose period and limits are new, so without this a cancelled customer would see only
 * "Free, 0 used" and nothing about the plan they had.
 */
export interface EndedPlanView {
  subscriptionId: string;
  planId: string | null;
  /** The catalogue name of the plan (null if its price is not in PLANS_FILE). */
  planName: string | null;
  interval: string | null;
  /** When it ended: Stripe's `ended_at`, else `canceled_at`, else the end of its last period. */
  endedAt: string | null;
  /** Its last period; usage in it was booked against the plan's limits. */
  periodStart: string | null;
  periodEnd: string | null;
  /** Per metric of the catalogue: used in that last period and the plan's limit. */
  usage: Record<string, { used: number; limit: number }>;
}

export interface PlanPriceView {
  id: string;
  lookupKey: string | null;
  currency: string;
  unitAmount: number | null;
  interval: string | null;
  intervalCount: number | null;
}

export interface PlanView {
  id: string;
  name: string;
  description: string | null;
  features: string[];
  limits: Record<string, number>;
  isFree: boolean;
  prices: Partial<Record<Interval, PlanPriceView | null>>;
  /** With `?interval=`: that interval's price (null for the free plan). */
  price?: PlanPriceView | null;
}

export interface EffectivePlan {
  plan: PlanDefinition;
  /** The live subscription, if any. */
  subscription: SubscriptionRecord | null;
}

export type UsageSnapshotFn = (
  sql: Sql,
  options: { userId: string; metric: string; now?: Date; config?: UsageConfig },
) => Promise<UsageSnapshot>;

export interface BillingReadsDeps {
  sql: Sql;
  cache: TieredCache;
  directory: PlanDirectory;
  logger: Logger;
  usageSnapshot: UsageSnapshotFn;
  usageConfig?: UsageConfig;
  now?: () => number;
}

const priceView = (ref: ResolvedRef | undefined): PlanPriceView | null =>
  ref?.price ? { ...ref.price } : null;

/**
 * The cached reads behind the billing routes. Subscription and usage figures are cached per
 * user (5 min / 2 min, invalidated by the webhook worker and usage writes); the plan list for
 * an hour. Plan ids are resolved at answer time, so a plan list change needs no user flush.
 */
export class BillingReads {
  private readonly log: Logger;
  private readonly now: () => number;

  constructor(private readonly deps: BillingReadsDeps) {
    this.log = deps.logger.child({ module: 'billing-reads' });
    this.now = deps.now ?? Date.now;
  }

  /** The user's shown subscription record (cached, `null` cached too). */
  subscriptionRecord(userId: string): Promise<SubscriptionRecord | null> {
    return this.deps.cache.user(userId, fields.subscription, CACHE_TTLS.subscription, () =>
      loadSubscription(this.deps.sql, userId),
    );
  }

  async subscription(userId: string): Promise<SubscriptionView | null> {
    const record = await this.subscriptionRecord(userId);
    if (!record) return null;
    const match = await this.deps.directory.planForPrice(record.priceId, record.priceLookupKey);
    return {
      id: record.id,
      status: record.status,
      planId: match?.planId ?? null,
      priceId: record.priceId,
      interval: record.interval,
      quantity: record.quantity,
      currentPeriodStart: record.currentPeriodStart,
      currentPeriodEnd: record.currentPeriodEnd,
      cancelAtPeriodEnd: record.cancelAtPeriodEnd,
      trialEnd: record.trialEnd,
    };
  }

  /**
   * The plan whose limits apply: the live subscription's plan, else the free plan. A live
   * subscription on a price the plan list does not know gets the free plan's limits (logged):
   * add the price to PLANS_FILE.
   */
  async effectivePlan(userId: string): Promise<EffectivePlan> {
    const { directory } = this.deps;
    const record = await this.subscriptionRecord(userId);
    if (!record || !isLiveSubscriptionStatus(record.status))
      return { plan: directory.freePlan, subscription: null };
    const match = await directory.planForPrice(record.priceId, record.priceLookupKey);
    const plan = match ? directory.plan(match.planId) : undefined;
    if (!plan) {
      this.log.warn(
        { subscriptionId: record.id, priceId: record.priceId },
        'live subscription on a price outside the plan list; applying free limits',
      );
      return { plan: directory.freePlan, subscription: record };
    }
    return { plan, subscription: record };
  }

  /** `resolvePlanLimits` for the usage router. */
  async planLimits(userId: string): Promise<{ planId: string; limits: Record<string, number> }> {
    const { plan } = await this.effectivePlan(userId);
    return { planId: plan.id, limits: plan.limits };
  }

  /** Usage of one metric in the current period against the plan's limit (cached 2 min). */
  usage(userId: string, metric: string): Promise<UsageView> {
    return this.deps.cache.user(userId, fields.usage(metric), CACHE_TTLS.usage, async () => {
      const [{ plan }, snapshot] = await Promise.all([
        this.effectivePlan(userId),
        this.deps.usageSnapshot(this.deps.sql, {
          userId,
          metric,
          now: new Date(this.now()),
          config: this.deps.usageConfig,
        }),
      ]);
      // A metric the plan does not list is not included in it.
      const limit = plan.limits[metric] ?? 0;
      const used = snapshot.used;
      const remaining = Math.max(0, limit - used);
      return {
        currentPeriodMinutes: used,
        planLimit: limit,
        planType: plan.id,
        canMakeRequest: used < limit,
        remainingMinutes: remaining,
        metric,
        used,
        limit,
        remaining,
        periodStart: snapshot.periodStart.toISOString(),
        periodEnd: snapshot.periodEnd.toISOString(),
        periodSource: snapshot.source,
      } satisfies UsageView;
    });
  }

  /**
   * The ended paid plan of a user whose shown subscription is `canceled` (no live one), else
   * null. Read fresh (one small query for the end times, one exact sum per metric): only
   * cancelled users get here, and late usage can still land in the ended period.
   */
  async ended(userId: string): Promise<EndedPlanView | null> {
    const record = await this.subscriptionRecord(userId);
    if (record?.status !== 'canceled') return null;
    const { directory, sql } = this.deps;
    const [match, [times]] = await Promise.all([
      directory.planForPrice(record.priceId, record.priceLookupKey),
      sql<{ ended_at: Date | string | null; canceled_at: Date | string | null }[]>`
        select ended_at, canceled_at from subscriptions where id = ${record.id}`,
    ]);
    const plan = match ? directory.plan(match.planId) : undefined;
    const metrics = [...directory.metrics];
    const periodStart = record.currentPeriodStart ? new Date(record.currentPeriodStart) : null;
    const sums = await Promise.all(
      metrics.map((metric) => (periodStart ? usedInPeriod(sql, userId, metric, periodStart) : 0)),
    );
    const used = Object.fromEntries(metrics.map((metric, i) => [metric, sums[i]]));
    return {
      subscriptionId: record.id,
      planId: plan?.id ?? null,
      planName: plan?.name ?? null,
      interval: record.interval,
      endedAt:
        iso(times?.ended_at ?? null) ?? iso(times?.canceled_at ?? null) ?? record.currentPeriodEnd,
      periodStart: record.currentPeriodStart,
      periodEnd: record.currentPeriodEnd,
      usage: Object.fromEntries(
        metrics.map((metric) => [
          metric,
          { used: used[metric] ?? 0, limit: plan?.limits[metric] ?? 0 },
        ]),
      ),
    };
  }

  async plans(interval?: Interval): Promise<PlanView[]> {
    const resolved = await this.deps.directory.resolved();
    const visible = interval
      ? resolved.plans.filter((plan) => plan.isFree || plan.prices[interval])
      : resolved.plans;
    return visible.map((plan: ResolvedPlan) => {
      const prices: Partial<Record<Interval, PlanPriceView | null>> = {};
      for (const [key, ref] of Object.entries(plan.prices) as [Interval, ResolvedRef][]) {
        prices[key] = priceView(ref);
      }
      const view: PlanView = {
        id: plan.id,
        name: plan.name,
        description: plan.description,
        features: plan.features,
        limits: plan.limits,
        isFree: plan.isFree,
        prices,
      };
      if (interval) view.price = priceView(plan.prices[interval]);
      return view;
    });
  }
}
