import { createHash } from 'node:crypto';
import type { RedisClient } from './client.js';

/** A Lua script and its SHA1, computed once when the module loads. */
export interface LuaScript {
  lua: string;
  sha: string;
}

export const defineScript = (lua: string): LuaScript => ({
  lua,
  sha: createHash('sha1').update(lua).digest('hex'),
});

/**
 * Runs a script by SHA (EVALSHA: 40 bytes on the wire instead of the whole body, and no
 * re-hashing in Redis), loading it with EVAL on NOSCRIPT: first use, or after a Redis restart
 * or failover emptied the script cache. EVAL also caches it, so the next call is an EVALSHA hit.
 */
export async function runScript(
  redis: RedisClient,
  script: LuaScript,
  keys: readonly string[],
  args: readonly (string | number)[],
): Promise<unknown> {
  try {
    return await redis.evalsha(script.sha, keys.length, ...keys, ...args);
  } catch (error) {
    if (!String((error as Error).message).includes('NOSCRIPT')) throw error;
    return redis.eval(script.lua, keys.length, ...keys, ...args);
  }
}
