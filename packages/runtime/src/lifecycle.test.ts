import { rootLogger } from '@billing/logger';
import { describe, expect, it } from 'vitest';
import { createLifecycle, type ShutdownStep } from './lifecycle.js';

const logger = rootLogger();
const never = () => new Promise<never>(() => undefined);

/** Steps that record what ran: `run:<name>` and `force:<name>`. */
function recorded(specs: Array<{ name: string; run?: () => Promise<unknown> }>) {
  const calls: string[] = [];
  const steps: ShutdownStep[] = specs.map((spec) => ({
    name: spec.name,
    run: async () => {
      calls.push(`run:${spec.name}`);
      return spec.run?.();
    },
    force: () => calls.push(`force:${spec.name}`),
  }));
  return { calls, steps };
}

const quiet = { exit: false, signals: false } as const;

describe('createLifecycle', () => {
  it('runs every step in order and reports success when all finish', async () => {
    const { calls, steps } = recorded([{ name: 'worker' }, { name: 'redis' }, { name: 'db' }]);
    const lifecycle = createLifecycle(logger, steps, { ...quiet, timeoutMs: 60_000 });
    expect(lifecycle.isShuttingDown()).toBe(false);
    const result = await lifecycle.shutdown('test');
    expect(lifecycle.isShuttingDown()).toBe(true);
    expect(result).toEqual({ code: 0, timedOut: false, failed: [] });
    expect(calls).toEqual(['run:worker', 'run:redis', 'run:db']);
  });

  it('keeps going after a step that throws, and exits 1', async () => {
    const { calls, steps } = recorded([
      { name: 'worker', run: async () => Promise.reject(new Error('boom')) },
      { name: 'redis' },
    ]);
    const result = await createLifecycle(logger, steps, { ...quiet }).shutdown('test');
    expect(result).toEqual({ code: 1, timedOut: false, failed: ['worker'] });
    expect(calls).toEqual(['run:worker', 'run:redis']);
  });

  it('stops waiting at the deadline: the hung step and every later one are forced, exit 1', async () => {
    const { calls, steps } = recorded([
      { name: 'http' },
      { name: 'worker', run: never },
      { name: 'redis' },
      { name: 'db' },
    ]);
    const result = await createLifecycle(logger, steps, { ...quiet, timeoutMs: 50 }).shutdown(
      'SIGTERM',
    );
    expect(result).toEqual({ code: 1, timedOut: true, failed: ['worker', 'redis', 'db'] });
    // The later steps are never run gracefully (their run might wait on the hung one).
    expect(calls).toEqual(['run:http', 'run:worker', 'force:worker', 'force:redis', 'force:db']);
  });

  it('with a per-step cap, forces only the step over it and carries on', async () => {
    const { calls, steps } = recorded([{ name: 'worker', run: never }, { name: 'redis' }]);
    const result = await createLifecycle(logger, steps, {
      ...quiet,
      timeoutMs: 60_000,
      stepTimeoutMs: 50,
    }).shutdown('test');
    expect(result).toEqual({ code: 1, timedOut: false, failed: ['worker'] });
    expect(calls).toEqual(['run:worker', 'force:worker', 'run:redis']);
  });

  it('shuts down once however often it is asked', async () => {
    const { calls, steps } = recorded([{ name: 'worker' }]);
    const lifecycle = createLifecycle(logger, steps, quiet);
    const [first, second] = await Promise.all([lifecycle.shutdown('a'), lifecycle.shutdown('b')]);
    expect(second).toBe(first);
    expect(calls).toEqual(['run:worker']);
  });

  it('a force that throws does not stop the others', async () => {
    const calls: string[] = [];
    const steps: ShutdownStep[] = [
      {
        name: 'worker',
        run: never,
        force: () => {
          throw new Error('already closed');
        },
      },
      { name: 'redis', run: async () => undefined, force: () => calls.push('force:redis') },
    ];
    const result = await createLifecycle(logger, steps, { ...quiet, timeoutMs: 50 }).shutdown(
      'test',
    );
    expect(result.code).toBe(1);
    expect(calls).toEqual(['force:redis']);
  });
});
