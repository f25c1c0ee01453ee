/**
 * Benchmark 5: memory.
 *  - Worker RSS growth: the real webhook worker applies BENCH_MEMORY_JOBS jobs (fed straight
 *    into its queue, topped up in bulk so Redis never holds more than a bounded backlog);
 *    RSS and V8 heap are sampled at every tenth and compared: after the first tenth (e.g.
 *    100,000 of 1,000,000) against the end. No growth = the end within noise of the first.
 *  - The peak RSS of ingress, worker and API under the loads of benchmarks 1-4, from their
 *    last results (bench/results/*.json).
 *
 *   pnpm --filter @billing/bench memory [--kind=mixed|ignored]
 * `mixed` (default): the realistic customer/subscription/invoice mix of the other benchmarks.
 * `ignored`: an event type the worker records and acknowledges without a handler: the same
 * exactly-once path (claim, mark, commit) at a higher rate, to reach a large job count sooner.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createQueue, jobCatalog, QUEUES } from '@billing/queue';
import { closeRedis, createRedis } from '@billing/redis';
import {
  BENCH_SRC,
  BENCH_WEBHOOK_SECRET,
  benchEnv,
  buildEvents,
  freshDatabase,
  mb,
  RedisServer,
  round,
  runId,
  sleep,
  startWebhookWorkerApp,
  table,
} from './lib/index.js';
import { saveResult } from './results.js';

const TEMPLATE_COUNT = 2_000;

function memoryOf(text: string): { rss: number; heap: number } {
  const value = (name: string) =>
    Number(text.match(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)`, 'm'))?.[1] ?? Number.NaN);
  return {
    rss: value('process_resident_memory_bytes'),
    heap: value('nodejs_heap_size_used_bytes'),
  };
}

async function main(): Promise<void> {
  const env = benchEnv();
  const kind = process.argv.find((a) => a.startsWith('--kind='))?.split('=')[1] ?? 'mixed';
  const total = env.BENCH_MEMORY_JOBS;
  const logDir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-memory-'));
  const databaseUrl = await freshDatabase(env.DATABASE_URL, env.BENCH_DATABASE);
  const redis = await new RedisServer({ appendonly: true }).start();
  const prefix = `{bench-${runId(6)}}`;
  const worker = await startWebhookWorkerApp(
    {
      redisUrl: redis.url,
      redisPrefix: prefix,
      databaseUrl,
      secret: BENCH_WEBHOOK_SECRET,
      logDir,
      log: 'pipe',
      logLevel: 'warn',
    },
    { concurrency: 8 },
  );
  const connection = createRedis(redis.url, { role: 'worker' });
  const queue = createQueue(QUEUES.stripeEvents, { connection, prefix });
  console.log(
    `memory benchmark: worker applying ${total} ${kind} jobs, RSS sampled every ${total / 10}`,
  );

  // Event bodies: a pool of templates whose ids are rewritten per job (unique event and
  // object ids, so every job is a new event, a new claim, a new row).
  const id = runId(6);
  const templates = buildEvents(TEMPLATE_COUNT, { runId: `${id}TPL`, customers: 500 }).map((e) =>
    kind === 'ignored'
      ? {
          ...e,
          type: 'charge.succeeded',
          body: e.body.replace(`"type": "${e.type}"`, '"type": "charge.succeeded"'),
        }
      : e,
  );
  const jobFor = (n: number) => {
    const template = templates[n % TEMPLATE_COUNT]!;
    const round = Math.floor(n / TEMPLATE_COUNT);
    const body = template.body.replaceAll(`${id}TPL`, `${id}R${round}`);
    const eventId = template.id.replace(`${id}TPL`, `${id}R${round}`);
    return { eventId, type: template.type, raw: body, receivedAt: Date.now(), secretIndex: 0 };
  };

  // Heap used at one instant depends on where the garbage collector is; the lowest reading of
  // a tenth (the worker is scraped every 500 ms, ~100+ readings a tenth) is close to its live
  // heap after a collection, and that floor is what a leak would raise.
  const samples: Array<{
    jobs: number;
    seconds: number;
    rss: number;
    heap: number;
    peak: number;
    heapFloor: number;
    rssFloor: number;
  }> = [];
  let heapFloor = Number.POSITIVE_INFINITY;
  let rssFloor = Number.POSITIVE_INFINITY;
  const started = Date.now();
  let added = 0;
  let done = 0;
  let nextSample = total / 10;
  while (done < total) {
    // Keep 5,000 to 10,000 jobs waiting.
    const waiting = await queue.getWaitingCount();
    if (waiting < 5_000 && added < total) {
      const batch = Math.min(5_000, total - added);
      await queue.addBulk(
        Array.from({ length: batch }, (_, i) => {
          const data = jobFor(added + i);
          // The catalog's options, as the ingress adds them (jobId = event id).
          return {
            name: 'stripe.event',
            data,
            opts: { ...jobCatalog['stripe.event'].opts, jobId: data.eventId },
          };
        }),
      );
      added += batch;
    }
    // Completed jobs are trimmed (removeOnComplete): count them with the worker's own counter.
    const text = await (await fetch(`${worker.url}/metrics`)).text();
    done = [...text.matchAll(/^webhook_events_processed_total\{[^}]*\} (\d+)/gm)].reduce(
      (sum, m) => sum + Number(m[1]),
      0,
    );
    const m = memoryOf(text);
    heapFloor = Math.min(heapFloor, m.heap);
    rssFloor = Math.min(rssFloor, m.rss);
    if (done >= nextSample) {
      samples.push({
        jobs: done,
        seconds: (Date.now() - started) / 1000,
        rss: m.rss,
        heap: m.heap,
        peak: worker.proc.peakRssBytes(),
        heapFloor,
        rssFloor,
      });
      console.log(
        `${done} jobs, ${round((Date.now() - started) / 1000)} s: RSS ${mb(m.rss)} MB (lowest this tenth ${mb(rssFloor)}), heap ${mb(m.heap)} MB (lowest this tenth ${mb(heapFloor)})`,
      );
      heapFloor = Number.POSITIVE_INFINITY;
      rssFloor = Number.POSITIVE_INFINITY;
      nextSample += total / 10;
    }
    await sleep(500);
  }
  console.log(
    table(
      samples.map((s) => ({
        jobs: s.jobs,
        s: round(s.seconds),
        'RSS MB': mb(s.rss),
        'heap MB': mb(s.heap),
        'lowest RSS of the tenth MB': mb(s.rssFloor),
        'lowest heap of the tenth MB': mb(s.heapFloor),
        'peak RSS MB': mb(s.peak),
      })),
    ),
  );
  const first = samples[0]!;
  const last = samples.at(-1)!;
  const growth = {
    rssMb: round(mb(last.rss) - mb(first.rss)),
    heapMb: round(mb(last.heap) - mb(first.heap)),
    heapFloorMb: round(mb(last.heapFloor) - mb(first.heapFloor)),
  };
  console.log(
    `worker RSS after ${first.jobs} jobs ${mb(first.rss)} MB, after ${last.jobs} jobs ${mb(last.rss)} MB (${growth.rssMb >= 0 ? '+' : ''}${growth.rssMb} MB); heap ${mb(first.heap)} → ${mb(last.heap)} MB; lowest heap of the first tenth ${mb(first.heapFloor)} MB, of the last ${mb(last.heapFloor)} MB`,
  );

  const results = path.join(path.dirname(BENCH_SRC), 'results');
  const peaks: Record<string, unknown> = {};
  for (const name of ['ingress', 'e2e', 'reads', 'usage-ingest']) {
    const file = path.join(results, `${name}.json`);
    if (fs.existsSync(file)) peaks[name] = JSON.parse(fs.readFileSync(file, 'utf8'));
  }
  saveResult(`memory-${kind}`, {
    kind,
    jobs: total,
    samples: samples.map((s) => ({
      jobs: s.jobs,
      seconds: round(s.seconds),
      rssMb: mb(s.rss),
      heapMb: mb(s.heap),
      rssFloorMb: mb(s.rssFloor),
      heapFloorMb: mb(s.heapFloor),
    })),
    growth,
    jobsPerSecond: round(last.jobs / last.seconds),
  });
  await queue.close();
  await closeRedis(connection);
  await worker.proc.stop();
  await redis.destroy();
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
