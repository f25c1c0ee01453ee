import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { REPO_ROOT, useTestServices } from '@billing/testing';
import { afterAll, describe, expect, it } from 'vitest';
import { startTestApi } from './support.js';

// The operator's CLI for API keys, run as a process against the file's own database, and
// the key it prints used against the real API.
const services = await useTestServices('apikeys');
const t = await startTestApi(services);
afterAll(() => t.close());
const appDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

const cli = (...args: string[]) =>
  spawnSync(path.join(REPO_ROOT, 'node_modules/.bin/tsx'), ['src/cli/api-keys.ts', ...args], {
    cwd: appDir,
    env: { ...process.env, DATABASE_URL: services.databaseUrl, NODE_ENV: 'test' },
    encoding: 'utf8',
  });

describe('api-keys CLI', () => {
  it('creates a user key that acts for its user only, lists it without the secret, and revokes it', async () => {
    const created = cli('create', '--user', 'user_cli_1', '--name', 'frontend');
    expect(created.status, created.stderr).toBe(0);
    const key = JSON.parse(created.stdout) as { id: string; key: string };
    expect(key.key).toMatch(/^bk_/);

    const own = await t.call('/api/billing/subscription', { token: key.key });
    expect(own.status).toBe(200);
    const other = await t.call('/api/billing/subscription?userId=user_cli_2', { token: key.key });
    expect(other.status).toBe(403);

    const listed = cli('list', '--user', 'user_cli_1');
    expect(listed.status).toBe(0);
    expect(listed.stdout).toContain(key.id);
    expect(listed.stdout).not.toContain(key.key);

    const revoked = cli('revoke', key.id);
    expect(revoked.status).toBe(0);
    expect(cli('revoke', key.id).status).toBe(2);
  });

  it('refuses create with both --user and --service, with neither, and an unknown flag (exit 2, nothing stored)', async () => {
    expect(cli('create', '--user', 'u', '--service').status).toBe(2);
    expect(cli('create').status).toBe(2);
    expect(cli('create', '--user', 'u', '--admin').status).toBe(2);
    const rows = await t.sql`select count(*)::int as n from api_keys where user_id = 'u'`;
    expect(rows[0]?.n).toBe(0);
  });
});
