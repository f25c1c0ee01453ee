import { sql } from 'drizzle-orm';
import {
  bigint,
  bigserial,
  index,
  integer,
  jsonb,
  pgEnum,
  pgTable,
  primaryKey,
  text,
  uniqueIndex,
} from 'drizzle-orm/pg-core';
import { timestamptz } from './columns.js';

export const apiKeyScope = pgEnum('api_key_scope', ['user', 'service']);

/** API keys, stored as SHA-256 hashes; a user-scoped key may act only for its own user. */
export const apiKeys = pgTable(
  'api_keys',
  {
    id: text('id').primaryKey(),
    keyHash: text('key_hash').notNull(),
    /** The first characters of the key, for people to recognise it. */
    keyPrefix: text('key_prefix').notNull(),
    scope: apiKeyScope('scope').notNull(),
    userId: text('user_id'),
    name: text('name'),
    createdAt: timestamptz('created_at').notNull().defaultNow(),
    lastUsedAt: timestamptz('last_used_at'),
    revokedAt: timestamptz('revoked_at'),
    /** Optional: after this the key is refused as if revoked. */
    expiresAt: timestamptz('expires_at'),
  },
  (t) => [
    // authenticate a bearer key by its hash
    uniqueIndex('api_keys_key_hash_key').on(t.keyHash),
    // keys of a user (management)
    index('api_keys_user_id_idx').on(t.userId).where(sql`${t.userId} is not null`),
  ],
);

/** Per-endpoint, per-minute request statistics, flushed in the background. */
export const apiMetrics = pgTable(
  'api_metrics',
  {
    bucketStart: timestamptz('bucket_start').notNull(),
    method: text('method').notNull(),
    endpoint: text('endpoint').notNull(),
    requests: integer('requests').notNull(),
    /** Answers with status 5xx. */
    errors: integer('errors').notNull(),
    /** Answers with status 4xx (bad input, auth, rate limit). */
    clientErrors: integer('client_errors').notNull().default(0),
    slow: integer('slow').notNull().default(0),
    totalMs: bigint('total_ms', { mode: 'number' }).notNull(),
    minMs: integer('min_ms').notNull(),
    maxMs: integer('max_ms').notNull(),
    /** Counts per latency bucket (fixed bounds, see the API's recorder) for percentiles. */
    histogram: jsonb('histogram').$type<number[]>().notNull(),
  },
  (t) => [
    primaryKey({ name: 'api_metrics_pkey', columns: [t.bucketStart, t.method, t.endpoint] }),
    // GET /api/ops/performance?window=…: buckets in a time range, per endpoint
    index('api_metrics_endpoint_bucket_idx').on(t.endpoint, t.bucketStart),
  ],
);

/** Requests slower than their endpoint's target. */
export const performanceIssues = pgTable(
  'performance_issues',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    occurredAt: timestamptz('occurred_at').notNull().defaultNow(),
    method: text('method').notNull(),
    endpoint: text('endpoint').notNull(),
    durationMs: integer('duration_ms').notNull(),
    targetMs: integer('target_ms').notNull(),
    statusCode: integer('status_code').notNull(),
    requestId: text('request_id'),
    userId: text('user_id'),
  },
  (t) => [
    // slow-request counts and listings for a time window
    index('performance_issues_occurred_at_idx').on(t.occurredAt),
  ],
);
