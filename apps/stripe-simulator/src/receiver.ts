import http from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A webhook endpoint for the simulator's own tests: records every delivery (raw body and
 * signature header) and answers with the next scripted status (default 200).
 */
export interface Delivery {
  body: string;
  signature: string;
  type: string;
  id: string;
}

export interface Receiver {
  url: string;
  deliveries: Delivery[];
  /** Statuses for the next deliveries, in order; afterwards 200. */
  answer(...statuses: number[]): void;
  close(): Promise<void>;
}

export async function startReceiver(): Promise<Receiver> {
  const deliveries: Delivery[] = [];
  const scripted: number[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const event = JSON.parse(body) as { id: string; type: string };
      deliveries.push({
        body,
        signature: String(req.headers['stripe-signature'] ?? ''),
        type: event.type,
        id: event.id,
      });
      res.writeHead(scripted.shift() ?? 200, { 'content-type': 'application/json' });
      res.end('{"received":true}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/webhooks/stripe`,
    deliveries,
    answer: (...statuses) => scripted.push(...statuses),
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
