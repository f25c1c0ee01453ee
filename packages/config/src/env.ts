import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseEnv as parseDotEnv } from 'node:util';
import { z } from 'zod';
import { ConfigError } from './errors.js';
import { weakSecretReason } from './secrets.js';

/** The one place the process environment is read. Everything else receives parsed config. */
export type Env = Record<string, string | undefined>;
export const processEnv = (): Env => {
  loadDotEnv();
  return process.env;
};

/** The repository's `.env` (listed in .gitignore; `.env.example` documents every variable). */
export const DOTENV_FILE = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  '../../../.env',
);

let dotEnvLoaded = false;

/**
 * Loads the repository's `.env` into the process environment once, with Node's own parser
 * (process.loadEnvFile, Node 20.12+) rather than a dependency. Variables already set win,
 * as with dotenv, so a shell or an orchestrator can always override the file. Skipped under
 * NODE_ENV=test (a developer's `.env` must not change what tests see) and in production
 * (containers get their environment from the orchestrator; an image never ships a `.env`).
 */
export function loadDotEnv(file = DOTENV_FILE, env: NodeJS.ProcessEnv = process.env): boolean {
  if (dotEnvLoaded && file === DOTENV_FILE) return false;
  if (file === DOTENV_FILE) dotEnvLoaded = true;
  if (env.NODE_ENV === 'test' || env.NODE_ENV === 'production' || !existsSync(file)) return false;
  const parsed = parseDotEnv(readFileSync(file, 'utf8'));
  for (const [name, value] of Object.entries(parsed)) {
    if (env[name] === undefined) env[name] = value;
  }
  return true;
}

/**
 * Compose (`${VAR:-}`), Kubernetes manifests and `.env` files with `VAR=` all pass an unset
 * variable as an empty string. Every loader treats '' exactly like "not set", so the default
 * (or the "required" message) applies instead of a confusing format error.
 */
export function withoutEmpty(env: Env): Env {
  const out: Env = {};
  for (const [name, value] of Object.entries(env)) if (value !== '') out[name] = value;
  return out;
}

export const isProduction = (env: Env): boolean => env.NODE_ENV === 'production';

/**
 * Parses `env` with `schema`. Unknown variables are ignored; a missing or malformed one
 * throws a ConfigError whose message names the variable and the problem.
 */
export function parseEnv<S extends z.ZodType>(schema: S, env: Env, scope: string): z.infer<S> {
  const result = z
    .preprocess((input) => withStripeSimulator(withoutEmpty(input as Env)), schema)
    .safeParse(env);
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

/** The key the apps present to the local Stripe simulator (it accepts any `sk_test_` key). */
export const SIMULATOR_SECRET_KEY = 'sk_test_simulator';

/**
 * STRIPE_SIMULATOR_URL names a local Stripe simulator to use while STRIPE_SECRET_KEY is unset
 * (never in production). docker-compose.yml always sets it to its simulator service: Compose
 * interpolation cannot say "this URL only when that variable is empty", so the choice is made
 * here, once, for every loader: no key → the simulator, a key → Stripe (or STRIPE_API_BASE).
 */
export function withStripeSimulator(env: Env): Env {
  if (isProduction(env) || env.STRIPE_SECRET_KEY || !env.STRIPE_SIMULATOR_URL) return env;
  return {
    ...env,
    STRIPE_SECRET_KEY: SIMULATOR_SECRET_KEY,
    STRIPE_API_BASE: env.STRIPE_API_BASE ?? env.STRIPE_SIMULATOR_URL,
  };
}

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
    /** A local Stripe simulator used while STRIPE_SECRET_KEY is unset (see withStripeSimulator). */
    STRIPE_SIMULATOR_URL: url(['http:', 'https:'], 'http(s)://').optional(),
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
  /**
   * `json`: one JSON object per line (production, log shippers). `pretty`: one readable line
   * per log with the app first. Unset: pretty on a terminal outside production, else json.
   */
  LOG_FORMAT: z.enum(['json', 'pretty'], { message: 'must be json or pretty' }).optional(),
});
export const logEnv = (env: Env = processEnv()) => parseEnv(logEnvSchema, env, 'logging');
