import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The monorepo root (bench/src/lib → ../../..). */
export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

/** The apps the benchmarks and drills start, each as `node --import tsx src/main.ts`. */
export const APPS = {
  ingress: path.join(ROOT, 'apps/ingress'),
  'worker-webhooks': path.join(ROOT, 'apps/worker-webhooks'),
  api: path.join(ROOT, 'apps/api'),
  'worker-usage': path.join(ROOT, 'apps/worker-usage'),
  'worker-stripe-sync': path.join(ROOT, 'apps/worker-stripe-sync'),
} as const;
export type AppName = keyof typeof APPS;

/** Scripts of this package that run as processes of their own. */
export const BENCH_SRC = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
