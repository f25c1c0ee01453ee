import { randomBytes } from 'node:crypto';

const ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

/** Lengths of the random part, matching what Stripe issues (`cus_QXg1o8vcGmoR32`, `sub_1Pgc6r…`). */
const BODY_LENGTH: Record<string, number> = {
  acct: 16,
  cus: 14,
  prod: 14,
  si: 14,
  cs_test: 58,
};

const issued = new Set<string>();

function randomBody(length: number): string {
  const bytes = randomBytes(length);
  let out = '';
  for (const byte of bytes) out += ALPHABET[byte % ALPHABET.length];
  return out;
}

/**
 * A realistic, process-unique Stripe id: `stripeId('cus')` → `cus_Qx8…`. Most object ids
 * are 24 characters starting with `1` (`sub_1Pgc6rB7WZ01zgkWNy0Cn5nw`); customers, products
 * and subscription items use 14. Uniqueness is guaranteed within the process, not just likely.
 */
export function stripeId(prefix: string, length = BODY_LENGTH[prefix] ?? 24): string {
  for (;;) {
    const body = length >= 20 ? `1${randomBody(length - 1)}` : randomBody(length);
    const id = `${prefix}_${body}`;
    if (!issued.has(id)) {
      issued.add(id);
      return id;
    }
  }
}

/** Current time in Stripe's unit (unix seconds). */
export const nowSeconds = (): number => Math.floor(Date.now() / 1000);

export const DAY_SECONDS = 86_400;
