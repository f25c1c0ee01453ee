import { randomBytes } from 'node:crypto';

/**
 * The benchmarks run the apps as in production, which refuses short or published secrets:
 * each run makes its own, random ones.
 */
export const BENCH_WEBHOOK_SECRET = `whsec_${randomBytes(24).toString('base64url')}`;
export const BENCH_SERVICE_TOKEN = randomBytes(24).toString('base64url');
