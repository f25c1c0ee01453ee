import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { processEnv } from '@billing/config';
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
