import { z } from 'zod';
import { PermanentSyncError } from '../errors.js';

/**
 * A JSON object, checked without copying its keys: `data.object` is the largest part of a
 * payload and the normalisers read it again field by field.
 */
const plainObject = z.custom<Record<string, unknown>>(
  (value) => typeof value === 'object' && value !== null && !Array.isArray(value),
  { message: 'Expected an object' },
);

/** A snapshot event (`object: "event"`): the object as it was when the event happened. */
const snapshotEventSchema = z.object({
  id: z.string().min(1),
  object: z.literal('event'),
  type: z.string().min(1),
  created: z.number().int().nonnegative(),
  api_version: z.string().nullish(),
  /** The connected account the event belongs to (Connect); absent for the platform. */
  account: z.string().nullish(),
  livemode: z.boolean().default(false),
  data: z.object({
    object: plainObject,
    previous_attributes: plainObject.nullish(),
  }),
});

/** A thin event (`object: "v2.core.event"`): ids only, the receiver fetches what it needs. */
const thinEventSchema = z.object({
  id: z.string().min(1),
  object: z.literal('v2.core.event'),
  type: z.string().min(1),
  /** RFC 3339 in v2. */
  created: z.iso.datetime({ offset: true }),
  livemode: z.boolean().default(false),
  /** v2 names the connected account `context`. */
  context: z.string().nullish(),
  related_object: z.object({ id: z.string().min(1), type: z.string().nullish() }).nullish(),
});

export interface StripeEventEnvelope {
  id: string;
  type: string;
  kind: 'snapshot' | 'thin';
  created: Date;
  apiVersion: string | null;
  account: string | null;
  livemode: boolean;
  /** `data.object` of a snapshot event; undefined for a thin event. */
  object: Record<string, unknown> | undefined;
  /** The id of the object the event is about, when it has one. */
  objectId: string | null;
  /** `data.previous_attributes` of a snapshot `*.updated` event: decides same-second ties. */
  previousAttributes: Record<string, unknown> | null;
  /** The whole parsed body, as stored in `webhook_events.payload` for replays. */
  json: unknown;
}

function parseJson(raw: string): unknown {
  try {
    return JSON.parse(raw);
  } catch (error) {
    throw new PermanentSyncError(
      'invalid_json',
      `event body is not valid JSON: ${(error as Error).message}`,
    );
  }
}

/**
 * Parses the raw body the ingress verified: a snapshot event, or a thin event when its
 * `object` is `v2.core.event`. A body that is not JSON or not an event is a permanent
 * failure: retrying cannot change it.
 */
export function parseStripeEvent(raw: string): StripeEventEnvelope {
  const json = parseJson(raw);
  const kind =
    (json as { object?: unknown } | null)?.object === 'v2.core.event' ? 'thin' : 'snapshot';
  if (kind === 'thin') {
    const e = thinEventSchema.parse(json);
    return {
      id: e.id,
      type: e.type,
      kind,
      created: new Date(e.created),
      apiVersion: null,
      account: e.context ?? null,
      livemode: e.livemode,
      object: undefined,
      objectId: e.related_object?.id ?? null,
      previousAttributes: null,
      json,
    };
  }
  const e = snapshotEventSchema.parse(json);
  const object = e.data.object;
  const id = typeof object.id === 'string' && object.id ? object.id : null;
  // The entitlement summary has no id; its customer identifies it.
  const objectId =
    id ??
    (typeof object.customer === 'string' && e.type.startsWith('entitlements.')
      ? object.customer
      : null);
  return {
    id: e.id,
    type: e.type,
    kind,
    created: new Date(e.created * 1000),
    apiVersion: e.api_version ?? null,
    account: e.account ?? null,
    livemode: e.livemode,
    object,
    objectId,
    previousAttributes: e.data.previous_attributes ?? null,
    json,
  };
}
