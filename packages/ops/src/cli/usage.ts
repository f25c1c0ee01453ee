import { BACKFILL_RESOURCES } from '../backfill/resource-names.js';

// The ops CLIs' names and usage lines. Imports nothing heavy: `--help` must answer without
// loading the database, queue and Stripe code (that took most of the 17 s `--help` did).

export type Command =
  | 'dead-letters'
  | 'replay'
  | 'backfill'
  | 'fill-gaps'
  | 'db-report'
  | 'stripe-sync';

export const USAGE: Record<Command, string> = {
  'dead-letters': 'dead-letters [--type TYPE] [--from TIME] [--to TIME] [--limit N] [--json]',
  replay: 'replay (--event EVENT_ID | --all | [--type TYPE] [--from TIME] [--to TIME]) [--json]',
  backfill: `backfill [--resources ${BACKFILL_RESOURCES.join(',')}] [--account ACCT] [--restart] [--status] [--json]`,
  'fill-gaps': 'fill-gaps [--since TIME] [--dry-run] [--json]',
  'db-report': 'db-report [--limit N] [--json]',
  'stripe-sync':
    'stripe-sync [--resources LIST] [--fill-gaps]   (enqueues a run for the stripe-sync worker)',
};

/** `--help` / `-h` anywhere among the arguments. */
export const wantsHelp = (argv: readonly string[]): boolean =>
  argv.some((arg) => arg === '--help' || arg === '-h');
