#!/usr/bin/env node
// The two README commands in one dependency-free script (it runs before `pnpm install`):
//   npm start  → install, find or start Postgres + Redis, migrate + seed, start every app
//   npm test   → install, find or start Postgres + Redis, static checks, the whole suite
// plus `npm run test:faults` (fault drills) and `npm run simulate -- <scenario>`.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseEnv } from 'node:util';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const PNPM = ['-y', 'pnpm@12.4.2'];
const [command = 'start', ...rest] = process.argv.slice(2);

const log = (message) => console.log(`[stack] ${message}`);
const fail = (message) => {
  console.error(`[stack] ${message}`);
  process.exit(1);
};

function run(cmd, args, options = {}) {
  const result = spawnSync(cmd, args, {
    cwd: root,
    stdio: 'inherit',
    env: process.env,
    ...options,
  });
  if (result.error) fail(`${cmd} ${args.join(' ')}: ${result.error.message}`);
  return result.status ?? 1;
}
const pnpm = (...args) => run('npx', [...PNPM, ...args]);

// 0. `.env` (git-ignored; `.env.example` lists every variable), read with Node's own parser
// (util.parseEnv, Node 20.12+) so this script stays dependency-free and the apps need no
// dotenv: they inherit this environment, and run on their own they read the same file through
// @billing/config. A variable already set in the shell wins over the file. `npm test` takes
// only where Postgres and Redis are: a developer's Stripe key or log settings must not change
// what the suite sees.
function loadDotEnv(only) {
  const file = path.join(root, '.env');
  if (!fs.existsSync(file)) return;
  if (typeof parseEnv !== 'function') fail('reading .env needs Node.js 20.12 or newer');
  const parsed = parseEnv(fs.readFileSync(file, 'utf8'));
  const names = Object.keys(parsed).filter((name) => !only || only.includes(name));
  let applied = 0;
  for (const name of names) {
    if (process.env[name] !== undefined) continue;
    // '' means unset (as for every config loader): leave it out so defaults and discovery apply.
    if (parsed[name] !== '') process.env[name] = parsed[name];
    applied += 1;
  }
  log(`read .env (${applied} of ${names.length} variables; the shell's win)`);
}

// 1. Dependencies: install when node_modules is missing or older than the lockfile.
function ensureInstalled() {
  const marker = path.join(root, 'node_modules/.modules.yaml');
  const lock = path.join(root, 'pnpm-lock.yaml');
  const stale = !fs.existsSync(marker) || fs.statSync(marker).mtimeMs < fs.statSync(lock).mtimeMs;
  if (!stale) return;
  log('installing dependencies (pnpm 12.4.2, frozen lockfile)');
  if (pnpm('install', '--frozen-lockfile') !== 0) fail('pnpm install failed');
  // pnpm leaves the marker alone when nothing changed; touch it so the next run skips this.
  if (fs.existsSync(marker)) fs.utimesSync(marker, new Date(), new Date());
}

// The same probe as portAnswers in @billing/testing, kept here because this script runs as
// plain JavaScript before `pnpm install`: node_modules may not exist yet and Node 20 cannot
// load the TypeScript sources of a workspace package.
const answers = (host, port, timeoutMs = 700) =>
  new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const done = (ok) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });

const hostPort = (url, fallbackPort) => {
  const parsed = new URL(url);
  return { host: parsed.hostname || '127.0.0.1', port: Number(parsed.port || fallbackPort) };
};

const dockerWorks = () => spawnSync('docker', ['info'], { stdio: 'ignore' }).status === 0;

async function waitFor(host, port, what, seconds = 60) {
  for (let i = 0; i < seconds * 4; i++) {
    if (await answers(host, port)) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  fail(`${what} did not come up on ${host}:${port} within ${seconds} s`);
}

// 2. Services: DATABASE_URL / REDIS_URL when set, else the local default ports when they
// answer, else `docker compose up -d postgres redis`, else say exactly what is missing.
async function ensureServices() {
  const env = process.env;
  const found = { postgres: Boolean(env.DATABASE_URL), redis: Boolean(env.REDIS_URL) };
  if (env.DATABASE_URL) {
    const { host, port } = hostPort(env.DATABASE_URL, 5432);
    if (!(await answers(host, port)))
      fail(`DATABASE_URL is set but nothing answers on ${host}:${port}`);
  } else if (await answers('127.0.0.1', 5432)) {
    env.DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/billing';
    found.postgres = true;
  }
  if (env.REDIS_URL) {
    const { host, port } = hostPort(env.REDIS_URL, 6379);
    if (!(await answers(host, port)))
      fail(`REDIS_URL is set but nothing answers on ${host}:${port}`);
  } else if (await answers('127.0.0.1', 6379)) {
    env.REDIS_URL = 'redis://127.0.0.1:6379';
    found.redis = true;
  }
  const missing = Object.entries(found)
    .filter(([, ok]) => !ok)
    .map(([name]) => name);
  if (missing.length > 0) {
    if (!dockerWorks()) {
      fail(
        `cannot find ${missing.join(' and ')}. Either install and start PostgreSQL 15+ (port 5432, user postgres) and Redis 7+ (port 6379), ` +
          'or set DATABASE_URL / REDIS_URL to running servers, or install Docker so `docker compose` can start them.',
      );
    }
    log(`starting ${missing.join(' and ')} with docker compose`);
    if (run('docker', ['compose', 'up', '-d', '--wait', ...missing]) !== 0)
      fail('docker compose up failed');
    if (missing.includes('postgres')) {
      env.DATABASE_URL = 'postgres://postgres:postgres@127.0.0.1:5432/billing';
      await waitFor('127.0.0.1', 5432, 'postgres');
    }
    if (missing.includes('redis')) {
      env.REDIS_URL = 'redis://127.0.0.1:6379';
      await waitFor('127.0.0.1', 6379, 'redis');
    }
  }
  log(`postgres: ${redact(env.DATABASE_URL)}  redis: ${redact(env.REDIS_URL)}`);
}

const redact = (url) => url.replace(/\/\/([^:@/]+):[^@/]+@/, '//$1:***@');

// TypeScript entry points run with the installed tsx directly rather than through
// `pnpm --filter … exec`: pnpm adds its own start-up time, and when the program fails it
// prints an ERR_PNPM_RECURSIVE_EXEC_FIRST_FAIL stack under the program's own message.
const TSX = path.join(root, 'node_modules/.bin/tsx');
const runTs = (dir, entry, args = []) => run(TSX, [entry, ...args], { cwd: path.join(root, dir) });

function migrate() {
  log('creating the database if needed, applying migrations, loading the plan list');
  const status = runTs('packages/db', 'src/migrate-cli.ts', ['--create', '--seed']);
  if (status !== 0) fail('migrations failed (see above)');
}

// 3. The apps, each its own process; Ctrl-C / SIGTERM stops them all cleanly. `ready` is the
// URL that answers 200 once the app can do its work (its dependencies answer).
const port = (e, name, fallback) => e[name] || fallback;
const APPS = [
  {
    name: 'ingress',
    dir: 'apps/ingress',
    url: (e) => `http://localhost:${port(e, 'INGRESS_PORT', 3000)}/webhooks/stripe`,
    ready: (e) => `http://127.0.0.1:${port(e, 'INGRESS_PORT', 3000)}/readyz`,
  },
  {
    name: 'worker-webhooks',
    dir: 'apps/worker-webhooks',
    url: (e) => `http://localhost:${port(e, 'WORKER_WEBHOOKS_PORT', 3002)}/metrics`,
    ready: (e) => `http://127.0.0.1:${port(e, 'WORKER_WEBHOOKS_PORT', 3002)}/readyz`,
  },
  {
    name: 'worker-usage',
    dir: 'apps/worker-usage',
    url: (e) => `http://localhost:${port(e, 'WORKER_USAGE_PORT', 3003)}/metrics`,
    ready: (e) => `http://127.0.0.1:${port(e, 'WORKER_USAGE_PORT', 3003)}/readyz`,
  },
  {
    name: 'worker-stripe-sync',
    dir: 'apps/worker-stripe-sync',
    url: (e) => `http://localhost:${port(e, 'WORKER_STRIPE_SYNC_PORT', 3004)}/metrics`,
    ready: (e) => `http://127.0.0.1:${port(e, 'WORKER_STRIPE_SYNC_PORT', 3004)}/readyz`,
  },
  {
    name: 'api',
    dir: 'apps/api',
    url: (e) => `http://localhost:${port(e, 'API_PORT', 3001)}/api/openapi.json`,
    ready: (e) => `http://127.0.0.1:${port(e, 'API_PORT', 3001)}/readyz`,
  },
];

// Without STRIPE_SECRET_KEY the apps talk to the bundled Stripe simulator (apps/stripe-simulator),
// which also sends the signed webhooks to the ingress. It starts once the ingress answers
// /readyz: started first, every cold start logged a failed delivery per plan webhook.
const SIMULATOR = {
  name: 'stripe-simulator',
  dir: 'apps/stripe-simulator',
  main: 'src/main.ts',
  cli: 'src/cli.ts',
  url: (e) => `http://localhost:${e.STRIPE_SIMULATOR_PORT}/_simulator/status`,
  ready: (e) => `http://127.0.0.1:${e.STRIPE_SIMULATOR_PORT}/_simulator/status`,
};

function simulatorMode() {
  const env = process.env;
  if (env.STRIPE_SECRET_KEY) return false;
  env.STRIPE_SIMULATOR_PORT ||= '12111';
  env.STRIPE_API_BASE = `http://127.0.0.1:${env.STRIPE_SIMULATOR_PORT}`;
  env.STRIPE_SECRET_KEY = 'sk_test_simulator';
  // Lets the API's billing page offer its simulator-only user picker (see apps/api billing-page).
  env.STRIPE_SIMULATOR = 'true';
  return true;
}

/** Resolves true once `url` answers 2xx, false if `child` exits or `seconds` pass first. */
async function answersReady(url, child, seconds = 120) {
  const deadline = Date.now() + seconds * 1000;
  while (Date.now() < deadline && child.exitCode === null && child.signalCode === null) {
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(2_000) });
      if (response.ok) return true;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  return false;
}

async function startApps(withSimulator) {
  const children = [];
  let stopping = false;
  const stop = (code = 0) => {
    if (stopping) return;
    stopping = true;
    log('stopping apps');
    for (const { child } of children) child.kill('SIGTERM');
    // Past the apps' own shutdown deadline (SHUTDOWN_TIMEOUT_MS, 25 s by default).
    const timer = setTimeout(() => {
      for (const { child } of children) child.kill('SIGKILL');
    }, 30_000);
    Promise.all(
      children.map(
        ({ child }) => new Promise((r) => (child.exitCode !== null ? r() : child.once('exit', r))),
      ),
    ).then(() => {
      clearTimeout(timer);
      process.exit(code);
    });
  };
  process.on('SIGINT', () => stop(0));
  process.on('SIGTERM', () => stop(0));
  // Detached apps outlive this script unless told: if it exits any other way (an error), stop them.
  process.on('exit', () => {
    for (const { child } of children) if (child.exitCode === null) child.kill('SIGTERM');
  });

  const launch = (app) => {
    const child = spawn(TSX, [app.main ?? 'src/main.ts'], {
      cwd: path.join(root, app.dir),
      env: process.env,
      // The apps write to this terminal themselves: on a terminal their logger prints one
      // readable line per log, the app name first (LOG_FORMAT=json keeps JSON).
      stdio: ['ignore', 'inherit', 'inherit'],
      // Each app in its own process group: a Ctrl-C in the terminal reaches only this script,
      // which then sends every app one SIGTERM. Sharing the group, an app got the terminal's
      // SIGINT and then this script's SIGTERM, and apps treat a second signal as "exit now".
      detached: true,
    });
    child.on('exit', (code, signal) => {
      if (!stopping) {
        console.error(`[stack] ${app.name} exited (${signal ?? code}); stopping everything`);
        stop(1);
      }
    });
    const entry = { app, child };
    children.push(entry);
    return entry;
  };
  const waitReady = async ({ app, child }) => {
    if (await answersReady(app.ready(process.env), child)) return;
    if (!stopping) {
      console.error(
        `[stack] ${app.name} did not answer ${app.ready(process.env)}; stopping everything`,
      );
      stop(1);
    }
    await new Promise(() => {}); // stop() exits the process
  };

  const apps = APPS.filter((app) => fs.existsSync(path.join(root, app.dir, 'src/main.ts'))).map(
    launch,
  );
  if (withSimulator) {
    const ingress = apps.find(({ app }) => app.name === 'ingress');
    if (ingress) await waitReady(ingress);
    apps.unshift(launch(SIMULATOR));
  }
  await Promise.all(apps.map(waitReady));

  // Printed only now: every URL below answers.
  log('running (every app answers /readyz):');
  for (const { app } of apps) console.log(`  ${app.name.padEnd(18)} ${app.url(process.env)}`);
  const api = apps.find(({ app }) => app.name === 'api');
  if (api) {
    const page = api.app.url(process.env).replace('/api/openapi.json', '/billing');
    console.log(`  ${'billing page'.padEnd(18)} ${page}`);
  }
  if (withSimulator) {
    log(
      'simulator mode: no STRIPE_SECRET_KEY, so the apps use the bundled Stripe simulator; try `npm run simulate -- journey`',
    );
  }
  log('Ctrl-C stops everything');
}

async function main() {
  loadDotEnv(
    command === 'test' || command === 'faults' ? ['DATABASE_URL', 'REDIS_URL'] : undefined,
  );
  ensureInstalled();
  if (command === 'simulate') {
    process.exit(runTs(SIMULATOR.dir, SIMULATOR.cli, rest));
  }
  await ensureServices();
  if (command === 'start') {
    migrate();
    await startApps(simulatorMode());
    return;
  }
  if (command === 'test') {
    log('static checks: types, lint, migrations in step with the schema');
    if (pnpm('run', 'check') !== 0) fail('static checks failed');
    log('test suite (unit + integration against real Postgres and Redis)');
    process.exit(
      run(
        path.join(root, 'node_modules/.bin/vitest'),
        ['run', '--project', 'unit', '--project', 'int', ...rest],
        { env: { ...process.env, NODE_ENV: 'test' } },
      ),
    );
  }
  if (command === 'faults') {
    process.exit(
      run(path.join(root, 'node_modules/.bin/vitest'), ['run', '--project', 'faults', ...rest], {
        env: { ...process.env, NODE_ENV: 'test' },
      }),
    );
  }
  fail(`unknown command ${command}: use start, test, faults or simulate`);
}

await main();
