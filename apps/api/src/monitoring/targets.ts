/** Response-time targets per endpoint (`METHOD /route/pattern`), in milliseconds. */
export interface LatencyTargets {
  defaultMs: number;
  byEndpoint: Readonly<Record<string, number>>;
}

/** Short names accepted in API_LATENCY_TARGETS for the hot endpoints that have targets. */
export const TARGET_ALIASES: Readonly<Record<string, string>> = {
  subscription: 'GET /api/billing/subscription',
  usage: 'GET /api/billing/usage',
  upgrade: 'POST /api/billing/upgrade',
  checkout: 'POST /api/billing/create-checkout-session',
};

export const DEFAULT_TARGETS: LatencyTargets = {
  defaultMs: 1_000,
  byEndpoint: {
    'GET /api/billing/subscription': 500,
    'GET /api/billing/usage': 300,
    'POST /api/billing/upgrade': 2_000,
    'POST /api/billing/create-checkout-session': 1_500,
  },
};

const ENDPOINT = /^(GET|POST|PUT|PATCH|DELETE) \/\S*$/;

/**
 * Parses `subscription=500,upgrade=2000,GET /api/billing/plans=800,default=1000` over the
 * defaults. Throws naming the bad entry.
 */
export function parseTargets(value: string | undefined): LatencyTargets {
  if (!value || value.trim() === '') return DEFAULT_TARGETS;
  let defaultMs = DEFAULT_TARGETS.defaultMs;
  const byEndpoint: Record<string, number> = { ...DEFAULT_TARGETS.byEndpoint };
  for (const part of value
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean)) {
    const eq = part.lastIndexOf('=');
    const name = eq === -1 ? '' : part.slice(0, eq).trim();
    const ms = eq === -1 ? Number.NaN : Number(part.slice(eq + 1).trim());
    if (!Number.isInteger(ms) || ms <= 0) {
      throw new Error(`"${part}": expected name=milliseconds with a positive whole number`);
    }
    if (name === 'default') defaultMs = ms;
    else if (TARGET_ALIASES[name]) byEndpoint[TARGET_ALIASES[name]] = ms;
    else if (ENDPOINT.test(name)) byEndpoint[name] = ms;
    else {
      throw new Error(
        `"${name}": unknown target; use default, ${Object.keys(TARGET_ALIASES).join(', ')} or "METHOD /path"`,
      );
    }
  }
  return { defaultMs, byEndpoint };
}

export const targetFor = (targets: LatencyTargets, endpoint: string): number =>
  targets.byEndpoint[endpoint] ?? targets.defaultMs;
