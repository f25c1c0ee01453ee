import { defineConfig } from 'vitest/config';

// Two projects: fast unit tests (colocated *.test.ts) and integration tests (*.int.test.ts)
// against real Postgres and Redis. Each integration file gets its own database and Redis
// prefix (@billing/testing), so files run in parallel. Fault drills (*.fault.test.ts) stop and
// start their own servers and run separately: `npm run test:faults`.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['{apps,packages}/*/src/**/*.test.ts'],
          exclude: ['**/*.int.test.ts', '**/*.fault.test.ts', '**/node_modules/**'],
          env: { NODE_ENV: 'test' },
        },
      },
      {
        test: {
          name: 'int',
          include: [
            '{apps,packages}/*/{src,test}/**/*.int.test.ts',
            'test/{e2e,db}/**/*.int.test.ts',
          ],
          exclude: ['**/node_modules/**'],
          globalSetup: ['packages/testing/src/global-setup.ts'],
          env: { NODE_ENV: 'test' },
          // Deadlines for work that waits on processes, queues and pages are a minute, and the
          // tests' own limits are above them so a slow machine (two cores shared with other
          // work) shows the deadline's message, not a bare timeout. Waits are on conditions,
          // never on elapsed time; vitest's expect.poll gives up after one second by default.
          testTimeout: 120_000,
          hookTimeout: 120_000,
          expect: { poll: { timeout: 60_000 } },
        },
      },
      {
        test: {
          name: 'faults',
          include: ['test/faults/**/*.fault.test.ts', '{apps,packages}/*/test/**/*.fault.test.ts'],
          exclude: ['**/node_modules/**'],
          globalSetup: ['packages/testing/src/global-setup.ts'],
          env: { NODE_ENV: 'test' },
          testTimeout: 300_000,
          hookTimeout: 120_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
