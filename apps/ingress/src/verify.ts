import { Stripe } from '@billing/stripe';

/** Why a delivery failed verification; also the error code in the 400 answer. */
export type VerifyFailure =
  | 'missing_signature'
  | 'invalid_signature_header'
  | 'invalid_signature'
  | 'timestamp_outside_tolerance';

export type VerifyResult =
  | { ok: true; secretIndex: number }
  | { ok: false; reason: VerifyFailure; message: string };

export interface SignatureVerifier {
  /** `payload` is the raw body exactly as received; `header` the Stripe-Signature value. */
  verify(payload: string, header: string | string[] | undefined): VerifyResult;
}

const MESSAGES: Record<VerifyFailure, string> = {
  missing_signature: 'the Stripe-Signature header is missing',
  invalid_signature_header: 'the Stripe-Signature header has no timestamp or no v1 signature',
  invalid_signature: 'no v1 signature matches the payload for any configured webhook secret',
  timestamp_outside_tolerance: 'the signature timestamp is outside the tolerance window',
};

const fail = (reason: VerifyFailure, detail?: string): VerifyResult => ({
  ok: false,
  reason,
  message: detail ? `${MESSAGES[reason]} (${detail})` : MESSAGES[reason],
});

/**
 * Classifies an error from `stripe.webhooks.signature.verifyHeader`. The library checks, in
 * order: header present and parseable, some v1 signature equal to HMAC(secret), then the
 * timestamp; so a tolerance error means the signature DID match this secret.
 * Unknown messages fall back to "invalid signature": still a rejection, never an accept.
 */
function classify(error: unknown): 'header' | 'stale' | 'mismatch' {
  const message = error instanceof Error ? error.message : '';
  if (/tolerance/i.test(message)) return 'stale';
  if (
    /Unable to extract timestamp|No signatures found with expected scheme|No stripe-signature header/i.test(
      message,
    )
  ) {
    return 'header';
  }
  return 'mismatch';
}

/** Every `t=` value of a Stripe-Signature header (the library reads the last one). */
function signedTimestamps(header: string): number[] {
  const out: number[] = [];
  for (const item of header.split(',')) {
    const eq = item.indexOf('=');
    if (eq > 0 && item.slice(0, eq).trim() === 't') {
      const t = Number(item.slice(eq + 1).trim());
      if (Number.isFinite(t)) out.push(t);
    }
  }
  return out;
}

/**
 * Verifies a delivery against every configured secret in order (old and new during a
 * rotation) with the stripe library's own verifier: one HMAC-SHA256 and a constant-time
 * compare per secret tried, stopping at the first that matches. The reported index is the
 * position in STRIPE_WEBHOOK_SECRETS whatever order the secrets were tried in.
 *
 * The library's errors carry the header and payload as properties; they never leave this
 * function, so nothing downstream can log them by accident.
 */
export function createSignatureVerifier(options: {
  secrets: readonly string[];
  toleranceSeconds: number;
  /** Clock in ms, for tests of the tolerance window. */
  now?: () => number;
}): SignatureVerifier {
  const { secrets, toleranceSeconds } = options;
  if (secrets.length === 0) throw new Error('at least one webhook secret is required');
  const signature = Stripe.webhooks.signature;
  if (!signature) throw new Error('stripe library has no webhook signature helper');
  const now = options.now;
  let preferred = 0;

  return {
    verify(payload, header) {
      if (header === undefined || header === '') return fail('missing_signature');
      // Node joins repeated unknown headers with ", "; an array only appears for set-cookie.
      const value = Array.isArray(header) ? header.join(',') : header;
      if (payload.length === 0) return fail('invalid_signature', 'empty body');
      const receivedAt = now?.();
      // The library only rejects timestamps too far in the PAST. One too far in the future is
      // as suspect (a signature made ahead to be replayed later, or a badly wrong clock), so
      // the window applies in both directions. Checked before any HMAC: it costs nothing.
      const nowSeconds = Math.floor((receivedAt ?? Date.now()) / 1000);
      if (signedTimestamps(value).some((t) => t - nowSeconds > toleranceSeconds)) {
        return fail(
          'timestamp_outside_tolerance',
          `in the future; tolerance ${toleranceSeconds} s`,
        );
      }
      // Start with the secret that matched last: once Stripe signs with the new secret only,
      // each delivery costs one HMAC again instead of one per configured secret.
      for (let tried = 0; tried < secrets.length; tried++) {
        const index = (preferred + tried) % secrets.length;
        try {
          signature.verifyHeader(
            payload,
            value,
            secrets[index]!,
            toleranceSeconds,
            undefined,
            receivedAt,
          );
          preferred = index;
          return { ok: true, secretIndex: index };
        } catch (error) {
          const kind = classify(error);
          if (kind === 'header') return fail('invalid_signature_header');
          if (kind === 'stale') {
            return fail('timestamp_outside_tolerance', `tolerance ${toleranceSeconds} s`);
          }
          // mismatch: try the next secret.
        }
      }
      return fail('invalid_signature');
    },
  };
}
