import { createQueue, QUEUES, type QueueFactoryOptions, type QueueName } from '@billing/queue';
import type { Queue } from 'bullmq';

export type OpsQueues = Record<QueueName, Queue>;

/** A Queue handle for every queue of the catalog (dashboard, metrics, dead letters). */
export function createOpsQueues(options: QueueFactoryOptions): OpsQueues {
  return Object.fromEntries(
    Object.values(QUEUES).map((name) => [name, createQueue(name, options)]),
  ) as OpsQueues;
}

export async function closeOpsQueues(queues: OpsQueues): Promise<void> {
  await Promise.all(Object.values(queues).map((queue) => queue.close()));
}
