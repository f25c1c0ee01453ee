import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createStripeClient, STRIPE_API_VERSION, type Stripe } from '@billing/stripe';
import { StripeApiError } from './errors.js';
import { stripeId } from './ids.js';
import { decodeForm, expandPaths, type Params } from './params.js';
import { ALLOWED_PARAMS } from './routes/allowed-params.js';
import { expand, routes } from './routes/index.js';
import { type ChangeContext, FakeStripeState } from './state.js';

/**
 * A fake Stripe API over HTTP for the real `stripe` client (form-encoded requests, Stripe's
 * JSON objects, lists, errors, idempotency and retries), so tests exercise the production
 * Stripe code path with no mocks. State lives in a FakeStripeState; every request is
 * recorded; faults (429/5xx/connection resets) can be injected.
 */

export interface FakeStripeOptions {
  /** 0 (default) picks a free port. */
  port?: number;
  host?: string;
  /** The key the returned client uses; any `sk_`/`rk_` key is accepted. */
  secretKey?: string;
  /** For the returned client; default 2, as createStripeClient. */
  maxNetworkRetries?: number;
  /** Share a state between servers, or pre-seed one. */
  state?: FakeStripeState;
  /**
   * Serves every request outside `/v1/` first (the simulator's hosted checkout page and
   * `/_simulator` API); calling `next()` falls through to the fake API (a 404 there).
   */
  extension?: (req: http.IncomingMessage, res: http.ServerResponse, next: () => void) => void;
  /** Keep only the newest this many `requests` (a long-running simulator). Default: all. */
  maxRecordedRequests?: number;
  /**
   * Connected accounts a `Stripe-Account` header may name; any other is refused (403
   * `account_invalid`), as Stripe does, instead of answering with the platform's data.
   */
  connectedAccounts?: string[];
  /** Called after every answered API request (e.g. to persist state after a change). */
  onResponse?: (request: RecordedRequest) => void;
}

export interface RecordedRequest {
  method: string;
  path: string;
  query: Params;
  /** Form-decoded body (`items[0][price]` → `{ items: [{ price }] }`). */
  body: Params;
  /** Lower-case names. */
  headers: Record<string, string>;
  idempotencyKey: string | undefined;
  /** Response status; 0 for a connection reset. */
  status: number;
  /** Answered from the idempotency cache. */
  replayed: boolean;
  /** Answered by an injected fault (failNext). */
  injected: boolean;
}

export interface FaultOptions {
  /** Only requests whose path starts with this string (or matches this RegExp). */
  path?: string | RegExp;
  method?: string;
  /** Sets `Stripe-Should-Retry`, which the client obeys over its own rules. */
  shouldRetry?: boolean;
  /** `Retry-After` seconds on a 429 (default 1). */
  retryAfterSeconds?: number;
  code?: string;
  message?: string;
}

/** A status, or `'connection-reset'` to drop the socket without answering. */
export type FaultKind = number | 'connection-reset';

interface Fault extends FaultOptions {
  remaining: number;
  kind: FaultKind;
}

export interface FakeStripe {
  url: string;
  port: number;
  /** A real Stripe client (createStripeClient) pointed at this server. */
  stripe: Stripe;
  requests: RecordedRequest[];
  state: FakeStripeState;
  /**
   * The next `count` requests that match answer with `kind` instead of being served.
   * The client retries 5xx, 409 and connection resets by itself (with the same
   * Idempotency-Key); a 429 only when `shouldRetry` is set. Each attempt is in `requests`.
   */
  failNext(count: number, kind: FaultKind, options?: FaultOptions): void;
  /** Lets `Stripe-Account: <id>` through from now on (a Connect account joining the platform). */
  connectAccount(id: string): void;
  /** Requests to `method` + path prefix, in order. */
  requestsTo(method: string, pathPrefix?: string): RecordedRequest[];
  /** Clears state, recorded requests, pending faults and the idempotency cache. */
  reset(): void;
  close(): Promise<void>;
}

// ---------------------------------------------------------------------------------------
// Server

const readBody = (req: http.IncomingMessage): Promise<string> =>
  new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });

const flattenHeaders = (headers: http.IncomingHttpHeaders): Record<string, string> => {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined)
      out[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : value;
  }
  return out;
};

const faultMatches = (fault: Fault, method: string, path: string): boolean =>
  fault.remaining > 0 &&
  (fault.method === undefined || fault.method.toUpperCase() === method) &&
  (fault.path === undefined ||
    (typeof fault.path === 'string' ? path.startsWith(fault.path) : fault.path.test(path)));

const faultError = (fault: Fault, status: number): StripeApiError => {
  if (status === 429) {
    return new StripeApiError(
      429,
      'invalid_request_error',
      fault.message ??
        'Request rate limit exceeded. Learn more about rate limits here https://stripe.com/docs/rate-limits.',
      fault.code ?? 'rate_limit',
    );
  }
  if (status === 409) {
    return new StripeApiError(
      409,
      'invalid_request_error',
      fault.message ?? 'Conflict.',
      fault.code ?? 'lock_timeout',
    );
  }
  if (status >= 500) {
    return new StripeApiError(
      status,
      'api_error',
      fault.message ?? 'An unknown error occurred (injected by the fake Stripe server).',
      fault.code,
    );
  }
  return new StripeApiError(
    status,
    'invalid_request_error',
    fault.message ?? `Injected ${status}.`,
    fault.code,
  );
};

/** Stripe's named API releases (the suffix of `2025-03-31.basil`), oldest first. */
const RELEASES = ['acacia', 'basil', 'clover', 'dahlia', 'endive'];

/**
 * Whether Stripe would know this `Stripe-Version`: a real calendar date from 2011 up to the
 * version this client pins, plain (before the named releases began) or with a release name.
 */
export function isKnownStripeVersion(version: string): boolean {
  if (version === STRIPE_API_VERSION) return true;
  const match = /^(\d{4})-(\d{2})-(\d{2})(?:\.([a-z]+))?$/.exec(version);
  if (!match) return false;
  const [, year, month, day, release] = match;
  const date = new Date(Date.UTC(Number(year), Number(month) - 1, Number(day)));
  if (date.getUTCDate() !== Number(day) || date.getUTCMonth() !== Number(month) - 1) return false;
  const iso = version.slice(0, 10);
  if (iso < '2011-01-01' || iso > STRIPE_API_VERSION.slice(0, 10)) return false;
  if (release === undefined) return iso < '2024-06-20';
  return RELEASES.includes(release) && iso >= '2024-06-20';
}

const MAX_LOOKUP_KEYS = 10;
const MAX_CLIENT_REFERENCE_ID = 200;

/** Stripe's `parameter_unknown`: names the first parameter the endpoint does not take. */
function unknownParameter(method: string, template: string, params: Params): StripeApiError | null {
  const allowed = ALLOWED_PARAMS[`${method} ${template}`];
  if (!allowed) return null;
  const unknown = Object.keys(params).find((name) => name !== 'expand' && !allowed.includes(name));
  if (unknown === undefined) return null;
  return new StripeApiError(
    400,
    'invalid_request_error',
    `Received unknown parameter: ${unknown}`,
    'parameter_unknown',
    unknown,
  );
}

/** Limits Stripe enforces on parameters the product sends. */
function parameterLimits(method: string, template: string, params: Params): StripeApiError | null {
  if (method === 'GET' && template === '/v1/prices') {
    const keys = params.lookup_keys;
    if (Array.isArray(keys) && keys.length > MAX_LOOKUP_KEYS) {
      return new StripeApiError(
        400,
        'invalid_request_error',
        `Invalid array: lookup_keys must have at most ${MAX_LOOKUP_KEYS} elements.`,
        'parameter_invalid',
        'lookup_keys',
      );
    }
  }
  if (method === 'POST' && template === '/v1/checkout/sessions') {
    const reference = params.client_reference_id;
    if (typeof reference === 'string' && reference.length > MAX_CLIENT_REFERENCE_ID) {
      return new StripeApiError(
        400,
        'invalid_request_error',
        `Invalid string: ${reference.slice(0, 20)}...; must be at most ${MAX_CLIENT_REFERENCE_ID} characters`,
        'string_too_long',
        'client_reference_id',
      );
    }
  }
  return null;
}

interface CachedResponse {
  fingerprint: string;
  status: number;
  body: string;
}

export async function startFakeStripe(options: FakeStripeOptions = {}): Promise<FakeStripe> {
  const state = options.state ?? new FakeStripeState();
  const requests: RecordedRequest[] = [];
  const faults: Fault[] = [];
  const idempotency = new Map<string, CachedResponse>();
  const connectedAccounts = new Set(options.connectedAccounts ?? []);

  const send = (
    res: http.ServerResponse,
    record: RecordedRequest,
    status: number,
    body: string,
    headers: Record<string, string> = {},
  ) => {
    record.status = status;
    options.onResponse?.(record);
    res.writeHead(status, {
      'content-type': 'application/json',
      'request-id': headers['request-id'] ?? stripeId('req', 14),
      'stripe-version': record.headers['stripe-version'] ?? STRIPE_API_VERSION,
      ...(record.idempotencyKey ? { 'idempotency-key': record.idempotencyKey } : {}),
      ...headers,
    });
    res.end(body);
  };

  const handle = async (req: http.IncomingMessage, res: http.ServerResponse) => {
    const raw = await readBody(req);
    const method = (req.method ?? 'GET').toUpperCase();
    const url = new URL(req.url ?? '/', 'http://fake-stripe.local');
    const headers = flattenHeaders(req.headers);
    const contentType = headers['content-type'] ?? '';
    const record: RecordedRequest = {
      method,
      path: url.pathname,
      query: decodeForm(url.search.slice(1)),
      body: contentType.startsWith('application/x-www-form-urlencoded') ? decodeForm(raw) : {},
      headers,
      idempotencyKey: headers['idempotency-key'],
      status: 0,
      replayed: false,
      injected: false,
    };
    requests.push(record);
    if (
      options.maxRecordedRequests !== undefined &&
      requests.length > options.maxRecordedRequests
    ) {
      requests.splice(0, requests.length - options.maxRecordedRequests);
    }
    const requestId = stripeId('req', 14);
    const fail = (error: StripeApiError, extra: Record<string, string> = {}) =>
      send(res, record, error.status, JSON.stringify(error.toBody(), null, 2), {
        'request-id': requestId,
        ...extra,
      });

    // 1. Authentication, as Stripe checks it first.
    const auth = headers.authorization ?? '';
    // Bearer, or Basic with the key as the user name (`curl -u sk_test_…:`), as Stripe accepts.
    const basic = /^Basic\s+(\S+)$/i.exec(auth)?.[1];
    const key =
      /^Bearer\s+(\S+)$/i.exec(auth)?.[1] ??
      (basic
        ? Buffer.from(basic, 'base64').toString('utf8').split(':')[0] || undefined
        : undefined);
    if (!key) {
      return fail(
        new StripeApiError(
          401,
          'invalid_request_error',
          'You did not provide an API key. Provide your API key in the Authorization header, using Bearer auth.',
        ),
      );
    }
    if (!/^(sk|rk)_/.test(key)) {
      return fail(
        new StripeApiError(
          401,
          'invalid_request_error',
          `Invalid API Key provided: ${key.slice(0, 8)}****`,
          'api_key_invalid',
        ),
      );
    }

    // 2. Injected faults stand in for the network and Stripe's front door: not cached.
    const fault = faults.find((candidate) => faultMatches(candidate, method, url.pathname));
    if (fault) {
      fault.remaining--;
      record.injected = true;
      if (fault.kind === 'connection-reset') {
        record.status = 0;
        req.socket.destroy();
        return;
      }
      const extra: Record<string, string> = {};
      if (fault.shouldRetry !== undefined) extra['stripe-should-retry'] = String(fault.shouldRetry);
      if (fault.kind === 429) extra['retry-after'] = String(fault.retryAfterSeconds ?? 1);
      return fail(faultError(fault, fault.kind), extra);
    }

    // 3. What Stripe refuses before looking at the request: an API version it does not know,
    // an account that is not connected to this platform.
    const version = headers['stripe-version'];
    if (version !== undefined && !isKnownStripeVersion(version)) {
      return fail(
        new StripeApiError(
          400,
          'invalid_request_error',
          `Invalid Stripe API version: ${version}`,
          'api_version_invalid',
        ),
      );
    }
    const account = headers['stripe-account'];
    if (account !== undefined && !connectedAccounts.has(account)) {
      return fail(
        new StripeApiError(
          403,
          'invalid_request_error',
          `The provided key '${key.slice(0, 8)}****' does not have access to account '${account}' (or that account does not exist). Application access may have been revoked.`,
          'account_invalid',
        ),
      );
    }

    // 4. Idempotency: the same key on a POST replays the first response; other parameters are an error.
    const idempotencyKey = method === 'POST' ? record.idempotencyKey : undefined;
    const fingerprint = `${method} ${url.pathname} ${raw}`;
    if (idempotencyKey) {
      const cached = idempotency.get(idempotencyKey);
      if (cached) {
        if (cached.fingerprint !== fingerprint) {
          return fail(
            new StripeApiError(
              400,
              'idempotency_error',
              `Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '${idempotencyKey}' if you meant to execute a different request.`,
            ),
          );
        }
        record.replayed = true;
        return send(res, record, cached.status, cached.body, {
          'idempotent-replayed': 'true',
          'original-request': requestId,
        });
      }
    }

    // 5. Route.
    const params = method === 'POST' ? record.body : record.query;
    let matchedPath = false;
    for (const candidate of routes) {
      const match = candidate.pattern.exec(url.pathname);
      if (!match) continue;
      matchedPath = true;
      if (candidate.method !== method) continue;
      const refused =
        unknownParameter(method, candidate.template, params) ??
        parameterLimits(method, candidate.template, params);
      if (refused) return fail(refused);
      const path: Record<string, string> = {};
      candidate.names.forEach((name, index) => {
        path[name] = decodeURIComponent(match[index + 1] ?? '');
      });
      try {
        const change: ChangeContext = {
          requestId,
          idempotencyKey: idempotencyKey ?? null,
          account: headers['stripe-account'],
        };
        const result = candidate.handler({ params, path, change, state });
        const body = JSON.stringify(expand(state, result, expandPaths(params)), null, 2);
        // Only requests that ran are saved for replay (Stripe does not save validation failures).
        if (idempotencyKey) idempotency.set(idempotencyKey, { fingerprint, status: 200, body });
        return send(res, record, 200, body, { 'request-id': requestId });
      } catch (error) {
        if (error instanceof StripeApiError) return fail(error);
        return fail(
          new StripeApiError(500, 'api_error', `Fake Stripe failed: ${(error as Error).message}`),
        );
      }
    }
    return fail(
      new StripeApiError(
        404,
        'invalid_request_error',
        matchedPath
          ? `Unrecognized request URL (${method}: ${url.pathname}). This method is not supported by the fake Stripe server.`
          : `Unrecognized request URL (${method}: ${url.pathname}). Please see https://stripe.com/docs or we can help at https://support.stripe.com/.`,
      ),
    );
  };

  const server = http.createServer((req, res) => {
    const extension = options.extension;
    if (extension && !(req.url ?? '/').startsWith('/v1/')) {
      extension(req, res, () => serve(req, res));
      return;
    }
    serve(req, res);
  });
  const serve = (req: http.IncomingMessage, res: http.ServerResponse) => {
    handle(req, res).catch((error: unknown) => {
      if (!res.headersSent) {
        res.writeHead(500, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: { type: 'api_error', message: String(error) } }));
      }
    });
  };
  server.keepAliveTimeout = 1000;

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const url = `http://${options.host ?? '127.0.0.1'}:${port}`;
  const stripe = createStripeClient({
    secretKey: options.secretKey ?? 'sk_test_fake_stripe_server',
    apiBase: url,
    maxNetworkRetries: options.maxNetworkRetries ?? 2,
  });

  return {
    url,
    port,
    stripe,
    requests,
    state,
    failNext(count, kind, faultOptions = {}) {
      faults.push({ ...faultOptions, remaining: count, kind });
    },
    connectAccount(id) {
      connectedAccounts.add(id);
    },
    requestsTo(method, pathPrefix = '') {
      return requests.filter(
        (request) => request.method === method.toUpperCase() && request.path.startsWith(pathPrefix),
      );
    },
    reset() {
      state.reset();
      requests.length = 0;
      faults.length = 0;
      idempotency.clear();
      connectedAccounts.clear();
      for (const id of options.connectedAccounts ?? []) connectedAccounts.add(id);
    },
    close() {
      return new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      });
    },
  };
}
