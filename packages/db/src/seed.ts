import type { PlanList } from '@billing/config';
import { notInArray, sql } from 'drizzle-orm';
import type { Database } from './client.js';
import { plans } from './schema/index.js';

/**
 * Loads the plan list into `plans` in one transaction: upserts every plan and removes
 * plans that are no longer in the file, so the table always equals the file.
 */
export async function seedPlans(db: Database, planList: PlanList): Promise<void> {
  const rows = planList.plans.map((plan, index) => ({
    id: plan.id,
    name: plan.name,
    description: plan.description ?? null,
    monthPrice: plan.prices?.month ?? null,
    yearPrice: plan.prices?.year ?? null,
    limits: plan.limits,
    features: plan.features ?? [],
    sortOrder: plan.sortOrder ?? index,
    isFree: !plan.prices || (!plan.prices.month && !plan.prices.year),
  }));
  await db.transaction(async (tx) => {
    await tx
      .insert(plans)
      .values(rows)
      .onConflictDoUpdate({
        target: plans.id,
        set: {
          name: sql`excluded.name`,
          description: sql`excluded.description`,
          monthPrice: sql`excluded.month_price`,
          yearPrice: sql`excluded.year_price`,
          limits: sql`excluded.limits`,
          features: sql`excluded.features`,
          sortOrder: sql`excluded.sort_order`,
          isFree: sql`excluded.is_free`,
          updatedAt: sql`now()`,
        },
      });
    await tx.delete(plans).where(
      notInArray(
        plans.id,
        rows.map((row) => row.id),
      ),
    );
  });
}
