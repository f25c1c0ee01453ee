import type { Logger } from '@billing/logger';
import { type RedisClient, runScript } from '@billing/redis';
import { withTimeout } from '@billing/runtime/timeout';
import { LRUCache } from 'lru-cache';
import type { Registry } from 'prom-client';
import {
  type InvalidationMessage,
  type InvalidationScope,
  invalidateGlobals,
  invalidateUsers,
  parseInvalidation,
} from './invalidate.js';
import {
  GEN_FIELD,
  globalKey,
  invalidationChannel,
  USAGE_FIELD_PREFIX,
  USAGE_GEN_FIELD,
  userKey,
} from './keys.js';
import { type CacheMetrics, createCacheMetrics, noopCacheMetrics } from './metrics.js';
import { WRITE_BACK } from './scripts.js';

/** What is stored in both tiers: the value and when it stops being fresh (ms since epoch). */
interface Envelope {
  e: number;
  v: unknown;
}

export interface TieredCacheOptions {
  /** Commands connection (role `cache`: fails fast when Redis is down). */
  redis: RedisClient;
  /**
   * A dedicated connection for SUBSCRIBE. Default: `redis.duplicate()` with an offline queue
   * and endless retries, so it resubscribes by itself after Redis comes back.
   */
  subscriber?: RedisClient;
  prefix: string;
  logger: Logger;
  registry?: Registry;
  /** Most entries held in process (L1). 0 disables L1. Default 10 000. */
  l1Max?: number;
  /** Upper bound on an L1 entry's life whatever its TTL (defence in depth). Default 60 s. */
  l1MaxTtlMs?: number;
  now?: () => number;
}

/** Which cached thing: a user's field (`fields.*` in keys.ts) or a global entry. */
interface EntrySpec {
  /** `u:<userId>` or `g:<name>`: the unit an invalidation drops. */
  owner: string;
  l1Key: string;
  redisKey: string;
  field: string;
  ttlMs: number;
  /** Usage fields are also dropped by `usage` invalidations. */
  usage: boolean;
  /** Metric label: the field's family (`subscription`, `usage`, `proration`, `global`). */
  entry: string;
  /** TTL chosen from the loaded value (e.g. shorter for a partial answer). */
  ttlFor?: (value: never) => number;
}

export interface EntryOptions<T> {
  /** TTL chosen from the loaded value instead of `ttlMs` (e.g. shorter for a partial answer). */
  ttlFor?: (value: T) => number;
}

const SEP = '\u0000';
const GLOBAL_FIELD = 'value';

/**
 * Two-tier read-through cache: an in-process LRU (L1) in front of one Redis hash per user
 * (L2), in front of a loader (Postgres or Stripe).
 *
 * Guarantees:
 * - Concurrent misses for one key in this process share one loader call (single flight).
 * - `null` answers (a free user has no subscription) are cached like any other value.
 * - Invalidation beats TTL: the pub/sub subscriber drops L1 entries as soon as a message
 *   arrives, in-flight loads for the dropped keys are not joined by later readers, and a load
 *   that overlapped an invalidation is neither kept in L1 nor written back to Redis (the
 *   generation check in WRITE_BACK).
 * - L1 is used only while the subscriber is connected; on reconnect it is cleared, since
 *   messages may have been missed while it was away.
 * - Redis down: reads go straight to the loader (logged, counted), never fail.
 *
 * Values must be JSON (they are stored as JSON in Redis; L1 keeps the same parsed JSON, so
 * both tiers return identical shapes). Treat returned values as immutable: L1 shares them.
 */
export class TieredCache {
  private readonly redis: RedisClient;
  private readonly prefix: string;
  private readonly log: Logger;
  private readonly metrics: CacheMetrics;
  private readonly now: () => number;
  private readonly l1MaxTtlMs: number;
  private readonly l1: LRUCache<string, Envelope> | undefined;
  /** L1 keys by owner, so an invalidation drops a user's entries without scanning. */
  private readonly byOwner = new Map<string, Set<string>>();
  private readonly inflight = new Map<
    string,
    { owner: string; usage: boolean; p: Promise<unknown> }
  >();
  /** Sequence number of the last invalidation per `owner|scope`; kept a minute, long enough for any load. */
  private readonly invalidatedAt = new LRUCache<string, number>({ max: 100_000, ttl: 60_000 });
  private seq = 0;
  /** Sequence number of the last full L1 clear (reconnect). */
  private clearedAt = 0;
  private subscriber: RedisClient | undefined;
  private readonly ownsSubscriber: boolean;
  private subscribed = false;
  private closed = false;
  private lastDegradedLog = 0;
  private readonly subscribedWaiters: (() => void)[] = [];
  private detach: (() => void) | undefined;

  constructor(options: TieredCacheOptions) {
    this.redis = options.redis;
    this.prefix = options.prefix;
    this.log = options.logger.child({ module: 'cache' });
    this.now = options.now ?? Date.now;
    this.l1MaxTtlMs = options.l1MaxTtlMs ?? 60_000;
    const max = options.l1Max ?? 10_000;
    if (max > 0) {
      this.l1 = new LRUCache<string, Envelope>({
        max,
        ttl: this.l1MaxTtlMs,
        dispose: (_value, key, reason) => {
          if (reason !== 'set') this.unindex(key);
        },
      });
    }
    this.metrics = options.registry
      ? createCacheMetrics(options.registry, () => this.l1?.size ?? 0)
      : noopCacheMetrics;
    this.subscriber = options.subscriber;
    this.ownsSubscriber = !options.subscriber;
  }

  /**
   * Subscribes to the invalidation channel. Resolves once subscribed, or after `timeoutMs`
   * (Redis down at start-up: L1 stays off until the subscriber connects).
   */
  async start(timeoutMs = 3_000): Promise<void> {
    const channel = invalidationChannel(this.prefix);
    let sub = this.subscriber;
    if (!sub) {
      sub =
        'isCluster' in this.redis && this.redis.isCluster
          ? this.redis.duplicate()
          : this.redis.duplicate({
              enableOfflineQueue: true,
              maxRetriesPerRequest: null,
              autoResubscribe: false,
              // A subscriber only (un)subscribes; nothing to pipeline.
              enableAutoPipelining: false,
              connectionName: 'cache-invalidation',
            } as never);
      this.subscriber = sub;
    }
    const onMessage = (from: string, raw: string) => {
      if (from !== channel) return;
      const message = parseInvalidation(raw);
      if (!message) {
        this.log.warn({ channel }, 'ignored malformed invalidation message');
        return;
      }
      this.metrics.invalidationReceived(message.scope);
      this.dropLocal(message);
    };
    const onError = (error: Error) => this.degradedLog('subscribe', error);
    const onClose = () => {
      if (this.subscribed) this.log.warn('invalidation subscriber disconnected; L1 off');
      this.subscribed = false;
    };
    const subscribe = async () => {
      try {
        await sub.subscribe(channel);
        if (this.closed) return;
        // Messages may have been missed while disconnected: start from an empty L1.
        this.clearLocal();
        this.subscribed = true;
        for (const notify of this.subscribedWaiters.splice(0)) notify();
        this.log.debug({ channel }, 'invalidation subscriber ready; L1 on');
      } catch (error) {
        this.degradedLog('subscribe', error as Error);
      }
    };
    const onReady = () => void subscribe();
    sub.on('message', onMessage);
    sub.on('error', onError);
    sub.on('close', onClose);
    sub.on('ready', onReady);
    this.detach = () => {
      sub.off('message', onMessage);
      sub.off('error', onError);
      sub.off('close', onClose);
      sub.off('ready', onReady);
    };
    if (sub.status === 'ready') void subscribe();
    await new Promise<void>((resolve) => {
      if (this.subscribed) {
        resolve();
        return;
      }
      const timer = setTimeout(resolve, timeoutMs);
      this.subscribedWaiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    this.subscribed = false;
    this.clearLocal();
    this.detach?.();
    const sub = this.subscriber;
    if (!sub) return;
    // QUIT waits for a connection that may never come back (Redis down): bound it.
    try {
      if (this.ownsSubscriber) await withTimeout(sub.quit(), 1_000);
      else await withTimeout(sub.unsubscribe(invalidationChannel(this.prefix)), 1_000);
    } catch {
      if (this.ownsSubscriber) sub.disconnect();
    }
  }

  /** Whether L1 is in use (the subscriber is connected). */
  get l1Active(): boolean {
    return this.l1 !== undefined && this.subscribed && !this.closed;
  }

  /** A user's field (`fields.*`), loaded by `load` on a miss and kept for `ttlMs`. */
  user<T>(
    userId: string,
    field: string,
    ttlMs: number,
    load: () => Promise<T>,
    options: EntryOptions<T> = {},
  ): Promise<T> {
    const owner = `u:${userId}`;
    const usage = field.startsWith(USAGE_FIELD_PREFIX);
    return this.get<T>(
      {
        owner,
        l1Key: `${owner}${SEP}${field}`,
        redisKey: userKey(this.prefix, userId),
        field,
        ttlMs,
        usage,
        entry: field.split(':')[0] ?? field,
        ttlFor: options.ttlFor as EntrySpec['ttlFor'],
      },
      load,
    );
  }

  /** A global entry (`globals.*`), e.g. the resolved plan list. */
  global<T>(
    name: string,
    ttlMs: number,
    load: () => Promise<T>,
    options: EntryOptions<T> = {},
  ): Promise<T> {
    const owner = `g:${name}`;
    return this.get<T>(
      {
        owner,
        l1Key: `${owner}${SEP}${GLOBAL_FIELD}`,
        redisKey: globalKey(this.prefix, name),
        field: GLOBAL_FIELD,
        ttlMs,
        usage: false,
        entry: 'global',
        ttlFor: options.ttlFor as EntrySpec['ttlFor'],
      },
      load,
    );
  }

  /**
   * Invalidates users everywhere: drops this process's L1 copies at once (the published
   * message reaches the others), then Redis. Redis errors are logged and counted, not thrown.
   */
  async invalidateUsers(
    userIds: Iterable<string>,
    scope: InvalidationScope = 'all',
  ): Promise<boolean> {
    const ids = [...new Set(userIds)].filter(Boolean);
    this.dropLocal({ userIds: ids, scope });
    try {
      await invalidateUsers(this.redis, this.prefix, ids, scope);
      return true;
    } catch (error) {
      this.degradedLog('invalidate', error as Error);
      return false;
    }
  }

  async invalidateGlobals(names: string[]): Promise<boolean> {
    this.dropLocal({ userIds: [], scope: 'all', globals: names });
    try {
      await invalidateGlobals(this.redis, this.prefix, names);
      return true;
    } catch (error) {
      this.degradedLog('invalidate', error as Error);
      return false;
    }
  }

  /** Drops L1 entries (and stops sharing in-flight loads) named by an invalidation message. */
  dropLocal(message: InvalidationMessage): void {
    this.seq += 1;
    const owners = [
      ...message.userIds.map((id) => ({ owner: `u:${id}`, scope: message.scope })),
      ...(message.globals ?? []).map((name) => ({ owner: `g:${name}`, scope: 'all' as const })),
    ];
    for (const { owner, scope } of owners) {
      this.invalidatedAt.set(`${owner}|${scope}`, this.seq);
      const keys = this.byOwner.get(owner);
      if (keys && this.l1) {
        for (const key of [...keys]) {
          if (scope === 'all' || key.slice(owner.length + 1).startsWith(USAGE_FIELD_PREFIX)) {
            this.l1.delete(key);
          }
        }
      }
      for (const [key, flight] of this.inflight) {
        if (flight.owner === owner && (scope === 'all' || flight.usage)) this.inflight.delete(key);
      }
    }
  }

  private clearLocal(): void {
    this.seq += 1;
    this.clearedAt = this.seq;
    this.l1?.clear();
    this.byOwner.clear();
    this.inflight.clear();
  }

  private async get<T>(spec: EntrySpec, load: () => Promise<T>): Promise<T> {
    if (this.l1Active) {
      const hit = this.l1!.get(spec.l1Key);
      if (hit && hit.e > this.now()) {
        this.metrics.lookup('l1', 'hit', spec.entry);
        return hit.v as T;
      }
      this.metrics.lookup('l1', 'miss', spec.entry);
    }
    const pending = this.inflight.get(spec.l1Key);
    if (pending) return pending.p as Promise<T>;
    const p = this.fill(spec, load);
    const flight = { owner: spec.owner, usage: spec.usage, p };
    this.inflight.set(spec.l1Key, flight);
    try {
      return (await p) as T;
    } finally {
      if (this.inflight.get(spec.l1Key) === flight) this.inflight.delete(spec.l1Key);
    }
  }

  private async fill(spec: EntrySpec, load: () => Promise<unknown>): Promise<unknown> {
    const startSeq = this.seq;
    // Generation markers seen before loading; undefined = Redis unusable, no write-back.
    let seen: { gen: string; ugen: string } | undefined;
    if (this.redis.status === 'ready') {
      try {
        const [raw, gen, ugen] = await this.redis.hmget(
          spec.redisKey,
          spec.field,
          GEN_FIELD,
          USAGE_GEN_FIELD,
        );
        seen = { gen: gen ?? '', ugen: ugen ?? '' };
        const envelope = raw ? parseEnvelope(raw) : undefined;
        if (envelope && envelope.e > this.now()) {
          this.metrics.lookup('l2', 'hit', spec.entry);
          this.keepLocal(spec, envelope, startSeq);
          return envelope.v;
        }
        this.metrics.lookup('l2', 'miss', spec.entry);
      } catch (error) {
        seen = undefined;
        this.degradedLog('read', error as Error);
      }
    } else {
      this.degradedLog('read', new Error(`redis status ${this.redis.status}`));
    }

    this.metrics.load(spec.entry);
    const loaded = await load();
    const json = JSON.stringify(loaded ?? null);
    const ttlMs = spec.ttlFor ? spec.ttlFor(loaded as never) : spec.ttlMs;
    const envelope: Envelope = { e: this.now() + ttlMs, v: JSON.parse(json) };
    this.keepLocal(spec, envelope, startSeq);
    if (seen) {
      try {
        await runScript(
          this.redis,
          WRITE_BACK,
          [spec.redisKey],
          [
            spec.field,
            `{"e":${envelope.e},"v":${json}}`,
            ttlMs,
            seen.gen,
            spec.usage ? seen.ugen : '*',
          ],
        );
      } catch (error) {
        this.degradedLog('write', error as Error);
      }
    }
    return envelope.v;
  }

  /** Stores in L1 unless an invalidation for this entry happened since the load started. */
  private keepLocal(spec: EntrySpec, envelope: Envelope, startSeq: number): void {
    if (!this.l1Active || !this.l1) return;
    if (this.clearedAt > startSeq) return;
    const all = this.invalidatedAt.get(`${spec.owner}|all`) ?? 0;
    const usage = spec.usage ? (this.invalidatedAt.get(`${spec.owner}|usage`) ?? 0) : 0;
    if (all > startSeq || usage > startSeq) return;
    const ttl = Math.min(envelope.e - this.now(), this.l1MaxTtlMs);
    if (ttl <= 0) return;
    this.l1.set(spec.l1Key, envelope, { ttl });
    let keys = this.byOwner.get(spec.owner);
    if (!keys) {
      keys = new Set();
      this.byOwner.set(spec.owner, keys);
    }
    keys.add(spec.l1Key);
  }

  private unindex(l1Key: string): void {
    const owner = l1Key.slice(0, l1Key.indexOf(SEP));
    const keys = this.byOwner.get(owner);
    if (!keys) return;
    keys.delete(l1Key);
    if (keys.size === 0) this.byOwner.delete(owner);
  }

  private degradedLog(op: 'read' | 'write' | 'invalidate' | 'subscribe', error: Error): void {
    this.metrics.degraded(op);
    const now = Date.now();
    // One line every 10 s is enough to see an outage without flooding the log.
    if (now - this.lastDegradedLog < 10_000) return;
    this.lastDegradedLog = now;
    this.log.warn({ op, reason: error.message }, 'redis unavailable; cache degraded to Postgres');
  }
}

function parseEnvelope(raw: string): Envelope | undefined {
  try {
    const parsed = JSON.parse(raw) as Partial<Envelope>;
    if (typeof parsed.e !== 'number' || !('v' in parsed)) return undefined;
    return { e: parsed.e, v: parsed.v };
  } catch {
    return undefined;
  }
}

export function createTieredCache(options: TieredCacheOptions): TieredCache {
  return new TieredCache(options);
}
