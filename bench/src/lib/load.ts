import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { LoadResult, LoadSpec } from '../loadgen.js';
import { BENCH_SRC } from './paths.js';

export type { LoadResult, LoadSpec };

export interface RequestLine {
  id: string;
  body: string;
  signature?: string;
}

const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'billing-load-'));
process.once('exit', () => fs.rmSync(workDir, { recursive: true, force: true }));

/** Writes deliveries as the load generator reads them (NDJSON); returns the file. */
export function writeRequests(name: string, lines: readonly RequestLine[]): string {
  const file = path.join(workDir, `${name}.ndjson`);
  const out = fs.openSync(file, 'w');
  try {
    for (const line of lines) {
      fs.writeSync(
        out,
        `${JSON.stringify({ id: line.id, body: line.body, signature: line.signature })}\n`,
      );
    }
  } finally {
    fs.closeSync(out);
  }
  return file;
}

export function tempFile(name: string): string {
  return path.join(workDir, name);
}

/** Runs the load generator (autocannon) as a separate process and returns its figures. */
export async function runLoad(spec: LoadSpec): Promise<LoadResult> {
  const specFile = path.join(workDir, `spec-${process.pid}-${Date.now()}.json`);
  fs.writeFileSync(specFile, JSON.stringify(spec));
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', path.join(BENCH_SRC, 'loadgen.ts'), specFile],
    {
      cwd: path.dirname(BENCH_SRC),
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk) => {
    stdout += chunk;
  });
  child.stderr.on('data', (chunk) => {
    stderr += chunk;
  });
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  fs.rmSync(specFile, { force: true });
  if (code !== 0) throw new Error(`load generator failed (${code}): ${stderr.slice(-2000)}`);
  const last = stdout.trim().split('\n').pop() ?? '';
  return JSON.parse(last) as LoadResult;
}

/** Ids the last run with `acksFile` saw answered 2xx, and the ones answered otherwise. */
export function readAcks(acksFile: string): { acked: string[]; rejected: string[] } {
  const read = (file: string) =>
    fs.existsSync(file) ? fs.readFileSync(file, 'utf8').split('\n').filter(Boolean) : [];
  return { acked: read(acksFile), rejected: read(`${acksFile}.rejected`) };
}
