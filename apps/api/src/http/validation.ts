import { BadRequestError } from '@billing/runtime';
import type { z } from 'zod';

/** Where a bad field was found; part of the error so a caller knows what to fix. */
export type FieldSource = 'query' | 'body' | 'header';

/**
 * Parses `input` with `schema`; on failure throws a 400 whose `field` names the first bad
 * field (for an unknown field, the unknown name) and whose `issues` list them all.
 */
export function parseInput<S extends z.ZodType>(
  schema: S,
  input: unknown,
  source: FieldSource,
): z.infer<S> {
  const result = schema.safeParse(input ?? {});
  if (result.success) return result.data;
  const issues = result.error.issues.map((issue) => {
    const unknown = issue.code === 'unrecognized_keys' ? issue.keys : undefined;
    const field = unknown?.[0] ?? (issue.path.length > 0 ? issue.path.join('.') : source);
    const message = unknown
      ? `unknown field${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => `"${k}"`).join(', ')}`
      : issue.message;
    return { field, message, code: unknown ? 'unknown_field' : 'invalid_field' };
  });
  const first = issues[0]!;
  throw new BadRequestError(first.code, `${source} ${first.field}: ${first.message}`, {
    field: first.field,
    source,
    issues,
  });
}

/** A 400 naming one field, for checks zod does not express (a plan not in the plan list). */
export const fieldError = (
  field: string,
  message: string,
  source: FieldSource = 'body',
  code = 'invalid_field',
) => new BadRequestError(code, `${source} ${field}: ${message}`, { field, source });
