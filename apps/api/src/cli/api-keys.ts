import { parseArgs } from 'node:util';

// API keys for the billing API, managed by an operator:
//   api-keys create --user <userId> [--name <label>] [--expires <ISO time>]
//                                                      a key that may act only for that user
//   api-keys create --service [--name <label>]         a key that may act for any user
//   api-keys revoke <keyId>
//   api-keys list [--user <userId>]
// The plaintext key is printed once by `create` and never stored (only its SHA-256).
const usage =
  'usage: api-keys create (--user <id> | --service) [--name <label>] [--expires <ISO time>] | revoke <keyId> | list [--user <id>]';

function fail(message: string): never {
  console.error(message);
  process.exit(2);
}

let parsed: ReturnType<typeof parseArgs<{ options: typeof options; allowPositionals: true }>>;
const options = {
  user: { type: 'string' },
  service: { type: 'boolean' },
  name: { type: 'string' },
  expires: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;
try {
  parsed = parseArgs({ options, allowPositionals: true, strict: true });
} catch (error) {
  fail(`${(error as Error).message}\n${usage}`);
}
const [command, ...rest] = parsed.positionals;
const { user, service, name, expires, help } = parsed.values;
if (help) {
  console.log(usage);
  process.exit(0);
}

// Loaded after the arguments, so --help answers without the database code.
const [
  { dbEnv, isValidUserId, loadOrExit, redisEnv },
  { apiKeys, createDb },
  { closeRedis, createRedis },
  { eq },
  { createApiKey, revokeApiKey },
] = await Promise.all([
  import('@billing/config'),
  import('@billing/db'),
  import('@billing/redis'),
  import('drizzle-orm'),
  import('../auth/api-keys.js'),
]);

const { DATABASE_URL } = loadOrExit(() => dbEnv());
const handle = createDb({ url: DATABASE_URL, max: 1, applicationName: 'api-keys-cli' });
try {
  if (command === 'create') {
    if (Boolean(user) === Boolean(service))
      fail(`give exactly one of --user <id> or --service\n${usage}`);
    if (user !== undefined && !isValidUserId(user)) fail('--user: not a valid user id');
    const expiresAt = expires === undefined ? undefined : new Date(expires);
    if (expiresAt && (Number.isNaN(expiresAt.getTime()) || expiresAt.getTime() <= Date.now()))
      fail('--expires: must be a future ISO time, e.g. 2027-01-01T00:00:00Z');
    const key = await createApiKey(handle.db, {
      scope: service ? 'service' : 'user',
      userId: user,
      name,
      expiresAt,
    });
    console.log(
      JSON.stringify({
        id: key.id,
        key: key.key,
        scope: service ? 'service' : 'user',
        userId: user ?? null,
      }),
    );
    console.error('store the key now: it is not shown again');
  } else if (command === 'revoke') {
    const [keyId] = rest;
    if (!keyId) fail(`revoke needs a key id\n${usage}`);
    // Announced over Redis so every API instance drops the key at once.
    const { REDIS_URL, REDIS_PREFIX } = loadOrExit(() => redisEnv());
    const redis = createRedis(REDIS_URL, { role: 'producer', connectionName: 'api-keys-cli' });
    redis.on('error', () => undefined);
    const result = await revokeApiKey(handle.db, keyId!, { redis, prefix: REDIS_PREFIX });
    await closeRedis(redis);
    if (!result.revoked) fail(`no active key ${keyId}`);
    if (!result.announced) {
      console.error(
        `revoked in Postgres, but not announced (${result.error?.message ?? 'redis unavailable'}): instances may accept it until their key cache expires`,
      );
    }
    console.log(JSON.stringify({ id: keyId, revoked: true, announced: result.announced }));
  } else if (command === 'list') {
    const rows = await handle.db
      .select({
        id: apiKeys.id,
        keyPrefix: apiKeys.keyPrefix,
        scope: apiKeys.scope,
        userId: apiKeys.userId,
        name: apiKeys.name,
        createdAt: apiKeys.createdAt,
        lastUsedAt: apiKeys.lastUsedAt,
        revokedAt: apiKeys.revokedAt,
        expiresAt: apiKeys.expiresAt,
      })
      .from(apiKeys)
      .where(user ? eq(apiKeys.userId, user) : undefined);
    for (const row of rows) console.log(JSON.stringify(row));
  } else {
    fail(usage);
  }
} finally {
  await handle.close();
}
