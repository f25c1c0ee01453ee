import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { type Env, parseEnv, processEnv } from './env.js';
import { ConfigError } from './errors.js';

export const INTERVALS = ['month', 'year'] as const;
export type Interval = (typeof INTERVALS)[number];

/** A price reference: a Stripe price id (`price_…`) or a price lookup key. */
const priceRef = z.string().min(1, 'must be a price id or lookup key').max(200);

const metricName = z.string().regex(/^[a-z][a-z0-9_]{0,62}$/, 'metric names are lower_snake_case');

export const planSchema = z
  .object({
    id: z
      .string()
      .regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, 'plan ids are lower-case letters, digits, _ and -'),
    name: z.string().min(1).max(100),
    description: z.string().max(500).optional(),
    prices: z.object({ month: priceRef.optional(), year: priceRef.optional() }).strict().optional(),
    limits: z.record(metricName, z.number().int('limits are whole units').nonnegative()),
    features: z.array(z.string().max(200)).max(50).optional(),
    sortOrder: z.number().int().optional(),
  })
  .strict();
export type PlanDefinition = z.infer<typeof planSchema>;

export const planListSchema = z
  .object({ plans: z.array(planSchema).min(1, 'must list at least one plan') })
  .strict()
  .superRefine((planList, ctx) => {
    const seen = new Map<string, number>();
    const priceOwners = new Map<string, string>();
    const free = planList.plans.filter(
      (plan) => !plan.prices || Object.keys(plan.prices).length === 0,
    );
    if (free.length !== 1) {
      ctx.addIssue({
        code: 'custom',
        path: ['plans'],
        message: `exactly one plan must have no prices (the free plan); found ${free.length}`,
      });
    }
    planList.plans.forEach((plan, index) => {
      const previous = seen.get(plan.id);
      if (previous !== undefined) {
        ctx.addIssue({
          code: 'custom',
          path: ['plans', index, 'id'],
          message: `duplicate plan id "${plan.id}" (also plans[${previous}])`,
        });
      }
      seen.set(plan.id, index);
      for (const interval of INTERVALS) {
        const ref = plan.prices?.[interval];
        if (!ref) continue;
        const owner = priceOwners.get(ref);
        if (owner) {
          ctx.addIssue({
            code: 'custom',
            path: ['plans', index, 'prices', interval],
            message: `price "${ref}" is already used by plan "${owner}"`,
          });
        }
        priceOwners.set(ref, plan.id);
      }
    });
  });
export type PlanList = z.infer<typeof planListSchema>;

/** Parses a plan list document; errors name the entry, e.g. `plans[1].prices.month`. */
export function parsePlanList(input: unknown, source = 'plan list'): PlanList {
  const result = planListSchema.safeParse(input);
  if (result.success) {
    return {
      plans: result.data.plans.map((plan, index) => ({
        ...plan,
        sortOrder: plan.sortOrder ?? index,
      })),
    };
  }
  const issues = result.error.issues.map((issue) => {
    const where = issue.path
      .map((part, i) =>
        typeof part === 'number' ? `[${part}]` : i === 0 ? String(part) : `.${String(part)}`,
      )
      .join('');
    const named = describeEntry(input, issue.path);
    return `${where || '(root)'}${named}: ${issue.message}`;
  });
  throw new ConfigError(`invalid ${source}: ${issues.join('; ')}`, issues);
}

function describeEntry(input: unknown, issuePath: PropertyKey[]): string {
  if (issuePath[0] !== 'plans' || typeof issuePath[1] !== 'number') return '';
  const plans = (input as { plans?: unknown[] } | null)?.plans;
  const entry = Array.isArray(plans)
    ? (plans[issuePath[1]] as { id?: unknown } | undefined)
    : undefined;
  return entry && typeof entry.id === 'string' ? ` (plan "${entry.id}")` : '';
}

export const DEFAULT_PLANS_FILE = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  '../../../config/plans.json',
);

export const plansEnvSchema = z.object({
  PLANS_FILE: z.string().min(1).default(DEFAULT_PLANS_FILE),
});
export const plansEnv = (env: Env = processEnv()) => parseEnv(plansEnvSchema, env, 'plans');

export function loadPlanList(file: string): PlanList {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new ConfigError(`PLANS_FILE: cannot read ${file}: ${(error as Error).message}`, [
      'PLANS_FILE',
    ]);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new ConfigError(`PLANS_FILE: ${file} is not valid JSON: ${(error as Error).message}`, [
      'PLANS_FILE',
    ]);
  }
  return parsePlanList(json, `plan list ${file}`);
}
