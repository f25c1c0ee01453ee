import { type ParseArgsConfig, parseArgs } from 'node:util';
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
import {
  addJob,
  closeRedis,
  createQueue,
  createRedis,
  QUEUES,
  type RedisClient,
  waitReady,
} from '@billing/queue';
import { createStripeClient, type Stripe } from '@billing/stripe';
import type { Queue } from 'bullmq';
import { runBackfill } from '../backfill/backfill.js';
import { listCursors } from '../backfill/cursor.js';
import {
  BACKFILL_RESOURCES,
  type BackfillResource,
  isBackfillResource,
} from '../backfill/resource-names.js';
import { dbReport, formatDbReport } from '../db-report.js';
import { DeadLetterNotFoundError, listDeadLetters, replayDeadLetters } from '../dead-letters.js';
import { backoffFromEnv, opsEnv } from '../env.js';
import { fillGaps } from '../gaps.js';
import type { BackoffOptions } from '../rate-limit.js';
import { type Command, USAGE } from './usage.js';

export type { Command } from './usage.js';

/**
 * The ops CLIs. Each entry file (`dead-letters.ts`, `backfill.ts`, …) calls `cliMain` (main.ts),
 * which answers `--help` before loading this module; tests call `runCli` in-process with their
 * own environment. Exit codes: 0 done, 1 failed or incomplete (a backfill stopped by a 429
 * storm, a gap fill cut short), 2 bad arguments or configuration.
 */
export interface CliIo {
  out: (text: string) => void;
  err: (text: string) => void;
  /**
   * Transient progress (backfill): on a terminal one line rewritten in place, else plain
   * lines. Absent: no progress output (tests, --json).
   */
  progress?: (text: string) => void;
  /** Report progress only every this many objects (plain-line output); unset: every object. */
  progressEvery?: number;
}

export const EXIT = { ok: 0, failed: 1, usage: 2 } as const;

class UsageError extends Error {}

const parseTime = (name: string, value: string | undefined): Date | undefined => {
  if (value === undefined) return undefined;
  const date = /^\d{1,12}$/.test(value) ? new Date(Number(value) * 1000) : new Date(value);
  if (Number.isNaN(date.getTime()))
    throw new UsageError(`--${name}: not a time (ISO 8601 or unix seconds): ${value}`);
  return date;
};

const parseLimit = (value: string | undefined, max: number): number | undefined => {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > max)
    throw new UsageError(`--limit: a whole number from 1 to ${max}`);
  return n;
};

const parseResources = (value: string | undefined): BackfillResource[] | undefined => {
  if (value === undefined) return undefined;
  const names = value
    .split(',')
    .map((name) => name.trim())
    .filter(Boolean);
  const bad = names.filter((name) => !isBackfillResource(name));
  if (bad.length > 0 || names.length === 0) {
    throw new UsageError(
      `--resources: unknown ${bad.join(', ') || '(none given)'}; use ${BACKFILL_RESOURCES.join(',')}`,
    );
  }
  return names as BackfillResource[];
};

/** Lazily opened connections, all closed at the end of a command. */
class Resources {
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

export async function runCli(
  command: Command,
  argv: string[],
  env: Env,
  io: CliIo,
): Promise<number> {
  const resources = new Resources(env);
  try {
    return await dispatch(command, argv, resources, io);
  } catch (error) {
    if (error instanceof UsageError) {
      io.err(`${error.message}\nusage: ${USAGE[command]}`);
      return EXIT.usage;
    }
    if (error instanceof ConfigError) {
      io.err(error.message);
      return EXIT.usage;
    }
    if (error instanceof DeadLetterNotFoundError) {
      io.err(error.message);
      return EXIT.failed;
    }
    io.err(`${command} failed: ${(error as Error).message}`);
    return EXIT.failed;
  } finally {
    await resources.close();
  }
}

function parse(argv: string[], options: ParseArgsConfig['options']) {
  try {
    return parseArgs({
      args: argv,
      options: { ...options, json: { type: 'boolean' }, help: { type: 'boolean' } },
      strict: true,
      allowPositionals: false,
    }).values as Record<string, string | boolean | undefined>;
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

const str = (value: string | boolean | undefined) =>
  typeof value === 'string' ? value : undefined;

async function dispatch(
  command: Command,
  argv: string[],
  r: Resources,
  io: CliIo,
): Promise<number> {
  switch (command) {
    case 'dead-letters': {
      const a = parse(argv, {
        type: { type: 'string' },
        from: { type: 'string' },
        to: { type: 'string' },
        limit: { type: 'string' },
      });
      if (a.help) return help(command, io);
      const { db } = r.database();
      const list = await listDeadLetters(
        { db, queue: await r.queue(QUEUES.stripeEvents) },
        {
          type: str(a.type),
          from: parseTime('from', str(a.from)),
          to: parseTime('to', str(a.to)),
          limit: parseLimit(str(a.limit), 10_000),
        },
      );
      if (a.json) io.out(JSON.stringify(list, null, 2));
      else {
        io.out(
          `${list.deadLetters.length} dead letter(s)${list.truncated ? ' (more exist: narrow the filter or raise --limit)' : ''}`,
        );
        for (const d of list.deadLetters) {
          io.out(
            `${d.eventId}  ${d.type}  created ${d.created ?? '?'}  attempts ${d.attempts}  [${d.sources.join('+')}]\n    ${d.reason ?? '(no reason recorded)'}`,
          );
        }
      }
      return EXIT.ok;
    }

    case 'replay': {
      const a = parse(argv, {
        event: { type: 'string' },
        all: { type: 'boolean' },
        type: { type: 'string' },
        from: { type: 'string' },
        to: { type: 'string' },
      });
      if (a.help) return help(command, io);
      const filter = {
        type: str(a.type),
        from: parseTime('from', str(a.from)),
        to: parseTime('to', str(a.to)),
      };
      const hasFilter = Boolean(filter.type || filter.from || filter.to);
      const chosen = [a.event !== undefined, a.all === true, hasFilter].filter(Boolean).length;
      if (chosen !== 1)
        throw new UsageError(
          'give exactly one of --event, --all, or a filter (--type/--from/--to)',
        );
      const { db } = r.database();
      const deps = { db, queue: await r.queue(QUEUES.stripeEvents) };
      const report = await replayDeadLetters(
        deps,
        a.event !== undefined ? { eventId: String(a.event) } : a.all ? { all: true } : filter,
      );
      if (a.json) io.out(JSON.stringify(report, null, 2));
      else {
        io.out(
          `replayed ${report.replayed}, skipped ${report.skipped}${report.truncated ? ' (more remain: run again)' : ''}`,
        );
        for (const o of report.outcomes)
          io.out(
            `  ${o.eventId}: ${o.result}${o.jobId ? ` as ${o.jobId}` : ''}${o.reason ? ` (${o.reason})` : ''}`,
          );
      }
      return EXIT.ok;
    }

    case 'backfill': {
      const a = parse(argv, {
        resources: { type: 'string' },
        account: { type: 'string' },
        restart: { type: 'boolean' },
        status: { type: 'boolean' },
      });
      if (a.help) return help(command, io);
      const handle = r.database();
      if (a.status) {
        const cursors = await listCursors(handle.db);
        if (a.json) io.out(JSON.stringify({ cursors }, null, 2));
        else
          for (const c of cursors)
            io.out(
              `${c.id}: ${c.status} at ${c.cursor ?? 'start'}, ${c.processed} processed, ${c.drifted} drifted${c.error ? ` (${c.error})` : ''}`,
            );
        return EXIT.ok;
      }
      const resourceList = parseResources(str(a.resources));
      const stripe = r.stripe();
      const backoff = r.backoff();
      const cache = await r.cache();
      if (!cache) io.err('redis does not answer: cached billing state will expire by TTL instead');
      const progress = a.json ? undefined : io.progress;
      const report = await runBackfill(
        { db: handle.db, sql: handle.sql, stripe, cache },
        {
          resources: resourceList,
          account: str(a.account) ?? null,
          restart: a.restart === true,
          // Stripe's lists have no total, so progress is a count: every object on a terminal
          // (the line is rewritten), every PROGRESS_EVERY objects in a log.
          onProgress: progress
            ? ({ resource, processed, cursor }) => {
                if (io.progressEvery && processed % io.progressEvery !== 0) return;
                progress(
                  `backfill ${resource}: ${processed.toLocaleString('en')} read (at ${cursor})`,
                );
              }
            : undefined,
          backoff: {
            ...backoff,
            onRetry: ({ attempt, delayMs }) =>
              io.err(`rate limited (429); retry ${attempt} in ${delayMs} ms`),
          },
        },
      );
      if (a.json) io.out(JSON.stringify(report, null, 2));
      else {
        io.out(`backfill ${report.status}`);
        for (const res of report.resources) {
          io.out(
            `  ${res.resource}: ${res.status}${res.resumedFrom ? ` (resumed after ${res.resumedFrom})` : ''}, ${res.processed} read, ${res.applied} written, ${res.stale} older than stored, ${res.drifted} drifted, ${res.errors.length} errors${res.status !== 'complete' ? `; cursor ${res.cursor ?? 'start'}: ${res.error}` : ''}`,
          );
          for (const d of res.drift.slice(0, 20))
            io.out(
              `      drift ${d.id}: ${d.fields === 'missing' ? 'missing locally' : d.fields.join(', ')}`,
            );
          for (const e of res.errors.slice(0, 20)) io.out(`      error ${e.id}: ${e.message}`);
        }
        if (report.status !== 'complete')
          io.err('backfill incomplete: run it again to resume from the cursor');
      }
      return report.status === 'complete' ? EXIT.ok : EXIT.failed;
    }

    case 'fill-gaps': {
      const a = parse(argv, { since: { type: 'string' }, 'dry-run': { type: 'boolean' } });
      if (a.help) return help(command, io);
      const { db } = r.database();
      const report = await fillGaps(
        { db, stripe: r.stripe(), queue: await r.queue(QUEUES.stripeEvents) },
        {
          since: parseTime('since', str(a.since)),
          dryRun: a['dry-run'] === true,
          backoff: r.backoff(),
        },
      );
      if (a.json) io.out(JSON.stringify(report, null, 2));
      else {
        io.out(
          `gap fill ${report.status}: ${report.scanned} undelivered event(s) listed, ${report.missing.length} missing from webhook_events, ${report.enqueued.length} enqueued`,
        );
        for (const id of report.missing) io.out(`  ${id}`);
        if (report.error) io.err(`stopped early: ${report.error}`);
      }
      return report.status === 'complete' ? EXIT.ok : EXIT.failed;
    }

    case 'db-report': {
      const a = parse(argv, { limit: { type: 'string' } });
      if (a.help) return help(command, io);
      const report = await dbReport(r.database().sql, { limit: parseLimit(str(a.limit), 500) });
      io.out(a.json ? JSON.stringify(report, null, 2) : formatDbReport(report));
      return EXIT.ok;
    }

    case 'stripe-sync': {
      const a = parse(argv, {
        resources: { type: 'string' },
        'fill-gaps': { type: 'boolean' },
      });
      if (a.help) return help(command, io);
      const queue = await r.queue(QUEUES.stripeSync);
      const job = await addJob(queue, 'stripe.sync', {
        resources: parseResources(str(a.resources)) ?? [...BACKFILL_RESOURCES],
        fillGaps: a['fill-gaps'] === true,
        trigger: 'manual',
      });
      io.out(a.json ? JSON.stringify({ jobId: job.id }) : `enqueued stripe.sync job ${job.id}`);
      return EXIT.ok;
    }
  }
}

function help(command: Command, io: CliIo): number {
  io.out(`usage: ${USAGE[command]}`);
  return EXIT.ok;
}
