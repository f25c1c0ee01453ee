/**
 * Compares what Stripe has (a normalised object) with the stored row: the fields that
 * differ, by the row's column names. Only fields the normaliser produced are compared;
 * `undefined` means "the source cannot know" and is skipped, and so are the fields listed
 * in `ignore` (values the writer keeps or derives, like the user link).
 */
export function driftedFields(
  fromStripe: Record<string, unknown>,
  stored: Record<string, unknown>,
  ignore: ReadonlySet<string> = new Set(),
): string[] {
  const fields: string[] = [];
  for (const [field, value] of Object.entries(fromStripe)) {
    if (value === undefined || ignore.has(field) || !(field in stored)) continue;
    if (!sameValue(value, stored[field])) fields.push(field);
  }
  return fields.sort();
}

function canonical(value: unknown): unknown {
  if (value instanceof Date) return value.getTime();
  if (Array.isArray(value)) return value.map(canonical);
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.keys(value as Record<string, unknown>)
        .sort()
        .map((key) => [key, canonical((value as Record<string, unknown>)[key])]),
    );
  }
  return value ?? null;
}

export function sameValue(a: unknown, b: unknown): boolean {
  return JSON.stringify(canonical(a)) === JSON.stringify(canonical(b));
}
