import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Env, parseEnv, processEnv } from '@billing/config';
import { z } from 'zod';

/**
 * Stripe's own example objects (`openapi/fixtures3.json`), shared next to the repository:
 * `<repo>/../shared/stripe/fixtures3.json`. CI clones the repository next to a copy of
 * `shared/`, so the same relative path holds there. STRIPE_FIXTURES_FILE overrides it.
 */
const fixturesEnvSchema = z.object({
  STRIPE_FIXTURES_FILE: z.string().min(1, 'must be a file path').optional(),
});

const fixturesFileSchema = z.object({
  resources: z.record(z.string(), z.record(z.string(), z.unknown())),
});

export type StripeFixtureResources = Record<string, Record<string, unknown>>;

const here = path.dirname(fileURLToPath(import.meta.url));

/** The monorepo root: the nearest ancestor holding pnpm-workspace.yaml. */
function findRepoRoot(from: string): string | undefined {
  let dir = from;
  for (;;) {
    if (fs.existsSync(path.join(dir, 'pnpm-workspace.yaml'))) return dir;
    const parent = path.dirname(dir);
    if (parent === dir) return undefined;
    dir = parent;
  }
}

/** Where the fixtures file is looked for, in order. */
export function fixtureCandidates(env: Env = processEnv()): string[] {
  const { STRIPE_FIXTURES_FILE } = parseEnv(fixturesEnvSchema, env, 'stripe fixtures');
  if (STRIPE_FIXTURES_FILE) return [path.resolve(STRIPE_FIXTURES_FILE)];
  // packages/testing/src/stripe -> repo root is four levels up.
  const repo = findRepoRoot(here) ?? path.resolve(here, '../../../..');
  return [
    path.resolve(repo, '../shared/stripe/fixtures3.json'),
    path.resolve(repo, 'shared/stripe/fixtures3.json'),
  ];
}

let cached: { file: string; resources: StripeFixtureResources } | undefined;

/** Loads and validates fixtures3.json once per process. Throws naming every path tried. */
export function loadStripeFixtures(env?: Env): { file: string; resources: StripeFixtureResources } {
  if (cached && env === undefined) return cached;
  const candidates = fixtureCandidates(env);
  const file = candidates.find((candidate) => fs.existsSync(candidate));
  if (!file) {
    throw new Error(
      `Stripe fixtures not found; tried ${candidates.join(', ')}. Set STRIPE_FIXTURES_FILE to the path of fixtures3.json`,
    );
  }
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (error) {
    throw new Error(`Stripe fixtures at ${file} are not valid JSON: ${(error as Error).message}`);
  }
  const parsed = fixturesFileSchema.safeParse(raw);
  if (!parsed.success) {
    throw new Error(
      `Stripe fixtures at ${file} have no "resources" object: ${parsed.error.message}`,
    );
  }
  const loaded = { file, resources: parsed.data.resources };
  if (env === undefined) cached = loaded;
  return loaded;
}

/**
 * A deep copy of one fixture resource (`'customer'`, `'subscription'`,
 * `'checkout.session'`, ...), safe to mutate.
 */
export function fixture<T = Record<string, unknown>>(name: string): T {
  const resource = loadStripeFixtures().resources[name];
  if (!resource) throw new Error(`fixtures3.json has no resource named "${name}"`);
  return structuredClone(resource) as T;
}
