import { parseArgs } from 'node:util';

const USAGE = `usage: migrate [--create] [--seed]
  --create  create the database if it does not exist
  --seed    load PLANS_FILE into \`plans\` after migrating
Applies the committed migrations to DATABASE_URL.`;

// Arguments first, strictly: `--help` (or a typo) must never go on to apply migrations.
let args: { create?: boolean; seed?: boolean; help?: boolean };
try {
  args = parseArgs({
    options: {
      create: { type: 'boolean' },
      seed: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  }).values;
} catch (error) {
  console.error(`${(error as Error).message}\n${USAGE}`);
  process.exit(2);
}
if (args.help) {
  process.stdout.write(`${USAGE}\n`);
  process.exit(0);
}

// Loaded only now, so --help answers without the database code.
const [{ dbEnv, loadOrExit, loadPlanList, plansEnv }, { createDb }, migrate, { seedPlans }] =
  await Promise.all([
    import('@billing/config'),
    import('./client.js'),
    import('./migrate.js'),
    import('./seed.js'),
  ]);
const { ensureDatabase, runMigrations } = migrate;
const { DATABASE_URL } = loadOrExit(() => dbEnv());

try {
  if (args.create && (await ensureDatabase(DATABASE_URL))) {
    console.error(`created database ${new URL(DATABASE_URL).pathname.slice(1)}`);
  }
  await runMigrations(DATABASE_URL);
  console.error('migrations applied');
  if (args.seed) {
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
