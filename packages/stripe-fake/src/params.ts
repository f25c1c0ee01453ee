import qs from 'qs';
import { invalidRequest, parameterInvalid, parameterMissing } from './errors.js';
import type { MetadataPatch } from './state.js';

/**
 * Decoding and checking of Stripe's form parameters (`a[b][0]=x`, all values strings),
 * with Stripe's error messages for the mistakes a caller can make.
 */

export type Params = Record<string, unknown>;

/** Stripe sends `items[0][price]=…`; allow large arrays (qs turns index > 20 into keys by default). */
export const decodeForm = (raw: string): Params =>
  qs.parse(raw, {
    depth: 10,
    arrayLimit: 1000,
    parameterLimit: 10_000,
    allowDots: false,
  }) as Params;

const isObject = (value: unknown): value is Params =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

export function str(params: Params, name: string): string | undefined {
  const value = params[name];
  if (value === undefined) return undefined;
  if (typeof value !== 'string')
    throw parameterInvalid(name, `Invalid string: ${JSON.stringify(value)}`);
  return value;
}

export function requiredStr(params: Params, name: string): string {
  const value = str(params, name);
  if (value === undefined || value === '') throw parameterMissing(name);
  return value;
}

/** A string, or null when sent empty (Stripe's way to unset a field). */
export function nullableStr(params: Params, name: string): string | null | undefined {
  const value = str(params, name);
  return value === '' ? null : value;
}

export function int(
  params: Params,
  name: string,
  bounds: { min?: number; max?: number } = {},
): number | undefined {
  const value = str(params, name);
  if (value === undefined) return undefined;
  if (!/^-?\d+$/.test(value))
    throw parameterInvalid(name, `Invalid integer: ${value}`, 'parameter_invalid_integer');
  const number = Number(value);
  if (bounds.min !== undefined && number < bounds.min) {
    throw parameterInvalid(
      name,
      `This value must be greater than or equal to ${bounds.min}.`,
      'parameter_invalid_integer',
    );
  }
  if (bounds.max !== undefined && number > bounds.max) {
    throw parameterInvalid(
      name,
      `This value must be less than or equal to ${bounds.max}.`,
      'parameter_invalid_integer',
    );
  }
  return number;
}

export function bool(params: Params, name: string): boolean | undefined {
  const value = str(params, name);
  if (value === undefined) return undefined;
  if (value !== 'true' && value !== 'false')
    throw parameterInvalid(name, `Invalid boolean: ${value}`);
  return value === 'true';
}

export function oneOf<T extends string>(
  params: Params,
  name: string,
  allowed: readonly T[],
): T | undefined {
  const value = str(params, name);
  if (value === undefined) return undefined;
  if (!allowed.includes(value as T)) {
    throw parameterInvalid(name, `Invalid ${name}: must be one of ${allowed.join(', ')}`);
  }
  return value as T;
}

/** `x[0]=a&x[1]=b` or `x[]=a`: qs gives an array, or an object when indices are sparse. */
export function list(params: Params, name: string): unknown[] | undefined {
  const value = params[name];
  if (value === undefined || value === '') return value === '' ? [] : undefined;
  if (Array.isArray(value)) return value;
  if (isObject(value) && Object.keys(value).every((key) => /^\d+$/.test(key))) {
    return Object.keys(value)
      .sort((a, b) => Number(a) - Number(b))
      .map((key) => value[key]);
  }
  if (typeof value === 'string') return [value];
  throw parameterInvalid(name, `Invalid array`);
}

export function stringList(params: Params, name: string): string[] | undefined {
  const values = list(params, name);
  if (!values) return undefined;
  return values.map((value, index) => {
    if (typeof value !== 'string') throw parameterInvalid(`${name}[${index}]`, 'Invalid string');
    return value;
  });
}

export function objectList(params: Params, name: string): Params[] | undefined {
  const values = list(params, name);
  if (!values) return undefined;
  return values.map((value, index) => {
    if (!isObject(value)) throw parameterInvalid(`${name}[${index}]`, `Invalid object`);
    return value;
  });
}

export function object(params: Params, name: string): Params | undefined {
  const value = params[name];
  if (value === undefined || value === '') return undefined;
  if (!isObject(value)) throw parameterInvalid(name, `Invalid object`);
  return value;
}

/** Metadata patch: `metadata[key]=value`; an empty value removes the key; `metadata=` clears all. */
export function metadata(params: Params, name = 'metadata'): MetadataPatch | undefined {
  const value = params[name];
  if (value === undefined) return undefined;
  if (value === '') return null;
  if (!isObject(value)) throw parameterInvalid(name, 'Invalid hash');
  const patch: MetadataPatch = {};
  for (const [key, entry] of Object.entries(value)) {
    if (typeof entry !== 'string') throw parameterInvalid(`${name}[${key}]`, 'Invalid string');
    if (key.length > 40)
      throw parameterInvalid(`${name}[${key}]`, 'Metadata keys can be at most 40 characters long.');
    if (entry.length > 500)
      throw parameterInvalid(
        `${name}[${key}]`,
        'Metadata values can be at most 500 characters long.',
      );
    patch[key] = entry === '' ? null : entry;
  }
  return patch;
}

/** Metadata for a new object (no removals). */
export function newMetadata(params: Params, name = 'metadata'): Record<string, string> | undefined {
  const patch = metadata(params, name);
  if (patch === undefined) return undefined;
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(patch ?? {})) if (value !== null) out[key] = value;
  return out;
}

export interface ListParams {
  limit: number;
  startingAfter?: string;
  endingBefore?: string;
}

export function listParams(params: Params): ListParams {
  const limit = int(params, 'limit', { min: 1, max: 100 }) ?? 10;
  const startingAfter = str(params, 'starting_after') || undefined;
  const endingBefore = str(params, 'ending_before') || undefined;
  if (startingAfter && endingBefore) {
    throw invalidRequest(
      'You may only specify one of these parameters: ending_before, starting_after.',
    );
  }
  return { limit, startingAfter, endingBefore };
}

/** `created=123` or `created[gte]=…&created[lt]=…`. */
export function rangeFilter(
  params: Params,
  name: string,
): ((value: number) => boolean) | undefined {
  const value = params[name];
  if (value === undefined) return undefined;
  if (typeof value === 'string') {
    const exact = int(params, name);
    return (candidate) => candidate === exact;
  }
  if (!isObject(value)) throw parameterInvalid(name, 'Invalid range');
  const bounds: Record<string, number> = {};
  for (const op of Object.keys(value)) {
    if (!['gt', 'gte', 'lt', 'lte'].includes(op))
      throw parameterInvalid(
        `${name}[${op}]`,
        `Received unknown parameter: ${name}[${op}]`,
        'parameter_unknown',
      );
    bounds[op] = int(value, op) as number;
  }
  return (candidate) =>
    (bounds.gt === undefined || candidate > bounds.gt) &&
    (bounds.gte === undefined || candidate >= bounds.gte) &&
    (bounds.lt === undefined || candidate < bounds.lt) &&
    (bounds.lte === undefined || candidate <= bounds.lte);
}

export const expandPaths = (params: Params): string[] => stringList(params, 'expand') ?? [];
