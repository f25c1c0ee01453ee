import { dbEnv, loadOrExit, loadPlanList, plansEnv } from '@billing/config';
import { createDb } from './client.js';
import { ensureDatabase, runMigrations } from './migrate.js';
import { seedPlans } from './seed.js';

// Usage: migrate [--create] [--seed]
//   --create  create the database if it does not exist
//   --seed    load PLANS_FILE into `plans` after migrating
const args = new Set(process.argv.slice(2));
const { DATABASE_URL } = loadOrExit(() => dbEnv());

try {
  if (args.has('--create') && (await ensureDatabase(DATABASE_URL))) {
    console.error(`created database ${new URL(DATABASE_URL).pathname.slice(1)}`);
  }
  await runMigrations(DATABASE_URL);
  console.error('migrations applied');
  if (args.has('--seed')) {
    const { PLANS_FILE } = loadOrExit(() => plansEnv());
    const planList = loadOrExit(() => loadPlanList(PLANS_FILE));
    const handle = createDb({ url: DATABASE_URL, max: 1 });
    try {
      await seedPlans(handle.db, planList);
    } finally {
      await handle.close();
    }
    console.error(`plan list loaded: ${planList.plans.map((plan) => plan.id).join(', ')}`);
  }
} catch (error) {
  console.error(`migration failed: ${(error as Error).message}`);
  process.exit(1);
}
