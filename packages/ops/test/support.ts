import { type ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { processEnv } from '@billing/config';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

/** Polls `check` until it returns a value other than undefined, or fails after `timeoutMs`. */
export async function eventually<T>(
  check: () => Promise<T | undefined>,
  timeoutMs = 60_000,
  what = 'condition',
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

export interface Spawned {
  child: ChildProcess;
  /** stdout and stderr as they interleaved. */
  output: () => string;
  stdout: () => string;
  stderr: () => string;
  stop: () => Promise<number | null>;
}

/**
 * Runs a TypeScript entry point with tsx's loader in one node process (as the Dockerfiles
 * do), with its own environment. One process, so its exit is the program's exit.
 */
export function spawnTsx(entry: string, env: Record<string, string>, args: string[] = []): Spawned {
  let output = '';
  let stdout = '';
  let stderr = '';
  const child = spawn(process.execPath, ['--import', 'tsx', entry, ...args], {
    cwd: REPO_ROOT,
    env: { PATH: processEnv().PATH ?? '', HOME: processEnv().HOME ?? '/root', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.on('data', (chunk) => {
    output += chunk;
    stdout += chunk;
  });
  child.stderr?.on('data', (chunk) => {
    output += chunk;
    stderr += chunk;
  });
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => resolve(code)),
  );
  return {
    child,
    output: () => output,
    stdout: () => stdout,
    stderr: () => stderr,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      return exited;
    },
  };
}

/** Runs a tsx entry point to completion; resolves with its exit code and output. */
export async function runTsx(
  entry: string,
  env: Record<string, string>,
  args: string[] = [],
): Promise<{ code: number | null; output: string; stdout: string; stderr: string }> {
  const spawned = spawnTsx(entry, env, args);
  const code = await new Promise<number | null>((resolve) => spawned.child.once('exit', resolve));
  return { code, output: spawned.output(), stdout: spawned.stdout(), stderr: spawned.stderr() };
}
