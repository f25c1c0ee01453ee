import { CACHE_TTLS, globals, type TieredCache } from '@billing/cache';
import { INTERVALS, type Interval, type PlanDefinition, type PlanList } from '@billing/config';
import { type Database, prices } from '@billing/db';
import type { Logger } from '@billing/logger';
import type { Stripe } from '@billing/stripe';
import { and, eq, inArray, or } from 'drizzle-orm';

/** A Stripe price as the API shows it. Amounts in minor units. */
export interface PriceView {
  id: string;
  lookupKey: string | null;
  currency: string;
  unitAmount: number | null;
  interval: string | null;
  intervalCount: number | null;
}

/** A plan reference (`prices.month` in PLANS_FILE) and what it resolved to. */
export interface ResolvedRef {
  ref: string;
  price: PriceView | null;
}

export interface ResolvedPlan {
  id: string;
  name: string;
  description: string | null;
  features: string[];
  limits: Record<string, number>;
  isFree: boolean;
  sortOrder: number;
  prices: Partial<Record<Interval, ResolvedRef>>;
}

export interface ResolvedPlans {
  plans: ResolvedPlan[];
  /** False when some reference could not be resolved (kept in cache briefly, then retried). */
  complete: boolean;
}

/** A price id (`price_…`) or a lookup key. */
export const isPriceId = (ref: string) => ref.startsWith('price_');

/** Stripe accepts at most 10 lookup keys per prices.list call. */
const LOOKUP_BATCH = 10;
/** An incomplete resolution (Stripe unreachable) is retried after a minute, not an hour. */
const INCOMPLETE_TTL_MS = 60_000;

export interface PlanDirectoryDeps {
  planList: PlanList;
  db: Database;
  cache: TieredCache;
  /** Undefined when no Stripe key is configured: references resolve from local rows only. */
  stripe: Stripe | undefined;
  logger: Logger;
}

/**
 * The plan list (PLANS_FILE) with its price references resolved: from the synced
 * `prices` table first, then Stripe (`prices.list({ lookup_keys })`, `prices.retrieve`).
 * The resolved plan list is cached for an hour (CACHE_TTLS.catalogue).
 */
export class PlanDirectory {
  readonly planList: PlanList;
  readonly freePlan: PlanDefinition;
  /** Every metric any plan limits; `?metric=` must name one of them. */
  readonly metrics: ReadonlySet<string>;
  private readonly byId = new Map<string, PlanDefinition>();
  /** Static reference (price id or lookup key) → plan and interval. */
  private readonly byRef = new Map<string, { planId: string; interval: Interval }>();
  private readonly log: Logger;

  constructor(private readonly deps: PlanDirectoryDeps) {
    this.planList = deps.planList;
    this.log = deps.logger.child({ module: 'plans' });
    const metrics = new Set<string>();
    let free: PlanDefinition | undefined;
    for (const plan of deps.planList.plans) {
      this.byId.set(plan.id, plan);
      for (const metric of Object.keys(plan.limits)) metrics.add(metric);
      const refs = INTERVALS.filter((interval) => plan.prices?.[interval]);
      if (refs.length === 0) free = plan;
      for (const interval of refs)
        this.byRef.set(plan.prices![interval]!, { planId: plan.id, interval });
    }
    if (!free) throw new Error('the plan list has no free plan');
    this.freePlan = free;
    this.metrics = metrics;
  }

  plan(id: string): PlanDefinition | undefined {
    return this.byId.get(id);
  }

  isFree(plan: PlanDefinition): boolean {
    return plan.id === this.freePlan.id;
  }

  /**
   * The listed plan a subscription's price belongs to: by price id or the price's lookup
   * key against the references in PLANS_FILE, then against the resolved plan list (a lookup
   * key whose price row is not synced yet). Null when the price is not in the plan list.
   */
  async planForPrice(
    priceId: string | null,
    lookupKey: string | null,
  ): Promise<{ planId: string; interval: Interval } | null> {
    if (priceId && this.byRef.has(priceId)) return this.byRef.get(priceId)!;
    if (lookupKey && this.byRef.has(lookupKey)) return this.byRef.get(lookupKey)!;
    if (!priceId) return null;
    const resolved = await this.resolved();
    for (const plan of resolved.plans) {
      for (const interval of INTERVALS) {
        if (plan.prices[interval]?.price?.id === priceId) return { planId: plan.id, interval };
      }
    }
    return null;
  }

  /** The resolved price of a plan for an interval, or undefined if it has none. */
  async priceFor(planId: string, interval: Interval): Promise<ResolvedRef | undefined> {
    const resolved = await this.resolved();
    return resolved.plans.find((plan) => plan.id === planId)?.prices[interval];
  }

  resolved(): Promise<ResolvedPlans> {
    return this.deps.cache.global(globals.catalogue, CACHE_TTLS.catalogue, () => this.resolve(), {
      ttlFor: (value) => (value.complete ? CACHE_TTLS.catalogue : INCOMPLETE_TTL_MS),
    });
  }

  private async resolve(): Promise<ResolvedPlans> {
    const refs = [...this.byRef.keys()];
    const found = new Map<string, PriceView>();
    if (refs.length > 0) {
      const rows = await this.deps.db
        .select()
        .from(prices)
        .where(
          and(
            eq(prices.deleted, false),
            or(inArray(prices.id, refs), inArray(prices.lookupKey, refs)),
          ),
        );
      // Newest active row wins for a lookup key (a key moved with transfer_lookup_key).
      rows.sort(
        (a, b) =>
          Number(a.active) - Number(b.active) ||
          (a.createdAt?.getTime() ?? 0) - (b.createdAt?.getTime() ?? 0),
      );
      for (const row of rows) {
        const view: PriceView = {
          id: row.id,
          lookupKey: row.lookupKey,
          currency: row.currency,
          unitAmount: row.unitAmount,
          interval: row.recurringInterval,
          intervalCount: row.recurringIntervalCount,
        };
        if (refs.includes(row.id)) found.set(row.id, view);
        if (row.lookupKey && refs.includes(row.lookupKey)) found.set(row.lookupKey, view);
      }
    }
    let complete = true;
    const missing = refs.filter((ref) => !found.has(ref));
    if (missing.length > 0) {
      complete = await this.resolveFromStripe(missing, found);
    }
    const plans = this.planList.plans.map((plan, index): ResolvedPlan => {
      const resolvedPrices: Partial<Record<Interval, ResolvedRef>> = {};
      for (const interval of INTERVALS) {
        const ref = plan.prices?.[interval];
        if (ref) resolvedPrices[interval] = { ref, price: found.get(ref) ?? null };
      }
      return {
        id: plan.id,
        name: plan.name,
        description: plan.description ?? null,
        features: plan.features ?? [],
        limits: plan.limits,
        isFree: plan.id === this.freePlan.id,
        sortOrder: plan.sortOrder ?? index,
        prices: resolvedPrices,
      };
    });
    plans.sort((a, b) => a.sortOrder - b.sortOrder);
    return { plans, complete };
  }

  /** Resolves the rest through Stripe; returns false if anything is still unresolved. */
  private async resolveFromStripe(
    missing: string[],
    found: Map<string, PriceView>,
  ): Promise<boolean> {
    const stripe = this.deps.stripe;
    if (!stripe) {
      this.log.warn(
        { refs: missing },
        'price references not in the prices table and no Stripe key',
      );
      return false;
    }
    const toView = (price: Stripe.Price): PriceView => ({
      id: price.id,
      lookupKey: price.lookup_key ?? null,
      currency: price.currency,
      unitAmount: price.unit_amount ?? null,
      interval: price.recurring?.interval ?? null,
      intervalCount: price.recurring?.interval_count ?? null,
    });
    try {
      const lookupKeys = missing.filter((ref) => !isPriceId(ref));
      for (let i = 0; i < lookupKeys.length; i += LOOKUP_BATCH) {
        const batch = lookupKeys.slice(i, i + LOOKUP_BATCH);
        const page = await stripe.prices.list({ lookup_keys: batch, active: true, limit: 100 });
        for (const price of page.data) {
          if (price.lookup_key && batch.includes(price.lookup_key)) {
            found.set(price.lookup_key, toView(price));
          }
        }
      }
      for (const id of missing.filter(isPriceId)) {
        found.set(id, toView(await stripe.prices.retrieve(id)));
      }
    } catch (error) {
      this.log.warn({ reason: (error as Error).message }, 'could not resolve prices from Stripe');
    }
    const unresolved = missing.filter((ref) => !found.has(ref));
    if (unresolved.length > 0) this.log.warn({ refs: unresolved }, 'unresolved price references');
    return unresolved.length === 0;
  }
}
