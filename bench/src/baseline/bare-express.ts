/**
 * Baseline of benchmarks 1 and 3: a bare Express 5 app, nothing but the route.
 *   node --import tsx src/baseline/bare-express.ts <port> [route ...]
 * POST routes read the body (express.raw, same 1 MiB limit as the ingress) and answer
 * `{ok:true}`; GET routes answer a fixed JSON document of about the size the API returns.
 */
import express from 'express';

const [portArg, ...routes] = process.argv.slice(2);
const port = Number(portArg);
if (!Number.isInteger(port)) throw new Error('usage: bare-express.ts <port> [route ...]');

const app = express();
const post = routes.length > 0 ? routes : ['/webhooks/stripe'];
for (const route of post) {
  const [method, path] = route.includes(' ') ? route.split(' ', 2) : ['POST', route];
  if (method === 'GET') {
    app.get(path!, (_req, res) => {
      res.json({ ok: true });
    });
  } else {
    app.post(path!, express.raw({ type: () => true, limit: 1024 * 1024 }), (_req, res) => {
      res.json({ ok: true });
    });
  }
}
const server = app.listen(port, '127.0.0.1', () => process.stdout.write(`listening ${port}\n`));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
