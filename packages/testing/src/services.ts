import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { LOCAL_DATABASE_URL, LOCAL_REDIS_URL, processEnv } from '@billing/config';
import { MIGRATIONS_FOLDER, runMigrations } from '@billing/db';
import { Redis } from 'ioredis';
import postgres from 'postgres';
import { portAnswers } from './ports.js';

/**
 * Where the tests find Postgres and Redis: DATABASE_URL / REDIS_URL when set, else the local
 * default ports when they answer, else containers started with testcontainers (machines
 * with Docker). Never a mock.
 */
export interface Services {
  databaseUrl: string;
  redisUrl: string;
}

type Stoppable = { stop(): Promise<unknown> };
const containers: Stoppable[] = [];

async function startContainers(need: {
  postgres: boolean;
  redis: boolean;
}): Promise<Partial<Services>> {
  let tc: typeof import('testcontainers');
  try {
    tc = await import('testcontainers');
  } catch {
    throw new Error(
      'no Postgres/Redis found: set DATABASE_URL and REDIS_URL, start them on 127.0.0.1:5432 / 6379, or install Docker for testcontainers',
    );
  }
  const found: Partial<Services> = {};
  if (need.postgres) {
    const pg = await new tc.GenericContainer('postgres:16-alpine')
      .withEnvironment({ POSTGRES_HOST_AUTH_METHOD: 'trust' })
      .withExposedPorts(5432)
      .withWaitStrategy(tc.Wait.forLogMessage(/database system is ready to accept connections/, 2))
      .start();
    containers.push(pg);
    found.databaseUrl = `postgres://postgres@${pg.getHost()}:${pg.getMappedPort(5432)}/billing`;
  }
  if (need.redis) {
    const redis = await new tc.GenericContainer('redis:7-alpine').withExposedPorts(6379).start();
    containers.push(redis);
    found.redisUrl = `redis://${redis.getHost()}:${redis.getMappedPort(6379)}`;
  }
  return found;
}

export async function resolveServices(env = processEnv()): Promise<Services> {
  let databaseUrl = env.DATABASE_URL;
  let redisUrl = env.REDIS_URL;
  if (!databaseUrl && (await portAnswers('127.0.0.1', 5432))) databaseUrl = LOCAL_DATABASE_URL;
  if (!redisUrl && (await portAnswers('127.0.0.1', 6379))) redisUrl = LOCAL_REDIS_URL;
  if (!databaseUrl || !redisUrl) {
    const started = await startContainers({ postgres: !databaseUrl, redis: !redisUrl });
    databaseUrl ??= started.databaseUrl;
    redisUrl ??= started.redisUrl;
  }
  return { databaseUrl: databaseUrl!, redisUrl: redisUrl! };
}

export async function stopContainers(): Promise<void> {
  await Promise.all(containers.splice(0).map((container) => container.stop()));
}

export const withDatabase = (url: string, name: string) => {
  const next = new URL(url);
  next.pathname = `/${name}`;
  return next.toString();
};

/** Name of the template database for the current migrations: their content hash. */
export function templateName(): string {
  const hash = createHash('sha256');
  for (const file of fs
    .readdirSync(MIGRATIONS_FOLDER)
    .filter((f) => f.endsWith('.sql'))
    .sort()) {
    hash.update(file).update(fs.readFileSync(path.join(MIGRATIONS_FOLDER, file)));
  }
  return `billing_tmpl_${hash.digest('hex').slice(0, 12)}`;
}

const adminSql = (url: string) =>
  postgres(withDatabase(url, 'postgres'), { max: 1, onnotice: () => {} });

/**
 * Creates (once per migration set) a template database with the real migrations applied.
 * Test files clone it, which takes milliseconds instead of re-running migrations.
 */
export async function prepareTemplate(baseUrl: string): Promise<string> {
  const name = templateName();
  const admin = adminSql(baseUrl);
  try {
    // Serialise concurrent preparers (several vitest processes) on an advisory lock.
    await admin`select pg_advisory_lock(74210001)`;
    const [exists] = await admin`select 1 from pg_database where datname = ${name}`;
    if (!exists) {
      const building = `${name}_building`;
      await admin.unsafe(`drop database if exists "${building}" with (force)`);
      await admin.unsafe(`create database "${building}"`);
      await runMigrations(withDatabase(baseUrl, building));
      await admin.unsafe(`alter database "${building}" rename to "${name}"`);
    }
    await admin`select pg_advisory_unlock(74210001)`;
  } finally {
    await admin.end({ timeout: 5 });
  }
  return name;
}

export interface TestDatabase {
  url: string;
  name: string;
  drop(): Promise<void>;
}

/** A fresh database for one test file, cloned from the migrated template. */
export async function createTestDatabase(baseUrl: string): Promise<TestDatabase> {
  const template = await prepareTemplate(baseUrl);
  const name = `billing_t_${randomBytes(6).toString('hex')}`;
  const admin = adminSql(baseUrl);
  try {
    // CREATE DATABASE … TEMPLATE fails if another session is connected to the template;
    // nobody connects to it after it is built, but retry briefly just in case.
    for (let attempt = 0; ; attempt++) {
      try {
        await admin.unsafe(`create database "${name}" template "${template}"`);
        break;
      } catch (error) {
        if (attempt >= 20 || !/being accessed by other users/.test((error as Error).message))
          throw error;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
  } finally {
    await admin.end({ timeout: 5 });
  }
  return {
    url: withDatabase(baseUrl, name),
    name,
    drop: async () => {
      const sql = adminSql(baseUrl);
      try {
        await sql.unsafe(`drop database if exists "${name}" with (force)`);
      } finally {
        await sql.end({ timeout: 5 });
      }
    },
  };
}

/** A Redis key prefix of its own for one test file, hash-tagged so it works on a cluster too. */
export const testRedisPrefix = (label = 't') => `{${label}-${randomBytes(5).toString('hex')}}`;

/** Deletes every key under `prefix` (end of a test file). */
export async function flushPrefix(redisUrl: string, prefix: string): Promise<void> {
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) await redis.unlink(...keys);
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}
