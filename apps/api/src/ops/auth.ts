import { authenticateOps, type OpsCredentials } from '@billing/ops';
import { ForbiddenError, UnauthorizedError } from '@billing/runtime';
import type { RequestHandler } from 'express';
import { isOpsCredential } from '../auth/middleware.js';
import type { AuthFailureThrottle } from '../auth/rate-limit.js';

/**
 * `/api/ops/*`: the service token or OPS_TOKEN as `Authorization: Bearer`. When the app's
 * own authentication already ran (`req.auth` set), only its kind is checked: a user API key
 * gets 403. Mounted without it, the header is checked here.
 */
export function requireOpsToken(credentials: OpsCredentials): RequestHandler {
  return (req, res, next) => {
    if (req.auth) {
      if (!isOpsCredential(req.auth)) {
        throw new ForbiddenError(
          'ops routes need BILLING_SERVICE_TOKEN or OPS_TOKEN; API keys are refused',
        );
      }
      next();
      return;
    }
    const principal = authenticateOps(req.headers.authorization, {
      ...credentials,
      basic: undefined,
    });
    if (!principal) {
      res.set('WWW-Authenticate', 'Bearer');
      throw new UnauthorizedError('ops routes need the ops or service token');
    }
    req.auth =
      principal.kind === 'ops'
        ? { kind: 'ops', credentialId: 'ops-token' }
        : { kind: 'service', credentialId: 'service-token' };
    next();
  };
}

export const BASIC_REALM = 'Basic realm="billing ops", charset="UTF-8"';

/**
 * `/ops/queues`: a bearer token (service or ops) or, for a browser, HTTP basic auth with
 * OPS_BASIC_USER / OPS_BASIC_PASSWORD. Anything else: 401 with a Basic challenge, so a
 * browser shows its login prompt. Answers directly (HTML pages and assets live here too).
 */
export function requireDashboardAuth(
  credentials: OpsCredentials,
  throttle?: AuthFailureThrottle,
): RequestHandler {
  return async (req, res, next) => {
    const address = req.ip ?? 'unknown';
    if (throttle && (await throttle.blocked(address))) {
      res.set('Retry-After', String(Math.max(1, Math.ceil(throttle.windowMs / 1000))));
      res.status(429).json({
        error: {
          code: 'auth_throttled',
          message: 'too many failed authentication attempts from this address',
        },
      });
      return;
    }
    const principal = authenticateOps(req.headers.authorization, credentials);
    if (principal) {
      next();
      return;
    }
    await throttle?.failed(address);
    res.set('WWW-Authenticate', BASIC_REALM);
    res.status(401).json({ error: { code: 'unauthorized', message: 'ops credentials required' } });
  };
}
