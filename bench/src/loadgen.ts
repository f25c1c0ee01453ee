/**
 * The HTTP load generator: a process of its own (so it never shares an event loop with the
 * server it measures), running autocannon over a file of pre-signed deliveries.
 *
 *   node --import tsx src/loadgen.ts <spec.json>
 *
 * Each request takes the next line of the requests file (NDJSON `{id, body, signature}`), so
 * every delivery is unique until the file runs out (then it starts over). Prints one JSON
 * line with the figures; with `acksFile`, also writes the ids answered 2xx, one per line.
 */
import fs from 'node:fs';
import autocannon from 'autocannon';

export interface LoadSpec {
  url: string;
  path: string;
  requestsFile: string;
  connections: number;
  /**
   * Stop after this many responses. autocannon notices it on its 1-second tick, so the elapsed
   * time is rounded up to whole seconds: use durationSeconds when the rate matters.
   */
  amount?: number;
  /** Or stop after this many seconds. */
  durationSeconds?: number;
  /** Requests per second across all connections (open-loop rate); unlimited when absent. */
  rate?: number;
  /** Write ids answered 2xx here (one per line), and ids answered otherwise to `<file>.rejected`. */
  acksFile?: string;
  timeoutSeconds?: number;
  /** Extra request headers (e.g. authorization). */
  headers?: Record<string, string>;
  /** Default POST. */
  method?: 'GET' | 'POST';
}

export interface LoadResult {
  requests: number;
  ok: number;
  non2xx: number;
  errors: number;
  timeouts: number;
  statusCodes: Record<string, number>;
  seconds: number;
  /** 2xx answers per second. */
  okPerSecond: number;
  latencyMs: { p50: number; p90: number; p99: number; max: number; mean: number };
  bytesPerRequest: number;
  /** Requests built beyond the file's length: deliveries were reused (duplicates). */
  wrapped: number;
  /** CPU seconds the load generator itself used during the run. */
  loadgenCpuSeconds: number;
}

interface Line {
  id: string;
  body: string;
  signature?: string;
}

async function main(): Promise<void> {
  const specFile = process.argv[2];
  if (!specFile) throw new Error('usage: loadgen.ts <spec.json>');
  const spec = JSON.parse(fs.readFileSync(specFile, 'utf8')) as LoadSpec;
  const lines: Line[] = fs
    .readFileSync(spec.requestsFile, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as Line);
  if (lines.length === 0) throw new Error('requests file is empty');
  const bodies = lines.map((line) => Buffer.from(line.body));
  let next = 0;
  const acked: string[] = [];
  const rejected: string[] = [];
  const collect = Boolean(spec.acksFile);

  const request: autocannon.Request = {
    method: 'POST',
    path: spec.path,
    setupRequest: (req: autocannon.Request, context: object) => {
      const index = next++ % lines.length;
      const line = lines[index]!;
      (context as Record<string, unknown>).id = line.id;
      const headers: Record<string, string> = {
        'content-type': 'application/json; charset=utf-8',
        'user-agent': 'Stripe/1.0 (+https://stripe.com/docs/webhooks)',
        ...spec.headers,
      };
      if (line.signature) headers['stripe-signature'] = line.signature;
      if (spec.method === 'GET') {
        // GET: the line's body is the path (with its query string).
        return { ...req, method: 'GET', path: line.body, headers, body: undefined };
      }
      return { ...req, method: 'POST', path: spec.path, headers, body: bodies[index]! };
    },
  };
  if (collect) {
    request.onResponse = (status: number, _body: string, context: object) => {
      const id = String((context as Record<string, unknown>).id);
      (status >= 200 && status < 300 ? acked : rejected).push(id);
    };
  }

  const options: autocannon.Options = {
    url: spec.url,
    connections: spec.connections,
    pipelining: 1,
    timeout: spec.timeoutSeconds ?? 10,
    requests: [request],
  };
  if (spec.amount) options.amount = spec.amount;
  else options.duration = spec.durationSeconds ?? 10;
  if (spec.rate) options.overallRate = spec.rate;
  const cpuBefore = process.cpuUsage();
  const result = await autocannon(options);
  const cpu = process.cpuUsage(cpuBefore);

  if (spec.acksFile) {
    fs.writeFileSync(spec.acksFile, acked.join('\n'));
    fs.writeFileSync(`${spec.acksFile}.rejected`, rejected.join('\n'));
  }
  const statusCodes: Record<string, number> = {};
  for (const [code, stats] of Object.entries(result.statusCodeStats ?? {})) {
    statusCodes[code] = (stats as { count: number }).count;
  }
  const ok = result['2xx'];
  // result.duration is rounded; the start and finish stamps are not.
  const seconds = (result.finish.getTime() - result.start.getTime()) / 1000 || result.duration;
  const out: LoadResult = {
    requests: result.requests.total,
    ok,
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
    statusCodes,
    seconds,
    okPerSecond: ok / seconds,
    latencyMs: {
      p50: result.latency.p50,
      p90: result.latency.p90,
      p99: result.latency.p99,
      max: result.latency.max,
      mean: result.latency.mean,
    },
    loadgenCpuSeconds: (cpu.user + cpu.system) / 1e6,
    wrapped: Math.max(0, next - lines.length),
    bytesPerRequest: Math.round(bodies.reduce((sum, body) => sum + body.length, 0) / bodies.length),
  };
  process.stdout.write(`${JSON.stringify(out)}\n`);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
