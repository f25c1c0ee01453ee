import {
  ConfigError,
  dbEnv,
  type Env,
  isProduction,
  parseEnv,
  redisEnv,
  stripeEnvSchema,
} from '@billing/config';
import { createDb, type DbHandle } from '@billing/db';
import { createQueue, type QUEUES } from '@billing/queue';
import { closeRedis, createRedis, type RedisClient, waitReady } from '@billing/redis';
import { createStripeClient, type Stripe } from '@billing/stripe';
import type { Queue } from 'bullmq';
import { backoffFromEnv, opsEnv } from '../env.js';
import type { BackoffOptions } from '../rate-limit.js';

/** Lazily opened connections, all closed at the end of a command. */
export class Resources {
  private db?: DbHandle;
  private redis?: RedisClient;
  private queues: Queue[] = [];
  constructor(private readonly env: Env) {}

  database(): DbHandle {
    this.db ??= createDb({ max: 4, applicationName: 'billing-ops-cli' }, dbEnv(this.env));
    return this.db;
  }

  async queue(name: (typeof QUEUES)[keyof typeof QUEUES]): Promise<Queue> {
    const { REDIS_URL, REDIS_PREFIX } = redisEnv(this.env);
    if (!this.redis) {
      this.redis = createRedis(REDIS_URL, { role: 'producer', connectionName: 'billing-ops-cli' });
      await waitReady(this.redis);
    }
    const queue = createQueue(name, { connection: this.redis, prefix: REDIS_PREFIX });
    this.queues.push(queue);
    return queue;
  }

  /** Redis for cache invalidation; undefined (invalidation skipped, TTLs bound staleness) when it does not answer. */
  async cache(): Promise<{ redis: RedisClient; prefix: string } | undefined> {
    const { REDIS_URL, REDIS_PREFIX } = redisEnv(this.env);
    if (!this.redis) {
      const redis = createRedis(REDIS_URL, { role: 'producer', connectionName: 'billing-ops-cli' });
      try {
        await waitReady(redis);
      } catch {
        await closeRedis(redis);
        return undefined;
      }
      this.redis = redis;
    }
    return { redis: this.redis, prefix: REDIS_PREFIX };
  }

  stripe(): Stripe {
    const config = parseEnv(
      stripeEnvSchema(isProduction(this.env)).pick({
        STRIPE_SECRET_KEY: true,
        STRIPE_API_BASE: true,
      }),
      this.env,
      'stripe',
    );
    if (!config.STRIPE_SECRET_KEY) {
      throw new ConfigError(
        'invalid stripe configuration: STRIPE_SECRET_KEY is required for this command',
        ['STRIPE_SECRET_KEY: required'],
      );
    }
    return createStripeClient({
      secretKey: config.STRIPE_SECRET_KEY,
      apiBase: config.STRIPE_API_BASE,
    });
  }

  backoff(): BackoffOptions {
    return backoffFromEnv(opsEnv(this.env));
  }

  async close(): Promise<void> {
    await Promise.allSettled(this.queues.map((queue) => queue.close()));
    if (this.redis) await closeRedis(this.redis);
    if (this.db) await this.db.close();
  }
}
