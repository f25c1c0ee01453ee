/**
 * What production refuses as a secret. A secret that is public (a development default
 * shipped in this repository), short, or made of few distinct characters can be guessed,
 * and a forged webhook or a forged bearer token then passes every later check.
 */

/** Development defaults: public, so never accepted in production. */
export const DEVELOPMENT_SECRETS: readonly string[] = [
  'whsec_local_development_only',
  'dev-service-token',
];

/** Shortest secret production accepts (after a known prefix such as `whsec_`). */
export const MIN_PRODUCTION_SECRET_LENGTH = 24;
/**
 * Least estimated entropy, in bits, production accepts: length × Shannon entropy of the
 * character distribution. 32 random base64 characters score about 150, 24 random hex
 * characters about 85; `aaaa…` scores 0 and `passwordpassword…` about 65.
 */
export const MIN_PRODUCTION_SECRET_BITS = 80;

/** Length × Shannon entropy per character: a cheap upper bound on how guessable `value` is. */
export function estimatedEntropyBits(value: string): number {
  const chars = [...value];
  if (chars.length === 0) return 0;
  const counts = new Map<string, number>();
  for (const char of chars) counts.set(char, (counts.get(char) ?? 0) + 1);
  let perChar = 0;
  for (const count of counts.values()) {
    const p = count / chars.length;
    perChar -= p * Math.log2(p);
  }
  return perChar * chars.length;
}

/**
 * Why `value` is too weak for production, or undefined when it is acceptable. `prefix`
 * (e.g. `whsec_`) is not counted: it is the same for everyone.
 */
export function weakSecretReason(value: string, prefix = ''): string | undefined {
  if (DEVELOPMENT_SECRETS.includes(value)) {
    return 'is a development default published in this repository';
  }
  const secret = prefix && value.startsWith(prefix) ? value.slice(prefix.length) : value;
  if (secret.length < MIN_PRODUCTION_SECRET_LENGTH) {
    return `must be at least ${MIN_PRODUCTION_SECRET_LENGTH} characters${prefix ? ` after ${prefix}` : ''}`;
  }
  if (estimatedEntropyBits(secret) < MIN_PRODUCTION_SECRET_BITS) {
    return `is too predictable (repeated or few distinct characters); use a random value, e.g. openssl rand -base64 32`;
  }
  return undefined;
}
