import { defineScript as define } from '@billing/redis';
import { GEN_FIELD, USAGE_FIELD_PREFIX, USAGE_GEN_FIELD } from './keys.js';

/**
 * Write-back of a loaded value. Lands only if the generation fields still hold what the
 * reader saw before it queried Postgres, so an invalidation that happened while it was
 * loading wins (the reader's value may predate the commit). The hash lives at least `ttl`.
 *
 * KEYS[1] hash; ARGV: field, envelope, ttlMs, expected ~gen ('' = absent),
 * expected ~ugen ('' = absent, '*' = not checked).
 */
export const WRITE_BACK = define(`
local gen = redis.call('HGET', KEYS[1], '${GEN_FIELD}') or ''
if gen ~= ARGV[4] then return 0 end
if ARGV[5] ~= '*' then
  local ugen = redis.call('HGET', KEYS[1], '${USAGE_GEN_FIELD}') or ''
  if ugen ~= ARGV[5] then return 0 end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
local ttl = tonumber(ARGV[3])
if redis.call('PTTL', KEYS[1]) < ttl then redis.call('PEXPIRE', KEYS[1], ttl) end
return 1
`);

/** Drops every cached field of a user and sets a fresh ~gen. KEYS[1] hash; ARGV: token, ttlMs. */
export const INVALIDATE_ALL = define(`
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], '${GEN_FIELD}', ARGV[1])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]))
return 1
`);

/** Drops a user's usage fields and sets a fresh ~ugen. KEYS[1] hash; ARGV: token, ttlMs. */
export const INVALIDATE_USAGE = define(`
local names = redis.call('HKEYS', KEYS[1])
local prefix = '${USAGE_FIELD_PREFIX}'
for _, name in ipairs(names) do
  if string.sub(name, 1, #prefix) == prefix then redis.call('HDEL', KEYS[1], name) end
end
redis.call('HSET', KEYS[1], '${USAGE_GEN_FIELD}', ARGV[1])
local ttl = tonumber(ARGV[2])
if redis.call('PTTL', KEYS[1]) < ttl then redis.call('PEXPIRE', KEYS[1], ttl) end
return 1
`);
