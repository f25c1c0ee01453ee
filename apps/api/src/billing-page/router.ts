import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Sql } from '@billing/db';
import type { Logger } from '@billing/logger';
import { sameOriginGate } from '@billing/runtime';
import express, { type RequestHandler, type Router } from 'express';
import { USER_ID_HTML_PATTERN } from '../http/schemas.js';
import { knownUsers, suggestedUser } from './users.js';

/**
 * `/billing`: a small billing page (static HTML, CSS and vanilla JS, no build step) for one
 * user: plan, status, period, usage against the plan limit, plan cards with a monthly/yearly
 * switch, and upgrade / cancel / checkout buttons wired to `/api/billing/*`.
 *
 * Two modes:
 * - default: the user pastes their API key; the page calls `/api/billing/*` with it (a user
 *   key can only act for its own user), so the server side adds nothing.
 * - simulator (`simulator: true`, from billingPageConfig(), local development only): a user
 *   picker (`GET /billing/users`) and `/billing/sim-api/*`, which forwards a fixed list of
 *   billing calls to `/api/billing/*` with the service token. The token never reaches the
 *   browser, and these routes answer loopback clients only.
 */
export interface BillingPageDeps {
  /** For the simulator-mode user list. */
  sql: Sql;
  logger: Logger;
  /** BILLING_SERVICE_TOKEN; used only in simulator mode. */
  serviceToken: string;
  /** billingPageConfig().simulator. */
  simulator: boolean;
  /**
   * billingPageConfig().origins: public origins the page is served under, beyond loopback.
   * Requests for any other Host, or from another origin, are refused (sameOriginGate).
   */
  origins?: readonly string[];
}

const PUBLIC_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), 'public');

/** The billing calls the simulator-mode page may make for a picked user. */
const PROXIED = new Set([
  'GET overview',
  'GET proration-preview',
  'POST upgrade',
  'POST cancel',
  'POST resume',
  'POST create-checkout-session',
  'POST portal-session',
]);

/** `GET /billing/users?q=`: a search is part of a user id, so it follows the same rule. */
const USER_SEARCH = new RegExp(`^(?:${USER_ID_HTML_PATTERN})$`);

const MAX_PROXY_BODY = 16 * 1024;

const SECURITY_HEADERS: Record<string, string> = {
  // Scripts and styles only from here; the page posts nowhere but this origin.
  'Content-Security-Policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'X-Frame-Options': 'DENY',
};

/** A connection from this machine (IPv4, IPv6 or IPv4-mapped loopback). */
export const isLoopback = (address: string | undefined): boolean =>
  address !== undefined && (address === '::1' || /^(::ffff:)?127\./.test(address));

const readBody = (req: express.Request): Promise<string> =>
  new Promise((resolve, reject) => {
    let size = 0;
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_PROXY_BODY) {
        reject(new Error('body too large'));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });

const errorBody = (code: string, message: string) => ({ error: { code, message } });

export function billingPageRouter(deps: BillingPageDeps): Router {
  const router = express.Router();
  const log = deps.logger.child({ module: 'billing-page' });

  const headers: RequestHandler = (_req, res, next) => {
    res.set(SECURITY_HEADERS);
    next();
  };
  // Every /billing route: foreign Host (DNS rebinding), cross-site reads and non-JSON or
  // unproven-origin state changes get 403 before anything else runs.
  router.use('/billing', sameOriginGate({ origins: deps.origins }), headers);

  const sendPage: RequestHandler = (_req, res) => {
    res.set('Cache-Control', 'no-store');
    res.sendFile(path.join(PUBLIC_DIR, 'index.html'));
  };
  router.get('/billing', sendPage);
  router.get('/billing/', sendPage);
  router.use(
    '/billing/assets',
    express.static(PUBLIC_DIR, { index: false, fallthrough: true, maxAge: 0, etag: true }),
    // A plain 404: serve-static's own error names the absolute path it looked at.
    (_req, res) => {
      res.status(404).json(errorBody('not_found', 'no such asset'));
    },
  );

  router.get('/billing/config.json', (_req, res) => {
    res.set('Cache-Control', 'no-store');
    // The API's own user-id rule, for the page's new-user field (one rule, not a copy).
    res.json({
      mode: deps.simulator ? 'simulator' : 'api-key',
      userIdPattern: USER_ID_HTML_PATTERN,
    });
  });

  // ---- simulator mode only -------------------------------------------------------------

  const simulatorOnly: RequestHandler = (req, res, next) => {
    if (!deps.simulator) {
      res.status(404).json(errorBody('not_found', 'the billing page runs in API-key mode'));
      return;
    }
    if (!isLoopback(req.socket.remoteAddress)) {
      res
        .status(403)
        .json(errorBody('forbidden', 'simulator mode answers only this machine (loopback)'));
      return;
    }
    res.set('Cache-Control', 'no-store');
    next();
  };

  router.get('/billing/users', simulatorOnly, async (req, res) => {
    const q = req.query.q;
    if (q !== undefined && (typeof q !== 'string' || (q !== '' && !USER_SEARCH.test(q)))) {
      res
        .status(400)
        .json(errorBody('invalid_query', 'q: part of a user id (letters, digits and _ . : @ | -)'));
      return;
    }
    const [users, suggested] = await Promise.all([
      knownUsers(deps.sql, { search: q || undefined }),
      suggestedUser(deps.sql),
    ]);
    res.json({ users, suggested });
  });

  router.all('/billing/sim-api/:action', simulatorOnly, async (req, res) => {
    const action = req.params.action as string;
    if (!PROXIED.has(`${req.method} ${action}`)) {
      res.status(404).json(errorBody('not_found', `${req.method} ${action} is not available here`));
      return;
    }
    let body: string | undefined;
    if (req.method === 'POST') {
      try {
        body = await readBody(req);
      } catch {
        res.status(400).json(errorBody('invalid_body', `body larger than ${MAX_PROXY_BODY} bytes`));
        return;
      }
    }
    // Back into this same server, through the API's own auth, validation and rate limits.
    const local = req.socket.localAddress ?? '127.0.0.1';
    const host =
      local.includes(':') && !local.startsWith('::ffff:')
        ? `[${local}]`
        : local.replace(/^::ffff:/, '');
    const query = req.originalUrl.includes('?')
      ? req.originalUrl.slice(req.originalUrl.indexOf('?'))
      : '';
    const forwardHeaders: Record<string, string> = { authorization: `Bearer ${deps.serviceToken}` };
    const idempotencyKey = req.headers['idempotency-key'];
    if (typeof idempotencyKey === 'string') forwardHeaders['idempotency-key'] = idempotencyKey;
    if (body) forwardHeaders['content-type'] = 'application/json';
    try {
      const response = await fetch(
        `http://${host}:${req.socket.localPort}/api/billing/${action}${query}`,
        {
          method: req.method,
          headers: forwardHeaders,
          body: body || undefined,
          signal: AbortSignal.timeout(30_000),
        },
      );
      res
        .status(response.status)
        .type('application/json')
        .send(await response.text());
    } catch (error) {
      log.warn({ action, reason: (error as Error).message }, 'simulator-mode proxy call failed');
      res.status(502).json(errorBody('proxy_failed', 'the billing API did not answer'));
    }
  });

  return router;
}
