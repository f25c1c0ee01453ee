import { randomBytes } from 'node:crypto';
import { useTestServices } from '@billing/testing';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { defineScript, runScript } from '../src/scripts.js';

const services = await useTestServices('scripts');
const redis = new Redis(services.redisUrl);
afterAll(() => redis.quit());

// A script body no one has loaded yet: a comment with random bytes gives it a fresh SHA, so
// "first use" is exercised without flushing the script cache other test files share.
const fresh = (body: string) => defineScript(`-- ${randomBytes(8).toString('hex')}\n${body}`);

describe('runScript', () => {
  it('loads a script on first use (NOSCRIPT → EVAL), then runs it by SHA only', async () => {
    const script = fresh(`return redis.call('INCRBY', KEYS[1], ARGV[1])`);
    const key = `${services.redisPrefix}:counter`;
    const evalSpy = vi.spyOn(redis, 'eval');
    const evalshaSpy = vi.spyOn(redis, 'evalsha');

    expect(await redis.script('EXISTS', script.sha)).toEqual([0]);
    expect(await runScript(redis, script, [key], [2])).toBe(2);
    expect(evalSpy).toHaveBeenCalledTimes(1);
    expect(await redis.script('EXISTS', script.sha)).toEqual([1]);

    expect(await runScript(redis, script, [key], [3])).toBe(5);
    expect(evalSpy).toHaveBeenCalledTimes(1);
    expect(evalshaSpy).toHaveBeenCalledTimes(2);
    evalSpy.mockRestore();
    evalshaSpy.mockRestore();
  });

  it('rethrows a script error other than NOSCRIPT without falling back to EVAL', async () => {
    // Tried: a script that fails at run time (INCR of a non-integer value).
    const script = fresh(`return redis.call('INCR', KEYS[1])`);
    const key = `${services.redisPrefix}:text`;
    await redis.set(key, 'not a number');
    await expect(runScript(redis, script, [key], [])).rejects.toThrow(/not an integer/);
    const evalSpy = vi.spyOn(redis, 'eval');
    await expect(runScript(redis, script, [key], [])).rejects.toThrow(/not an integer/);
    expect(evalSpy).not.toHaveBeenCalled();
    expect(await redis.get(key)).toBe('not a number');
    evalSpy.mockRestore();
  });
});
