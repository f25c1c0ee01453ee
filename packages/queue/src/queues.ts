import type { RedisClient } from '@billing/redis';
import { Queue, type QueueOptions } from 'bullmq';
import { type JobName, type JobPayload, jobCatalog, type QueueName } from './catalog.js';

export interface QueueFactoryOptions {
  connection: RedisClient;
  /** REDIS_PREFIX; hash-tagged (`{billing}`) on Redis Cluster. */
  prefix: string;
}

/** BullMQ options shared by every Queue, Worker and QueueEvents of one deployment. */
export const bullOptions = (
  options: QueueFactoryOptions,
): Pick<QueueOptions, 'connection' | 'prefix'> => ({
  connection: options.connection,
  prefix: options.prefix,
});

export function createQueue(name: QueueName, options: QueueFactoryOptions): Queue {
  return new Queue(name, bullOptions(options));
}

/** Adds a catalog job with its default options; the payload is validated first. */
export async function addJob<N extends JobName>(
  queue: Queue,
  name: N,
  payload: JobPayload<N>,
  opts: { jobId?: string; delay?: number } = {},
) {
  const definition = jobCatalog[name];
  if (queue.name !== definition.queue) {
    throw new Error(`job ${name} belongs on queue ${definition.queue}, not ${queue.name}`);
  }
  const data = definition.schema.parse(payload);
  return queue.add(name, data, { ...definition.opts, ...opts });
}
