import { signStripePayload, signStripePayloadMulti } from '@billing/stripe-fake';
import { describe, expect, it } from 'vitest';
import { createSignatureVerifier } from './verify.js';

const OLD = 'whsec_old_rotation_secret';
const NEW = 'whsec_new_rotation_secret';
const payload = JSON.stringify({ id: 'evt_1Verify', object: 'event', type: 'customer.created' });
const nowSeconds = 1_800_000_000;
const verifier = createSignatureVerifier({
  secrets: [OLD, NEW],
  toleranceSeconds: 300,
  now: () => nowSeconds * 1000,
});

describe('signature verification against every configured secret', () => {
  it('accepts a delivery signed with the first secret and reports index 0', () => {
    expect(verifier.verify(payload, signStripePayload(payload, OLD, nowSeconds))).toEqual({
      ok: true,
      secretIndex: 0,
    });
  });

  it('accepts a delivery signed with the second secret and reports index 1', () => {
    expect(verifier.verify(payload, signStripePayload(payload, NEW, nowSeconds))).toEqual({
      ok: true,
      secretIndex: 1,
    });
  });

  it('accepts a header carrying signatures for both secrets (Stripe during a roll)', () => {
    const fresh = createSignatureVerifier({
      secrets: [OLD, NEW],
      toleranceSeconds: 300,
      now: () => nowSeconds * 1000,
    });
    expect(fresh.verify(payload, signStripePayloadMulti(payload, [NEW, OLD], nowSeconds))).toEqual({
      ok: true,
      secretIndex: 0,
    });
  });

  it('after the new secret matched, keeps reporting each secret by its configured index', () => {
    const fresh = createSignatureVerifier({
      secrets: [OLD, NEW],
      toleranceSeconds: 300,
      now: () => nowSeconds * 1000,
    });
    const results = [NEW, NEW, OLD, NEW].map((secret) =>
      fresh.verify(payload, signStripePayload(payload, secret, nowSeconds)),
    );
    expect(results).toEqual([
      { ok: true, secretIndex: 1 },
      { ok: true, secretIndex: 1 },
      { ok: true, secretIndex: 0 },
      { ok: true, secretIndex: 1 },
    ]);
  });

  it('rejects a delivery signed with a rotated-out secret as invalid_signature', () => {
    const result = verifier.verify(
      payload,
      signStripePayload(payload, 'whsec_retired_secret', nowSeconds),
    );
    expect(result).toMatchObject({ ok: false, reason: 'invalid_signature' });
  });

  it('rejects a payload changed after signing (one trailing space) as invalid_signature', () => {
    const result = verifier.verify(`${payload} `, signStripePayload(payload, OLD, nowSeconds));
    expect(result).toMatchObject({ ok: false, reason: 'invalid_signature' });
  });

  it('rejects a correctly signed delivery 301 s old as timestamp_outside_tolerance', () => {
    const result = verifier.verify(payload, signStripePayload(payload, NEW, nowSeconds - 301));
    expect(result).toMatchObject({ ok: false, reason: 'timestamp_outside_tolerance' });
  });

  it('accepts a correctly signed delivery 299 s old', () => {
    expect(verifier.verify(payload, signStripePayload(payload, NEW, nowSeconds - 299))).toEqual({
      ok: true,
      secretIndex: 1,
    });
  });

  it('rejects a correctly signed delivery 301 s in the future; accepts 299 s ahead', () => {
    expect(
      verifier.verify(payload, signStripePayload(payload, NEW, nowSeconds + 301)),
    ).toMatchObject({ ok: false, reason: 'timestamp_outside_tolerance' });
    expect(verifier.verify(payload, signStripePayload(payload, NEW, nowSeconds + 299))).toEqual({
      ok: true,
      secretIndex: 1,
    });
  });

  it('honours a configured tolerance (60 s): a 61 s old delivery is stale', () => {
    const strict = createSignatureVerifier({
      secrets: [OLD],
      toleranceSeconds: 60,
      now: () => nowSeconds * 1000,
    });
    expect(strict.verify(payload, signStripePayload(payload, OLD, nowSeconds - 61))).toMatchObject({
      ok: false,
      reason: 'timestamp_outside_tolerance',
    });
  });

  it('rejects a missing header as missing_signature', () => {
    expect(verifier.verify(payload, undefined)).toMatchObject({
      ok: false,
      reason: 'missing_signature',
    });
    expect(verifier.verify(payload, '')).toMatchObject({ ok: false, reason: 'missing_signature' });
  });

  it('rejects a header with no v1 entry (t=123,v0=abc) as invalid_signature_header', () => {
    expect(verifier.verify(payload, 't=123,v0=abc')).toMatchObject({
      ok: false,
      reason: 'invalid_signature_header',
    });
  });

  it('rejects a header with no timestamp (v1=abc) as invalid_signature_header', () => {
    expect(verifier.verify(payload, 'v1=abc')).toMatchObject({
      ok: false,
      reason: 'invalid_signature_header',
    });
  });

  it('never puts the secret or the signature into its failure message', () => {
    const header = signStripePayload(payload, 'whsec_retired_secret', nowSeconds);
    const result = verifier.verify(payload, header);
    expect(result.ok).toBe(false);
    const text = JSON.stringify(result);
    for (const secret of [OLD, NEW, 'whsec_retired_secret', header, header.split('v1=')[1]!]) {
      expect(text).not.toContain(secret);
    }
  });
});
