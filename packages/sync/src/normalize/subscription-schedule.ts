import { z } from 'zod';
import { expandableId, metadata, unixTime } from './common.js';

const phaseItem = z.object({
  price: expandableId.nullish(),
  plan: expandableId.nullish(),
  quantity: z.number().int().nullish(),
});

const phase = z.object({
  start_date: z.number().nullish(),
  end_date: z.number().nullish(),
  trial_end: z.number().nullish(),
  items: z.array(phaseItem).nullish(),
});

const scheduleSchema = z.object({
  id: z.string().min(1),
  object: z.literal('subscription_schedule').optional(),
  customer: expandableId.nullish(),
  subscription: expandableId.nullish(),
  status: z.string().min(1),
  phases: z.array(phase).nullish(),
  end_behavior: z.string().nullish(),
  metadata,
  created: unixTime,
  livemode: z.boolean().optional(),
});

/** The part of a phase the app reads (what plan, from when): not Stripe's whole phase object. */
export interface SchedulePhase {
  startDate: number | null;
  endDate: number | null;
  trialEnd: number | null;
  items: { priceId: string | null; quantity: number }[];
}

export interface NormalizedSubscriptionSchedule {
  id: string;
  customerId: string | null;
  subscriptionId: string | null;
  status: string;
  phases: SchedulePhase[];
  endBehavior: string | null;
  metadata: Record<string, string>;
  createdAt: Date | null;
  livemode: boolean | undefined;
}

export function normalizeSubscriptionSchedule(raw: unknown): NormalizedSubscriptionSchedule {
  const s = scheduleSchema.parse(raw);
  return {
    id: s.id,
    customerId: s.customer ?? null,
    subscriptionId: s.subscription ?? null,
    status: s.status,
    phases: (s.phases ?? []).map((p) => ({
      startDate: p.start_date ?? null,
      endDate: p.end_date ?? null,
      trialEnd: p.trial_end ?? null,
      items: (p.items ?? []).map((item) => ({
        priceId: item.price ?? item.plan ?? null,
        quantity: item.quantity ?? 1,
      })),
    })),
    endBehavior: s.end_behavior ?? null,
    metadata: s.metadata,
    createdAt: s.created,
    livemode: s.livemode,
  };
}
