import { INTERVALS, type Interval, type PlanList } from '@billing/config';
import type { Stripe } from '@billing/stripe';
import type { FakeStripeState } from '@billing/stripe-fake';

/**
 * The simulated account's products and prices for the plan catalogue, so checkout and
 * upgrades work out of the box: one product per paid plan (`metadata.plan_id`), one
 * recurring price per interval the plan lists, carrying the plan's lookup key (or the
 * `price_…` id itself when the catalogue names ids).
 */

/** Realistic monthly prices (minor units) for the bundled catalogue's plans. */
const MONTHLY_AMOUNTS: Readonly<Record<string, number>> = { pro: 2_900, business: 9_900 };
/** A yearly price is ten months' worth (two months free), as SaaS pricing pages tend to do. */
const YEARLY_MONTHS = 10;

/** The amount the simulator charges for a plan's interval; `rank` is the plan's 1-based position among paid plans. */
export function simulatedAmount(planId: string, interval: Interval, rank: number): number {
  const monthly = MONTHLY_AMOUNTS[planId] ?? 1_900 * rank;
  return interval === 'year' ? monthly * YEARLY_MONTHS : monthly;
}

export interface CatalogueSetup {
  created: Stripe.Price[];
  existing: Stripe.Price[];
}

/** Creates what is missing (emitting product.created / price.created); idempotent. */
export function ensureCatalogue(state: FakeStripeState, catalogue: PlanList): CatalogueSetup {
  const result: CatalogueSetup = { created: [], existing: [] };
  const paid = catalogue.plans.filter((plan) => plan.prices && Object.keys(plan.prices).length > 0);
  paid.forEach((plan, index) => {
    let product = [...state.products.values()].find(
      (candidate) => candidate.metadata.plan_id === plan.id,
    );
    for (const interval of INTERVALS) {
      const ref = plan.prices?.[interval];
      if (!ref) continue;
      const isId = ref.startsWith('price_');
      const found = isId
        ? state.prices.get(ref)
        : [...state.prices.values()].find((price) => price.active && price.lookup_key === ref);
      if (found) {
        result.existing.push(found);
        continue;
      }
      product ??= state.createProduct({
        name: plan.name,
        description: plan.description ?? null,
        metadata: { plan_id: plan.id },
      });
      result.created.push(
        state.createPrice({
          product: product.id,
          ...(isId ? { id: ref } : { lookupKey: ref }),
          unitAmount: simulatedAmount(plan.id, interval, index + 1),
          currency: 'usd',
          interval,
          nickname: `${plan.name} ${interval === 'month' ? 'monthly' : 'yearly'}`,
          metadata: { plan_id: plan.id },
        }),
      );
    }
  });
  return result;
}
