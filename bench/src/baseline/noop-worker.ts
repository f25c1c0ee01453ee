/**
 * Baseline of benchmark 2: a BullMQ worker on `stripe-events` that does nothing with a job
 * but complete it, with the same connection settings and concurrency as the real worker.
 *   node --import tsx src/baseline/noop-worker.ts <redisUrl> <prefix> <concurrency>
 */
import { bullOptions, QUEUES } from '@billing/queue';
import { createRedis } from '@billing/redis';
import { Worker } from 'bullmq';

const [redisUrl, prefix, concurrencyArg] = process.argv.slice(2);
if (!redisUrl || !prefix)
  throw new Error('usage: noop-worker.ts <redisUrl> <prefix> <concurrency>');
const connection = createRedis(redisUrl, { role: 'worker', connectionName: 'bench-noop-worker' });
const worker = new Worker(QUEUES.stripeEvents, async () => undefined, {
  ...bullOptions({ connection, prefix }),
  concurrency: Number(concurrencyArg ?? 8),
});
worker.on('error', (error) => console.error(error));
await worker.waitUntilReady();
process.stdout.write('ready\n');
process.on('SIGTERM', () => {
  void worker.close().then(() => {
    connection.disconnect();
    process.exit(0);
  });
});
