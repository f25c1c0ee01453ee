import { z } from 'zod';
import { ConfigError } from './errors.js';
import { weakSecretReason } from './secrets.js';

/** The one place the process environment is read. Everything else receives parsed config. */
export type Env = Record<string, string | undefined>;
export const processEnv = (): Env => process.env;

export const isProduction = (env: Env): boolean => env.NODE_ENV === 'production';

/**
 * Parses `env` with `schema`. Unknown variables are ignored; a missing or malformed one
 * throws a ConfigError whose message names the variable and the problem.
 */
export function parseEnv<S extends z.ZodType>(schema: S, env: Env, scope: string): z.infer<S> {
  const result = schema.safeParse(env);
  if (result.success) return result.data;
  const issues = result.error.issues.map((issue) => {
    const name = issue.path.join('.') || '(environment)';
    return `${name}: ${issue.message}`;
  });
  throw new ConfigError(`invalid ${scope} configuration: ${issues.join('; ')}`, issues);
}

/** Runs a config loader at start-up; on failure prints the reason and stops the process. */
export function loadOrExit<T>(load: () => T): T {
  try {
    return load();
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(error.message);
      process.exit(1);
    }
    throw error;
  }
}

/** A TCP port, given as a decimal string. */
export const port = (fallback: number) =>
  z.coerce
    .number()
    .int()
    .min(0, 'must be a port number')
    .max(65535, 'must be a port number')
    .default(fallback);

export const positiveInt = (fallback: number) =>
  z.coerce.number().int('must be an integer').positive('must be positive').default(fallback);

/** A boolean written as true/false/1/0 (zod's coerce would read "false" as true). */
export const flag = (fallback: boolean) =>
  z
    .enum(['true', 'false', '1', '0', ''], { message: 'must be true or false' })
    .optional()
    .transform((value) =>
      value === undefined || value === '' ? fallback : value === 'true' || value === '1',
    );

const url = (protocols: string[], label: string) =>
  z.string().refine((value) => {
    try {
      return protocols.includes(new URL(value).protocol);
    } catch {
      return false;
    }
  }, `must be a ${label} URL`);

export const LOCAL_DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/billing';
export const LOCAL_REDIS_URL = 'redis://127.0.0.1:6379';

export const dbEnvSchema = z.object({
  DATABASE_URL: url(['postgres:', 'postgresql:'], 'postgres://').default(LOCAL_DATABASE_URL),
  DB_POOL_MAX: positiveInt(10),
});
export type DbEnv = z.infer<typeof dbEnvSchema>;
export const dbEnv = (env: Env = processEnv()): DbEnv => parseEnv(dbEnvSchema, env, 'database');

export const redisEnvSchema = z.object({
  REDIS_URL: url(['redis:', 'rediss:'], 'redis://').default(LOCAL_REDIS_URL),
  /**
   * Prefix for every key this system writes (queues, cache, rate limits). On Redis Cluster
   * use a hash tag, e.g. `{billing}`, so a queue's keys share one slot as BullMQ requires.
   */
  REDIS_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9_{}.-]+$/, 'may contain only letters, digits and _ { } . -')
    .default('billing'),
  /**
   * Redis Cluster: comma-separated `host:port` of some of its nodes. When set, apps connect
   * to the cluster instead of REDIS_URL (REDIS_PREFIX must then be hash-tagged).
   */
  REDIS_CLUSTER_NODES: z
    .string()
    .optional()
    .transform((value) => {
      const nodes = (value ?? '')
        .split(',')
        .map((node) => node.trim())
        .filter(Boolean);
      return nodes.length > 0 ? nodes : undefined;
    }),
});
export type RedisEnv = z.infer<typeof redisEnvSchema>;
export const redisEnv = (env: Env = processEnv()): RedisEnv =>
  parseEnv(redisEnvSchema, env, 'redis');

/** Secrets have no default in production; elsewhere a development-only value keeps `npm start` working. */
const secretList = (name: string, production: boolean, devDefault: string) =>
  z
    .string()
    .optional()
    .transform((value, ctx) => {
      const raw = value ?? (production ? undefined : devDefault);
      if (raw === undefined) {
        ctx.addIssue({ code: 'custom', message: `${name} is required in production` });
        return z.NEVER;
      }
      const parts = raw
        .split(',')
        .map((part) => part.trim())
        .filter(Boolean);
      if (parts.length === 0) {
        ctx.addIssue({ code: 'custom', message: 'must list at least one secret' });
        return z.NEVER;
      }
      // Production: a public or guessable secret lets anyone forge a signed delivery.
      if (production) {
        for (const [index, part] of parts.entries()) {
          const reason = weakSecretReason(part, 'whsec_');
          if (reason) {
            ctx.addIssue({ code: 'custom', message: `secret #${index + 1} ${reason}` });
            return z.NEVER;
          }
        }
      }
      return parts;
    });

/**
 * A production secret: required, and refused when public, short or predictable
 * (`weakSecretReason`). Outside production any value of `devMin` characters is accepted.
 */
export const productionSecret = (name: string, production: boolean, devMin = 8) =>
  production
    ? z.string({ message: `${name} is required in production` }).superRefine((value, ctx) => {
        const reason = weakSecretReason(value);
        if (reason) ctx.addIssue({ code: 'custom', message: reason });
      })
    : z.string().min(devMin, `must be at least ${devMin} characters`);

export const DEV_WEBHOOK_SECRET = 'whsec_local_development_only';

export const stripeEnvSchema = (production: boolean) =>
  z.object({
    /** Empty outside production means "use the bundled Stripe simulator / fake server". */
    STRIPE_SECRET_KEY: production
      ? z
          .string({ message: 'STRIPE_SECRET_KEY is required in production' })
          .regex(/^(sk|rk)_/, 'must be a Stripe secret or restricted key')
      : z
          .string()
          .regex(/^(sk|rk)_/, 'must be a Stripe secret or restricted key')
          .optional(),
    STRIPE_WEBHOOK_SECRETS: secretList('STRIPE_WEBHOOK_SECRETS', production, DEV_WEBHOOK_SECRET),
    STRIPE_WEBHOOK_TOLERANCE_SECONDS: positiveInt(300),
    /** Points the Stripe client elsewhere (a simulator, a proxy), e.g. http://127.0.0.1:12111. */
    STRIPE_API_BASE: url(['http:', 'https:'], 'http(s)://').optional(),
  });
export type StripeEnv = z.infer<ReturnType<typeof stripeEnvSchema>>;
export const stripeEnv = (env: Env = processEnv()): StripeEnv =>
  parseEnv(stripeEnvSchema(isProduction(env)), env, 'stripe');

export const serviceTokenSchema = (production: boolean) =>
  z.object({
    BILLING_SERVICE_TOKEN: production
      ? productionSecret('BILLING_SERVICE_TOKEN', true)
      : productionSecret('BILLING_SERVICE_TOKEN', false).default('dev-service-token'),
  });
export const serviceTokenEnv = (env: Env = processEnv()) =>
  parseEnv(serviceTokenSchema(isProduction(env)), env, 'auth');

export const logEnvSchema = z.object({
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
});
export const logEnv = (env: Env = processEnv()) => parseEnv(logEnvSchema, env, 'logging');
