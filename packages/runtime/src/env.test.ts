import { describe, expect, it } from 'vitest';
import { shutdownEnv } from './env.js';
import { DEFAULT_SHUTDOWN_TIMEOUT_MS } from './lifecycle.js';

describe('shutdownEnv', () => {
  it('defaults the shutdown deadline to below the Kubernetes grace period', () => {
    expect(shutdownEnv({}).SHUTDOWN_TIMEOUT_MS).toBe(DEFAULT_SHUTDOWN_TIMEOUT_MS);
    expect(DEFAULT_SHUTDOWN_TIMEOUT_MS).toBeLessThan(30_000);
  });

  it('reads SHUTDOWN_TIMEOUT_MS', () => {
    expect(shutdownEnv({ SHUTDOWN_TIMEOUT_MS: '5000' }).SHUTDOWN_TIMEOUT_MS).toBe(5000);
  });

  it.each(['0', '-1', 'soon', '2.5'])('rejects SHUTDOWN_TIMEOUT_MS=%s naming it', (value) => {
    expect(() => shutdownEnv({ SHUTDOWN_TIMEOUT_MS: value })).toThrow(/SHUTDOWN_TIMEOUT_MS/);
  });
});
