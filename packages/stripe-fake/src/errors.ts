/**
 * A Stripe API error as the fake server renders it: `{ error: { type, message, code, param } }`
 * with the HTTP status Stripe uses, so the real client raises the same error classes
 * (StripeInvalidRequestError, StripeRateLimitError, StripeAPIError, ...).
 */
export class StripeApiError extends Error {
  constructor(
    readonly status: number,
    readonly type: 'invalid_request_error' | 'api_error' | 'card_error' | 'idempotency_error',
    message: string,
    readonly code?: string,
    readonly param?: string,
  ) {
    super(message);
    this.name = 'StripeApiError';
  }

  toBody(): { error: Record<string, string> } {
    return {
      error: {
        type: this.type,
        message: this.message,
        ...(this.code
          ? {
              code: this.code,
              doc_url: `https://stripe.com/docs/error-codes/${this.code.replace(/_/g, '-')}`,
            }
          : {}),
        ...(this.param ? { param: this.param } : {}),
      },
    };
  }
}

/** 404 for the object named in the path; 400 when the id came in as a parameter. */
export const resourceMissing = (kind: string, id: string, param?: string): StripeApiError =>
  new StripeApiError(
    param ? 400 : 404,
    'invalid_request_error',
    `No such ${kind}: '${id}'`,
    'resource_missing',
    param ?? 'id',
  );

export const parameterMissing = (param: string): StripeApiError =>
  new StripeApiError(
    400,
    'invalid_request_error',
    `Missing required param: ${param}.`,
    'parameter_missing',
    param,
  );

export const parameterInvalid = (
  param: string,
  message: string,
  code = 'parameter_invalid',
): StripeApiError => new StripeApiError(400, 'invalid_request_error', message, code, param);

export const invalidRequest = (message: string, param?: string): StripeApiError =>
  new StripeApiError(400, 'invalid_request_error', message, undefined, param);
