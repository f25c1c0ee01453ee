import type { ParseArgsConfig } from 'node:util';
import { ConfigError, type Env } from '@billing/config';
import { addJob, QUEUES } from '@billing/queue';
import { runBackfill } from '../backfill/backfill.js';
import { listCursors } from '../backfill/cursor.js';
import { BACKFILL_RESOURCES } from '../backfill/resource-names.js';
import { dbReport, formatDbReport } from '../db-report.js';
import { DeadLetterNotFoundError, listDeadLetters, replayDeadLetters } from '../dead-letters.js';
import { fillGaps } from '../gaps.js';
import {
  type Args,
  parseCommandArgs,
  parseLimit,
  parseResources,
  parseTime,
  str,
  UsageError,
} from './args.js';
import { Resources } from './resources.js';
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

/** One CLI command: its usage line, its flags, and what it does with them. */
interface CommandSpec {
  usage: string;
  options: ParseArgsConfig['options'];
  run(args: Args, resources: Resources, io: CliIo): Promise<number>;
}

/** Every command, by name; adding one here is all a new command needs besides its entry file. */
const COMMANDS = {
  'dead-letters': {
    usage: USAGE['dead-letters'],
    options: {
      type: { type: 'string' },
      from: { type: 'string' },
      to: { type: 'string' },
      limit: { type: 'string' },
    },
    async run(a, r, io) {
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
    },
  },
  replay: {
    usage: USAGE.replay,
    options: {
      event: { type: 'string' },
      all: { type: 'boolean' },
      type: { type: 'string' },
      from: { type: 'string' },
      to: { type: 'string' },
    },
    async run(a, r, io) {
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
    },
  },
  backfill: {
    usage: USAGE.backfill,
    options: {
      resources: { type: 'string' },
      account: { type: 'string' },
      restart: { type: 'boolean' },
      status: { type: 'boolean' },
    },
    async run(a, r, io) {
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
          // (the line is rewritten), every progressEvery objects in a log.
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
    },
  },
  'fill-gaps': {
    usage: USAGE['fill-gaps'],
    options: { since: { type: 'string' }, 'dry-run': { type: 'boolean' } },
    async run(a, r, io) {
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
    },
  },
  'db-report': {
    usage: USAGE['db-report'],
    options: { limit: { type: 'string' } },
    async run(a, r, io) {
      const report = await dbReport(r.database().sql, { limit: parseLimit(str(a.limit), 500) });
      io.out(a.json ? JSON.stringify(report, null, 2) : formatDbReport(report));
      return EXIT.ok;
    },
  },
  'stripe-sync': {
    usage: USAGE['stripe-sync'],
    options: {
      resources: { type: 'string' },
      'fill-gaps': { type: 'boolean' },
    },
    async run(a, r, io) {
      const queue = await r.queue(QUEUES.stripeSync);
      const job = await addJob(queue, 'stripe.sync', {
        resources: parseResources(str(a.resources)) ?? [...BACKFILL_RESOURCES],
        fillGaps: a['fill-gaps'] === true,
        trigger: 'manual',
      });
      io.out(a.json ? JSON.stringify({ jobId: job.id }) : `enqueued stripe.sync job ${job.id}`);
      return EXIT.ok;
    },
  },
} satisfies Record<Command, CommandSpec>;

export async function runCli(
  command: Command,
  argv: string[],
  env: Env,
  io: CliIo,
): Promise<number> {
  const resources = new Resources(env);
  try {
    const spec: CommandSpec = COMMANDS[command];
    const args = parseCommandArgs(argv, spec.options);
    if (args.help) return help(command, io);
    return await spec.run(args, resources, io);
  } catch (error) {
    if (error instanceof UsageError) {
      io.err(`${error.message}\nusage: ${COMMANDS[command].usage}`);
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

function help(command: Command, io: CliIo): number {
  io.out(`usage: ${COMMANDS[command].usage}`);
  return EXIT.ok;
}
