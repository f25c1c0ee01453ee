import { createHash, timingSafeEqual } from 'node:crypto';

/** Who opened an ops surface. */
export type OpsPrincipal = { kind: 'service' | 'ops' | 'basic'; credentialId: string };

export interface OpsCredentials {
  /** BILLING_SERVICE_TOKEN. */
  serviceToken: string;
  /** OPS_TOKEN, when configured. */
  opsToken?: string | undefined;
  /** OPS_BASIC_USER / OPS_BASIC_PASSWORD, when configured (browser login to the dashboard). */
  basic?: { user: string; password: string } | undefined;
}

/** Builds the credential set from BILLING_SERVICE_TOKEN and the parsed ops config. */
export function opsCredentials(input: {
  serviceToken: string;
  opsToken?: string | undefined;
  basicUser?: string | undefined;
  basicPassword?: string | undefined;
}): OpsCredentials {
  return {
    serviceToken: input.serviceToken,
    opsToken: input.opsToken,
    basic:
      input.basicUser && input.basicPassword
        ? { user: input.basicUser, password: input.basicPassword }
        : undefined,
  };
}

// Hash both sides first so the comparison takes the same time whatever the lengths.
const digest = (value: string) => createHash('sha256').update(value, 'utf8').digest();
const safeEqual = (a: string, b: string) => timingSafeEqual(digest(a), digest(b));

/**
 * Checks an `Authorization` header: `Bearer <service or ops token>`, or `Basic` with the
 * configured user and password. Returns who it is, or undefined.
 */
export function authenticateOps(
  header: string | undefined,
  credentials: OpsCredentials,
): OpsPrincipal | undefined {
  if (!header) return undefined;
  const space = header.indexOf(' ');
  if (space <= 0) return undefined;
  const scheme = header.slice(0, space).toLowerCase();
  const value = header.slice(space + 1).trim();
  if (!value) return undefined;
  if (scheme === 'bearer') {
    if (safeEqual(value, credentials.serviceToken))
      return { kind: 'service', credentialId: 'service' };
    if (credentials.opsToken && safeEqual(value, credentials.opsToken))
      return { kind: 'ops', credentialId: 'ops' };
    return undefined;
  }
  if (scheme === 'basic' && credentials.basic) {
    let decoded: string;
    try {
      decoded = Buffer.from(value, 'base64').toString('utf8');
    } catch {
      return undefined;
    }
    const colon = decoded.indexOf(':');
    if (colon < 0) return undefined;
    const user = decoded.slice(0, colon);
    const password = decoded.slice(colon + 1);
    // Evaluate both comparisons so a wrong user costs the same as a wrong password.
    const userOk = safeEqual(user, credentials.basic.user);
    const passwordOk = safeEqual(password, credentials.basic.password);
    return userOk && passwordOk ? { kind: 'basic', credentialId: `basic:${user}` } : undefined;
  }
  return undefined;
}
