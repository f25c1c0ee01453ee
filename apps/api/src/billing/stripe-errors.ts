import { AppError, ServiceUnavailableError } from '@billing/runtime';
import { Stripe } from '@billing/stripe';

/**
 * Maps a Stripe client error to an answer: a card problem is the customer's (402), Stripe
 * being unreachable or rate limiting is transient (503), anything else is our request being
 * refused (502, with Stripe's code and request id so it can be looked up).
 */
export function fromStripeError(error: unknown): unknown {
  if (error instanceof AppError) return error;
  if (error instanceof Stripe.errors.StripeCardError) {
    return new AppError(402, 'card_error', error.message, { stripeCode: error.code ?? null });
  }
  if (
    error instanceof Stripe.errors.StripeConnectionError ||
    error instanceof Stripe.errors.StripeRateLimitError ||
    error instanceof Stripe.errors.StripeAPIError
  ) {
    return new ServiceUnavailableError('stripe_unavailable', 'Stripe is unavailable; retry later');
  }
  if (error instanceof Stripe.errors.StripeError) {
    return new AppError(502, 'stripe_error', `Stripe refused the request: ${error.message}`, {
      stripeCode: error.code ?? null,
      stripeRequestId: error.requestId ?? null,
    });
  }
  // Not from Stripe: a bug of ours; the error handler logs it and answers 500.
  return error;
}

export const stripeNotConfigured = () =>
  new ServiceUnavailableError(
    'stripe_not_configured',
    'STRIPE_SECRET_KEY is not set; Stripe-backed routes are unavailable',
  );
