/**
 * Benchmark 1: the ingress. Signed, unique, realistic deliveries accepted (answered 200, job
 * in Redis with AOF on) per second, and p50/p99 latency, against a bare Express app answering
 * {ok:true} on the same route with the same bodies. Both are separate processes driven by the
 * same autocannon process; rounds alternate baseline / ingress after a warm-up of each; the
 * median round is reported.
 *
 *   pnpm --filter @billing/bench ingress
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import {
  BENCH_SRC,
  BENCH_WEBHOOK_SECRET,
  baseChildEnv,
  benchEnv,
  buildEvents,
  cpuSeconds,
  freePort,
  mb,
  median,
  RedisServer,
  ratioLine,
  round,
  runId,
  runLoad,
  signEvents,
  spawnNode,
  startIngressApp,
  table,
  waitHttpOk,
  writeRequests,
} from './lib/index.js';
import { saveResult } from './results.js';

const SECRET = BENCH_WEBHOOK_SECRET;
const ROUTE = '/webhooks/stripe';

async function main(): Promise<void> {
  const env = benchEnv();
  const logDir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-ingress-'));
  const prefix = `{bench-${runId(6)}}`;
  const redis = await new RedisServer({ appendonly: true, appendfsync: 'everysec' }).start();
  const admin = new Redis(redis.url);
  const profile = process.argv.includes('--cpu-prof');
  console.log(
    `ingress benchmark: ${os.cpus().length} cores, ${env.BENCH_ROUNDS} rounds × ~${env.BENCH_SECONDS} s, ${env.BENCH_CONNECTIONS} connections, redis AOF everysec, logs in ${logDir}`,
  );

  const ingress = await startIngressApp(
    {
      redisUrl: redis.url,
      redisPrefix: prefix,
      secret: SECRET,
      logDir,
      nodeEnv: 'production',
      log: process.argv.includes('--log-file') ? 'file' : 'pipe',
    },
    {
      nodeArgs: [
        ...(profile ? ['--cpu-prof', `--cpu-prof-dir=${logDir}`] : []),
        // e.g. --node-arg=--max-semi-space-size=32 to try V8 flags on the ingress only
        ...process.argv
          .filter((a) => a.startsWith('--node-arg='))
          .map((a) => a.slice('--node-arg='.length)),
      ],
    },
  );
  const barePort = await freePort();
  const bare = spawnNode('bare-express', path.join(BENCH_SRC, 'baseline/bare-express.ts'), {
    cwd: path.dirname(BENCH_SRC),
    env: { ...baseChildEnv(), NODE_ENV: 'production' },
    logFile: path.join(logDir, 'bare.log'),
    args: [String(barePort), ROUTE],
  });
  const bareUrl = `http://127.0.0.1:${barePort}`;
  await waitHttpOk(bare, `${bareUrl}/nothing`).catch(() => undefined);

  const run = async (
    target: 'ingress' | 'bare',
    file: string,
    amount?: number,
    seconds?: number,
  ) => {
    // Server-side CPU per request: the app process, plus Redis for the ingress.
    const cpu = () =>
      target === 'ingress' ? ingress.proc.cpuSeconds() + cpuSeconds(redis.pid) : bare.cpuSeconds();
    const before = cpu();
    const redisBefore = cpuSeconds(redis.pid);
    const result = await runLoad({
      url: target === 'ingress' ? ingress.url : bareUrl,
      path: ROUTE,
      requestsFile: file,
      connections: env.BENCH_CONNECTIONS,
      amount,
      durationSeconds: seconds,
    });
    const redisCpuUs = ((cpuSeconds(redis.pid) - redisBefore) / result.requests) * 1e6;
    return { ...result, serverCpuUs: ((cpu() - before) / result.requests) * 1e6, redisCpuUs };
  };
  type Measured = Awaited<ReturnType<typeof run>>;
  const id = runId(6);

  // Warm-up (JIT, connection pools, Redis script cache) and a rate estimate to size the rounds.
  const warm = signEvents(buildEvents(15_000, { runId: `${id}w` }), SECRET);
  const warmFile = writeRequests('warm', warm);
  await run('bare', warmFile, undefined, 3);
  const warmIngress = await run('ingress', warmFile, undefined, 3);
  // Twice the warm-up rate: every delivery of a round stays unique even if it runs faster.
  const perRound = Math.max(5_000, Math.ceil(warmIngress.okPerSecond * env.BENCH_SECONDS * 2));
  console.log(
    `warm-up: ingress ~${Math.round(warmIngress.okPerSecond)}/s → ${perRound} unique deliveries prepared per round`,
  );

  const rows: Array<Record<string, string | number>> = [];
  const results: { ingress: Measured[]; bare: Measured[] } = { ingress: [], bare: [] };
  let peakRss = 0;
  const queueKeyCount = async () => Number(await admin.llen(`${prefix}:stripe-events:wait`));
  for (let r = 0; r < env.BENCH_ROUNDS; r++) {
    await admin.flushall();
    // Fresh unique events, signed just before the round (the ingress allows 300 s).
    const events = signEvents(buildEvents(perRound, { runId: `${id}r${r}` }), SECRET);
    const file = writeRequests(`round${r}`, events);
    const base = await run('bare', file, undefined, env.BENCH_SECONDS);
    ingress.proc.resetPeak();
    const before = await queueKeyCount();
    const measured = await run('ingress', file, undefined, env.BENCH_SECONDS);
    if (measured.wrapped > 0)
      console.warn(`round ${r}: ${measured.wrapped} deliveries were repeats (raise the margin)`);
    peakRss = Math.max(peakRss, ingress.proc.peakRssBytes());
    const enqueued = (await queueKeyCount()) - before;
    // Every 200 is a job in Redis (more jobs than 200s: answers cut off when the round ended).
    if (enqueued < measured.ok) {
      throw new Error(
        `round ${r}: ${measured.ok} deliveries answered 200 but only ${enqueued} jobs are in Redis`,
      );
    }
    results.bare.push(base);
    results.ingress.push(measured);
    const target = (x: Measured) => (x === measured ? Math.round(x.redisCpuUs) : '');
    for (const [name, x] of [
      ['bare express', base],
      ['ingress', measured],
    ] as const) {
      rows.push({
        round: r + 1,
        app: name,
        'ok/s': Math.round(x.okPerSecond),
        'p50 ms': x.latencyMs.p50,
        'p99 ms': x.latencyMs.p99,
        non2xx: x.non2xx,
        errors: x.errors,
        'server CPU µs/req': Math.round(x.serverCpuUs),
        'of which redis': target(x),
        'loadgen CPU µs/req': Math.round((x.loadgenCpuSeconds / x.requests) * 1e6),
        'body B': x.bytesPerRequest,
      });
    }
  }
  console.log(table(rows));
  const stats = String(await admin.info('commandstats'))
    .split('\n')
    .filter((l) => /evalsha|xadd|cmdstat_eval/.test(l));
  console.log(stats.join('\n'));

  const med = (list: Measured[], pick: (x: Measured) => number) => median(list.map(pick));
  const figures = {
    ingress: {
      okPerSecond: round(med(results.ingress, (x) => x.okPerSecond)),
      p50Ms: med(results.ingress, (x) => x.latencyMs.p50),
      p99Ms: med(results.ingress, (x) => x.latencyMs.p99),
      serverCpuUsPerRequest: Math.round(med(results.ingress, (x) => x.serverCpuUs)),
      peakRssMb: mb(peakRss),
    },
    bare: {
      okPerSecond: round(med(results.bare, (x) => x.okPerSecond)),
      p50Ms: med(results.bare, (x) => x.latencyMs.p50),
      p99Ms: med(results.bare, (x) => x.latencyMs.p99),
      serverCpuUsPerRequest: Math.round(med(results.bare, (x) => x.serverCpuUs)),
    },
    bodyBytes: results.ingress[0]?.bytesPerRequest,
    connections: env.BENCH_CONNECTIONS,
    rounds: env.BENCH_ROUNDS,
    perRound,
  };
  const ratio = figures.ingress.okPerSecond / figures.bare.okPerSecond;
  console.log(
    `ingress: ${figures.ingress.okPerSecond}/s accepted and enqueued, p50 ${figures.ingress.p50Ms} ms, p99 ${figures.ingress.p99Ms} ms, peak RSS ${figures.ingress.peakRssMb} MB`,
  );
  console.log(
    `bare express: ${figures.bare.okPerSecond}/s, p50 ${figures.bare.p50Ms} ms, p99 ${figures.bare.p99Ms} ms`,
  );
  console.log(
    ratioLine(
      {
        name: 'ingress/bare throughput',
        value: figures.ingress.okPerSecond,
        baseline: figures.bare.okPerSecond,
        ratio,
        target: 0.8,
      },
      '/s',
    ),
  );
  console.log(
    `server CPU per request: ingress + redis ${figures.ingress.serverCpuUsPerRequest} µs, bare express ${figures.bare.serverCpuUsPerRequest} µs (cost ratio ${(figures.bare.serverCpuUsPerRequest / figures.ingress.serverCpuUsPerRequest).toFixed(2)})`,
  );
  saveResult('ingress', { ...figures, ratio: round(ratio, 2) });

  admin.disconnect();
  await Promise.all([ingress.proc.stop(), bare.stop()]);
  await redis.destroy();
  if (profile) console.log(`cpu profile(s) in ${logDir}`);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
