import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BENCH_SRC } from './lib/paths.js';

/**
 * Keeps the last figures of each benchmark in bench/results/<name>.json (with the machine
 * they were taken on), so bench/README.md can quote them.
 */
export function saveResult(name: string, figures: Record<string, unknown>): void {
  const dir = path.join(path.dirname(BENCH_SRC), 'results');
  fs.mkdirSync(dir, { recursive: true });
  const record = {
    benchmark: name,
    at: new Date().toISOString(),
    machine: {
      cores: os.cpus().length,
      cpu: os.cpus()[0]?.model,
      memoryGb: Math.round(os.totalmem() / 2 ** 30),
      node: process.version,
    },
    ...figures,
  };
  fs.writeFileSync(path.join(dir, `${name}.json`), `${JSON.stringify(record, null, 2)}\n`);
}
