import { type ParseArgsConfig, parseArgs } from 'node:util';
import {
  BACKFILL_RESOURCES,
  type BackfillResource,
  isBackfillResource,
} from '../backfill/resources.js';

/** Bad arguments: the CLI prints the message and the command's usage and exits 2. */
export class UsageError extends Error {}

export type Args = Record<string, string | boolean | undefined>;

/** Parses `argv` strictly (plus `--json` and `--help`); a bad flag is a UsageError. */
export function parseCommandArgs(argv: string[], options: ParseArgsConfig['options']): Args {
  try {
    return parseArgs({
      args: argv,
      options: { ...options, json: { type: 'boolean' }, help: { type: 'boolean' } },
      strict: true,
      allowPositionals: false,
    }).values as Args;
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

export const str = (value: string | boolean | undefined) =>
  typeof value === 'string' ? value : undefined;

export const parseTime = (name: string, value: string | undefined): Date | undefined => {
  if (value === undefined) return undefined;
  const date = /^\d{1,12}$/.test(value) ? new Date(Number(value) * 1000) : new Date(value);
  if (Number.isNaN(date.getTime()))
    throw new UsageError(`--${name}: not a time (ISO 8601 or unix seconds): ${value}`);
  return date;
};

export const parseLimit = (value: string | undefined, max: number): number | undefined => {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > max)
    throw new UsageError(`--limit: a whole number from 1 to ${max}`);
  return n;
};

export const parseResources = (value: string | undefined): BackfillResource[] | undefined => {
  if (value === undefined) return undefined;
  const names = value
    .split(',')
    .map((name) => name.trim())
    .filter(Boolean);
  const bad = names.filter((name) => !isBackfillResource(name));
  if (bad.length > 0 || names.length === 0) {
    throw new UsageError(
      `--resources: unknown ${bad.join(', ') || '(none given)'}; use ${BACKFILL_RESOURCES.join(',')}`,
    );
  }
  return names as BackfillResource[];
};
