import { BadRequestError, ForbiddenError } from '@billing/runtime';
import type { Request } from 'express';

/**
 * Who is calling, set by the auth middleware on every /api request:
 * - `service`: BILLING_SERVICE_TOKEN (the SaaS backend); may act for any user by naming one.
 * - `ops`: OPS_TOKEN; ops surfaces only.
 * - `user`: an API key from `api_keys` scoped to one user; may act only for that user.
 */
export type AuthContext =
  | { kind: 'service'; credentialId: string }
  | { kind: 'ops'; credentialId: string }
  | { kind: 'user'; credentialId: string; userId: string };

declare global {
  namespace Express {
    interface Request {
      auth?: AuthContext;
    }
  }
}

/**
 * The user a request acts for: a service credential must name one (`userId` in the query for
 * GET, in the JSON body for POST); a user key acts for its own user and gets 403 for another.
 */
export function actingUserId(req: Request, requested: string | undefined): string {
  const auth = req.auth;
  if (!auth) throw new Error('actingUserId called before authentication');
  if (auth.kind === 'user') {
    if (requested !== undefined && requested !== auth.userId) {
      throw new ForbiddenError('this API key may only act for its own user');
    }
    return auth.userId;
  }
  if (auth.kind === 'ops') throw new ForbiddenError('the ops token cannot act for users');
  if (!requested)
    throw new BadRequestError('missing_user_id', 'userId is required with the service token', {
      field: 'userId',
    });
  return requested;
}
