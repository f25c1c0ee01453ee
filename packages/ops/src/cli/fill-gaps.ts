import { cliMain } from './main.js';

// Usage: see `--help`. Exit 0 done, 1 failed or incomplete, 2 bad arguments or configuration.
await cliMain('fill-gaps');
