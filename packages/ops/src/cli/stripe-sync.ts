import { processEnv } from '@billing/config';
import { runCli } from './run.js';

// Usage: see `--help`. Exit 0 done, 1 failed or incomplete, 2 bad arguments or configuration.
process.exitCode = await runCli('stripe-sync', process.argv.slice(2), processEnv(), {
  out: (text) => process.stdout.write(`${text}\n`),
  err: (text) => process.stderr.write(`${text}\n`),
});
