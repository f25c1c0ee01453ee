/**
 * HTTP access to the running system for the scenarios: the billing API (service token, acting
 * for a named user) and the Stripe simulator's `/_simulator` helpers.
 */

export class ScenarioError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ScenarioError';
  }
}

export interface Reply<T = unknown> {
  status: number;
  body: T;
}

type Json = Record<string, unknown>;

export class JsonClient {
  constructor(
    readonly baseUrl: string,
    private readonly headers: Record<string, string>,
    private readonly what: string,
  ) {}

  async request<T = Json>(
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<Reply<T>> {
    let response: Response;
    try {
      response = await fetch(`${this.baseUrl}${path}`, {
        method,
        headers: {
          accept: 'application/json',
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
          ...this.headers,
          ...headers,
        },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(30_000),
      });
    } catch (error) {
      throw new ScenarioError(
        `cannot reach the ${this.what} at ${this.baseUrl} (${(error as Error).cause ?? (error as Error).message}). Is \`npm start\` running in another terminal?`,
      );
    }
    const text = await response.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : null;
    } catch {
      // Not JSON: keep the text for the error message.
    }
    return { status: response.status, body: parsed as T };
  }

  /** Like `request`, but a non-2xx answer is a ScenarioError quoting the API's error. */
  async ok<T = Json>(
    method: string,
    path: string,
    body?: unknown,
    headers?: Record<string, string>,
  ): Promise<T> {
    const reply = await this.request<T>(method, path, body, headers);
    if (reply.status < 200 || reply.status >= 300) {
      const error = (reply.body as { error?: { message?: string; code?: string } } | null)?.error;
      const detail = error
        ? `${error.code ?? ''} ${error.message ?? ''}`.trim()
        : JSON.stringify(reply.body).slice(0, 300);
      throw new ScenarioError(`${method} ${path} → ${reply.status}: ${detail}`);
    }
    return reply.body;
  }

  get<T = Json>(path: string): Promise<T> {
    return this.ok<T>('GET', path);
  }

  post<T = Json>(path: string, body: unknown = {}, headers?: Record<string, string>): Promise<T> {
    return this.ok<T>('POST', path, body, headers);
  }
}

/** `GET /api/billing/subscription` → `subscription`. */
export interface SubscriptionView {
  id: string;
  status: string;
  planId: string | null;
  priceId: string | null;
  interval: string | null;
  currentPeriodStart: string | null;
  currentPeriodEnd: string | null;
  cancelAtPeriodEnd: boolean;
}

/** `GET /api/billing/usage`. */
export interface UsageView {
  used: number;
  limit: number;
  remaining: number;
  metric: string;
  planType: string;
  canMakeRequest: boolean;
  periodStart: string;
  periodEnd: string;
}

export interface EventSummary {
  id: string;
  type: string;
  object: string | null;
}

export interface SimulatorStatus {
  webhooks: {
    url: string;
    queued: number;
    inFlight: number;
    retrying: number;
    delivered: number;
    failed: number;
    attempts: number;
  };
  counts: Record<string, number>;
}

export interface Clients {
  api: JsonClient;
  simulator: JsonClient;
}

export function clients(config: {
  apiUrl: string;
  simulatorUrl: string;
  serviceToken: string;
}): Clients {
  return {
    api: new JsonClient(
      config.apiUrl,
      { authorization: `Bearer ${config.serviceToken}` },
      'billing API',
    ),
    simulator: new JsonClient(config.simulatorUrl, {}, 'Stripe simulator'),
  };
}

export const userQuery = (userId: string) => `userId=${encodeURIComponent(userId)}`;

export async function subscriptionOf(
  api: JsonClient,
  userId: string,
): Promise<SubscriptionView | null> {
  const body = await api.get<{ subscription: SubscriptionView | null }>(
    `/api/billing/subscription?${userQuery(userId)}`,
  );
  return body.subscription;
}

export const usageOf = (api: JsonClient, userId: string): Promise<UsageView> =>
  api.get<UsageView>(`/api/billing/usage?${userQuery(userId)}`);

/** Polls `read` until `done` holds (the webhook landed), or throws after `timeoutMs`. */
export async function waitUntil<T>(
  read: () => Promise<T>,
  done: (value: T) => boolean,
  options: { timeoutMs?: number; intervalMs?: number; what: string },
): Promise<{ value: T; waitedMs: number }> {
  const started = Date.now();
  const deadline = started + (options.timeoutMs ?? 30_000);
  let last: T;
  for (;;) {
    last = await read();
    if (done(last)) return { value: last, waitedMs: Date.now() - started };
    if (Date.now() > deadline) {
      throw new ScenarioError(
        `timed out waiting for ${options.what}; the API still reports ${JSON.stringify(last)}. ` +
          'Are the ingress and the webhook worker running (see the `npm start` output)?',
      );
    }
    await new Promise((resolve) => setTimeout(resolve, options.intervalMs ?? 200));
  }
}

/** Runs `task` over `items` with at most `limit` at once. */
export async function inBatches<T, R>(
  items: readonly T[],
  limit: number,
  task: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await task(items[index]!, index);
    }
  });
  await Promise.all(workers);
  return results;
}
