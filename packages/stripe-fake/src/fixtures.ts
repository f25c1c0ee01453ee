import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Env, parseEnv, processEnv } from '@billing/config';
import { z } from 'zod';

/**
 * Stripe's own example objects (`openapi/fixtures3.json`, MIT), kept in this package at
 * `fixtures/fixtures3.json` so a fresh clone needs nothing else.
 * STRIPE_FIXTURES_FILE points at another copy (e.g. a newer one).
 */
const fixturesEnvSchema = z.object({
  STRIPE_FIXTURES_FILE: z.string().min(1, 'must be a file path').optional(),
});

const fixturesFileSchema = z.object({
  resources: z.record(z.string(), z.record(z.string(), z.unknown())),
});

export type StripeFixtureResources = Record<string, Record<string, unknown>>;

const here = path.dirname(fileURLToPath(import.meta.url));

/** Where the fixtures file is looked for, in order. */
export function fixtureCandidates(env: Env = processEnv()): string[] {
  const { STRIPE_FIXTURES_FILE } = parseEnv(fixturesEnvSchema, env, 'stripe fixtures');
  if (STRIPE_FIXTURES_FILE) return [path.resolve(STRIPE_FIXTURES_FILE)];
  return [path.resolve(here, '../fixtures/fixtures3.json')];
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
