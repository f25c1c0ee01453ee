import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { processEnv } from '@billing/config';
import { useTestServices } from '@billing/testing';
import { describe, expect, it } from 'vitest';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** Runs `node scripts/stack.mjs …` (what `npm run simulate` does) to its exit. */
function stack(args: string[], env: Record<string, string>) {
  return new Promise<{ code: number | null; output: string }>((resolve) => {
    const child = spawn(process.execPath, ['scripts/stack.mjs', ...args], {
      cwd: root,
      env: { PATH: processEnv().PATH ?? '', HOME: processEnv().HOME ?? '/root', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk) => {
      output += chunk;
    });
    child.stderr.on('data', (chunk) => {
      output += chunk;
    });
    child.once('exit', (code) => resolve({ code, output }));
  });
}

describe('npm run simulate', () => {
  it('ends a failed scenario with its own message, not a pnpm stack', {
    timeout: 120_000,
  }, async () => {
    // Tried: the journey against an API address where nothing can answer.
    const result = await stack(['simulate', 'journey'], {
      SIMULATE_API_URL: 'http://127.0.0.1:1',
      NODE_ENV: 'test',
    });
    expect(result.code).not.toBe(0);
    expect(result.output).toContain('cannot reach the billing API at http://127.0.0.1:1');
    expect(result.output).not.toMatch(/ERR_PNPM/);
  });

  it('refuses an unknown scenario with the usage and exit 2', { timeout: 120_000 }, async () => {
    const result = await stack(['simulate', 'no-such-scenario'], { NODE_ENV: 'test' });
    expect(result.code).toBe(2);
    expect(result.output).toContain('unknown scenario "no-such-scenario"');
    expect(result.output).not.toMatch(/ERR_PNPM/);
  });
});

const freePort = () =>
  new Promise<number>((resolve) => {
    const server = net.createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });

describe('npm start', () => {
  it('prints its banner once every app answers /readyz, with one app-named JSON line per log when not on a terminal', {
    timeout: 300_000,
  }, async () => {
    const services = await useTestServices('stack-start');
    const [ingress, api, webhooks, usage, stripeSync, simulator, ingressMetrics, apiMetrics] =
      await Promise.all(Array.from({ length: 8 }, freePort));
    const child = spawn(process.execPath, ['scripts/stack.mjs', 'start'], {
      cwd: root,
      env: {
        PATH: processEnv().PATH ?? '',
        HOME: processEnv().HOME ?? '/root',
        DATABASE_URL: services.databaseUrl,
        REDIS_URL: services.redisUrl,
        REDIS_PREFIX: services.redisPrefix,
        INGRESS_PORT: String(ingress),
        API_PORT: String(api),
        WORKER_WEBHOOKS_PORT: String(webhooks),
        WORKER_USAGE_PORT: String(usage),
        WORKER_STRIPE_SYNC_PORT: String(stripeSync),
        STRIPE_SIMULATOR_PORT: String(simulator),
        STRIPE_SIMULATOR_STATE_FILE: 'off',
        INGRESS_METRICS_PORT: String(ingressMetrics),
        API_METRICS_PORT: String(apiMetrics),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk) => {
      output += chunk;
    });
    child.stderr.on('data', (chunk) => {
      output += chunk;
    });
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    try {
      // Waits on the banner (or the script ending), up to four minutes on a busy machine.
      const deadline = Date.now() + 240_000;
      while (!output.includes('[stack] Ctrl-C stops everything') && child.exitCode === null) {
        if (Date.now() > deadline) throw new Error(`no banner:\n${output}`);
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
      expect(child.exitCode, output).toBeNull();
      // The moment the banner is out, every app it lists answers.
      const ready = await Promise.all(
        [ingress, api, webhooks, usage, stripeSync].map(async (port) => {
          const response = await fetch(`http://127.0.0.1:${port}/readyz`);
          return response.status;
        }),
      );
      expect(ready).toEqual([200, 200, 200, 200, 200]);
      // The simulator starts after the ingress answers, so its start-up webhooks (the plan
      // catalogue) each arrive at the first attempt: none is retried.
      type Stats = {
        queued: number;
        inFlight: number;
        retrying: number;
        delivered: number;
        attempts: number;
      };
      let stats: Stats | undefined;
      const settle = Date.now() + 60_000;
      for (;;) {
        const status = await fetch(`http://127.0.0.1:${simulator}/_simulator/status`);
        expect(status.status).toBe(200);
        stats = ((await status.json()) as { webhooks: Stats }).webhooks;
        if (stats.queued + stats.inFlight + stats.retrying === 0 || Date.now() > settle) break;
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
      expect(stats.delivered).toBeGreaterThan(0);
      expect(stats.attempts).toBe(stats.delivered);

      // Not a terminal: the apps log JSON, one object per line, each naming its app.
      const records = output
        .split('\n')
        .filter((line) => line.startsWith('{'))
        .map((line) => JSON.parse(line) as { app?: string; msg?: string });
      expect(records.length).toBeGreaterThan(0);
      const apps = new Set(records.map((record) => record.app));
      expect([...apps].sort()).toEqual([
        'api',
        'ingress',
        'stripe-simulator',
        'worker-stripe-sync',
        'worker-usage',
        'worker-webhooks',
      ]);
      // The simulator starts after the ingress answers: no delivery had to be retried.
      expect(records.filter((record) => /delivery failed/.test(record.msg ?? ''))).toEqual([]);

      // A healthy, idle system: every metric the dashboard and the alert rules read already
      // has a series, so no panel shows "No data" and no rule evaluates nothing.
      const scraped = (
        await Promise.all(
          [ingressMetrics, apiMetrics, webhooks, usage, stripeSync].map(async (port) => {
            const response = await fetch(`http://127.0.0.1:${port}/metrics`);
            expect(response.status, `/metrics on ${port}`).toBe(200);
            return response.text();
          }),
        )
      ).join('\n');
      const withSamples = new Set(
        scraped
          .split('\n')
          .filter((line) => line !== '' && !line.startsWith('#'))
          .map((line) => line.split(/[{ ]/)[0]!.replace(/_(bucket|count|sum)$/, '')),
      );
      const referenced = new Set(
        [
          fs.readFileSync(path.join(root, 'infra/grafana/billing-dashboard.json'), 'utf8'),
          fs.readFileSync(path.join(root, 'infra/grafana/alert-rules.yml'), 'utf8'),
        ]
          .join('\n')
          .match(/\b(?:ingress|webhook|billing|api|usage|nodejs|process)_[a-z0-9_]+/g)
          ?.map((name) => name.replace(/_(bucket|count|sum)$/, '')),
      );
      expect(referenced.size).toBeGreaterThan(20);
      expect([...referenced].filter((name) => !withSamples.has(name)).sort()).toEqual([]);
    } finally {
      child.kill('SIGTERM');
      await exited;
    }
  });
});
