import { describe, expect, it } from 'vitest';
import { authenticateOps, opsCredentials } from './auth.js';

const credentials = opsCredentials({
  serviceToken: 'service-token-0123456789',
  opsToken: 'ops-token-0123456789abc',
  basicUser: 'oncall',
  basicPassword: 'correct horse battery',
});
const basic = (user: string, password: string) =>
  `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

describe('ops credentials', () => {
  it('accepts the service token, the ops token and the basic login', () => {
    expect(authenticateOps('Bearer service-token-0123456789', credentials)?.kind).toBe('service');
    expect(authenticateOps('bearer ops-token-0123456789abc', credentials)?.kind).toBe('ops');
    expect(authenticateOps(basic('oncall', 'correct horse battery'), credentials)?.kind).toBe(
      'basic',
    );
  });

  it('rejects a missing header, a wrong token, a wrong password and a malformed header', () => {
    expect(authenticateOps(undefined, credentials)).toBeUndefined();
    expect(authenticateOps('Bearer nope', credentials)).toBeUndefined();
    expect(authenticateOps(basic('oncall', 'wrong'), credentials)).toBeUndefined();
    expect(authenticateOps(basic('someone', 'correct horse battery'), credentials)).toBeUndefined();
    expect(authenticateOps('Bearer', credentials)).toBeUndefined();
    expect(authenticateOps('Basic bm9jb2xvbg==', credentials)).toBeUndefined();
  });

  it('has no basic login when none is configured', () => {
    const tokensOnly = opsCredentials({ serviceToken: 'service-token-0123456789' });
    expect(authenticateOps(basic('oncall', 'correct horse battery'), tokensOnly)).toBeUndefined();
    expect(authenticateOps('Bearer ops-token-0123456789abc', tokensOnly)).toBeUndefined();
  });
});
