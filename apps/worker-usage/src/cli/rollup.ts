// Roll usage up now, for one user or all.
//   pnpm --filter @billing/worker-usage rollup [--user <id>] [--run] [--chunk-size <n>]
// Default: enqueue a `usage.rollup` job (trigger "manual") for the worker and print its id.
// --run: run the roll-up in this process and print progress (no worker needed).
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    user: { type: 'string' },
    run: { type: 'boolean', default: false },
    'chunk-size': { type: 'string' },
    help: { type: 'boolean', default: false },
  },
});
if (values.help) {
  console.log('usage: rollup [--user <id>] [--run] [--chunk-size <n>]');
  process.exit(0);
}
// Loaded after the arguments, so --help answers without the database and queue code.
const [{ loadOrExit }, { createDb }, { addJob, createQueue, QUEUES }, { closeRedis, createRedis }] =
  await Promise.all([
    import('@billing/config'),
    import('@billing/db'),
    import('@billing/queue'),
    import('@billing/redis'),
  ]);
const [{ rollup }, { workerUsageEnv }] = await Promise.all([
  import('@billing/usage'),
  import('../env.js'),
]);
const env = loadOrExit(() => workerUsageEnv());
const chunkSize = values['chunk-size'] ? Number(values['chunk-size']) : env.USAGE_ROLLUP_CHUNK_SIZE;
if (!Number.isInteger(chunkSize) || chunkSize < 1) {
  console.error('--chunk-size must be a positive integer');
  process.exit(2);
}

if (values.run) {
  const db = createDb({ url: env.DATABASE_URL, max: 2, applicationName: 'usage-rollup-cli' });
  try {
    const result = await rollup(db.sql, {
      userId: values.user,
      chunkSize,
      onProgress: (p) =>
        console.log(
          `rollup ${p.rollupId}: ${p.rowsClaimed} rows in ${p.chunks} chunks${p.done ? ' (done)' : ''}`,
        ),
    });
    console.log(JSON.stringify(result));
  } catch (error) {
    console.error(`roll-up failed: ${(error as Error).message}`);
    process.exitCode = 1;
  } finally {
    await db.close();
  }
} else {
  const connection = createRedis(env.REDIS_URL, {
    role: 'worker',
    connectionName: 'usage-rollup-cli',
  });
  const queue = createQueue(QUEUES.usageRollup, { connection, prefix: env.REDIS_PREFIX });
  try {
    const job = await addJob(queue, 'usage.rollup', { userId: values.user, trigger: 'manual' });
    console.log(
      JSON.stringify({ enqueued: job.id, queue: QUEUES.usageRollup, userId: values.user ?? null }),
    );
  } catch (error) {
    console.error(`could not enqueue the roll-up: ${(error as Error).message}`);
    process.exitCode = 1;
  } finally {
    await queue.close();
    await closeRedis(connection);
  }
}
