import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { APPS, type AppName } from './paths.js';
import { sleep, waitFor } from './ports.js';

/** CPU time (user + system) a process has used so far, in seconds; 0 once it is gone. */
export function cpuSeconds(pid: number | undefined): number {
  if (pid === undefined) return 0;
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may contain spaces) start after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[11]) + Number(fields[12]);
    return ticks / 100;
  } catch {
    return 0;
  }
}

export interface NodeProcess {
  name: string;
  child: ChildProcess;
  pid: number;
  /** Where stdout and stderr go (pino lines: the app logs as it would in production). */
  logFile: string;
  alive(): boolean;
  /** Resolves with the exit code (or signal name) once the process has gone. */
  exited: Promise<number | string>;
  /** Resident set size now, in bytes (0 once it has exited). */
  rssBytes(): number;
  /** Peak resident set size since start (VmHWM), in bytes; the last value seen after exit. */
  peakRssBytes(): number;
  /** Resets VmHWM to the current RSS (per-phase peaks); no-op where the kernel refuses it. */
  resetPeak(): void;
  /** CPU seconds used so far (user + system). */
  cpuSeconds(): number;
  /** SIGTERM, then SIGKILL after `timeoutMs`. */
  stop(timeoutMs?: number): Promise<number | string>;
  /** SIGKILL: a crash, nothing is flushed or closed. */
  kill(): Promise<number | string>;
  /** The last lines of its log, for error messages. */
  tail(lines?: number): string;
}

function readStatus(pid: number): Record<string, number> {
  try {
    const text = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const out: Record<string, number> = {};
    for (const match of text.matchAll(/^(VmRSS|VmHWM):\s+(\d+) kB$/gm)) {
      out[match[1]!] = Number(match[2]) * 1024;
    }
    return out;
  } catch {
    return {};
  }
}

/**
 * Every child this process started and has not seen exit: killed when this process exits, so
 * a benchmark or drill that fails half-way leaves no app or server running behind it.
 */
const children = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of children) child.kill('SIGKILL');
});
export function trackChild(child: ChildProcess): void {
  children.add(child);
  child.once('exit', () => children.delete(child));
}

export interface SpawnOptions {
  cwd: string;
  env: Record<string, string>;
  logFile: string;
  /**
   * `file` (default): stdout/stderr appended to logFile. `pipe`: read by this process, which
   * keeps only the last lines, as a container runtime collects stdout; cheaper for the app than
   * a file on a disk other processes are fsyncing.
   */
  log?: 'file' | 'pipe';
  /** Extra node flags, e.g. `--cpu-prof`. */
  nodeArgs?: string[];
  args?: string[];
}

/**
 * Starts `node --import tsx <script>` directly (not the tsx CLI, which runs the app as a
 * grandchild: a SIGKILL would then hit the wrapper and leave the app running).
 */
export function spawnNode(name: string, script: string, options: SpawnOptions): NodeProcess {
  fs.mkdirSync(path.dirname(options.logFile), { recursive: true });
  const piped = options.log === 'pipe';
  const out = piped ? 'pipe' : fs.openSync(options.logFile, 'a');
  const child = spawn(
    process.execPath,
    [...(options.nodeArgs ?? []), '--import', 'tsx', script, ...(options.args ?? [])],
    { cwd: options.cwd, env: options.env, stdio: ['ignore', out, out] },
  );
  if (typeof out === 'number') fs.closeSync(out);
  trackChild(child);
  let recent: string[] = [];
  if (piped) {
    const keep = (chunk: Buffer) => {
      recent.push(...chunk.toString('utf8').split('\n').filter(Boolean));
      if (recent.length > 400) recent = recent.slice(-200);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
  }
  const pid = child.pid;
  if (pid === undefined) throw new Error(`${name} did not start`);
  let lastPeak = 0;
  const sample = () => {
    const status = readStatus(pid);
    if (status.VmHWM) lastPeak = Math.max(lastPeak, status.VmHWM);
    return status;
  };
  // Keep the peak up to date while it runs, so a crash does not lose it.
  const sampler = setInterval(sample, 500);
  sampler.unref();
  const exited = new Promise<number | string>((resolve) => {
    child.once('exit', (code, signal) => {
      clearInterval(sampler);
      resolve(signal ?? code ?? -1);
    });
  });
  const alive = () => child.exitCode === null && child.signalCode === null;
  const wait = async (timeoutMs: number) =>
    Promise.race([exited, sleep(timeoutMs).then(() => undefined)]);
  return {
    name,
    child,
    pid,
    logFile: options.logFile,
    alive,
    exited,
    rssBytes: () => (alive() ? (sample().VmRSS ?? 0) : 0),
    peakRssBytes: () => {
      if (alive()) sample();
      return lastPeak;
    },
    resetPeak: () => {
      if (!alive()) return;
      try {
        // "5" resets the peak RSS (Linux ≥ 4.0); then the next sample starts afresh.
        fs.writeFileSync(`/proc/${pid}/clear_refs`, '5');
        lastPeak = 0;
        sample();
      } catch {
        // Not permitted here: peaks then cover the whole life of the process.
      }
    },
    cpuSeconds: () => cpuSeconds(pid),
    stop: async (timeoutMs = 20_000) => {
      if (!alive()) return exited;
      child.kill('SIGTERM');
      const result = await wait(timeoutMs);
      if (result === undefined) {
        child.kill('SIGKILL');
        return exited;
      }
      return result;
    },
    kill: async () => {
      if (!alive()) return exited;
      child.kill('SIGKILL');
      return exited;
    },
    tail: (lines = 20) => {
      if (piped) return recent.slice(-lines).join('\n');
      try {
        return fs
          .readFileSync(options.logFile, 'utf8')
          .trimEnd()
          .split('\n')
          .slice(-lines)
          .join('\n');
      } catch {
        return '';
      }
    },
  };
}

/** Starts an app of this repository (`apps/<name>/src/main.ts`). */
export function spawnApp(
  app: AppName,
  options: Omit<SpawnOptions, 'cwd'> & { name?: string },
): NodeProcess {
  return spawnNode(options.name ?? app, 'src/main.ts', { ...options, cwd: APPS[app] });
}

/** Waits until GET `url` answers 200, failing early (with its log) if the process exits. */
export async function waitHttpOk(
  proc: NodeProcess,
  url: string,
  timeoutMs = 60_000,
): Promise<void> {
  await waitFor(
    `${proc.name} ${url} → 200`,
    async () => {
      if (!proc.alive()) {
        throw new Error(`${proc.name} exited (${await proc.exited}):\n${proc.tail()}`);
      }
      try {
        const response = await fetch(url, { signal: AbortSignal.timeout(2_000) });
        await response.arrayBuffer();
        return response.status === 200;
      } catch {
        return false;
      }
    },
    timeoutMs,
    100,
  ).catch((error: Error) => {
    throw new Error(`${error.message}\n--- ${proc.name} log ---\n${proc.tail()}`);
  });
}

export const mb = (bytes: number) => Math.round((bytes / 1024 / 1024) * 10) / 10;
