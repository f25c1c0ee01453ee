import { AppError, boundedJson } from '@billing/runtime';
import type { ErrorRequestHandler, RequestHandler } from 'express';
import { fieldError } from './validation.js';

/**
 * A JSON body of at most `limit` bytes. No body at all (no Content-Length, no
 * Transfer-Encoding) reads as `{}`, so `POST /cancel` with a user key needs none; a body that
 * is not `application/json` is a 400 naming Content-Type.
 */
export function jsonBody(limit: number): RequestHandler {
  const parse = boundedJson(limit);
  return (req, res, next) => {
    const length = req.headers['content-length'];
    const hasBody =
      req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
    if (!hasBody) {
      req.body = {};
      next();
      return;
    }
    if (!req.is('application/json')) {
      throw fieldError(
        'Content-Type',
        'must be application/json',
        'header',
        'unsupported_media_type',
      );
    }
    parse(req, res, next);
  };
}

/**
 * Body failures naming the body: malformed JSON, an unsupported encoding or a truncated body
 * (400), a body over the limit (413, with the limit of the route that refused it: the usage
 * route allows more than the rest).
 */
export function bodyErrors(limit: number): ErrorRequestHandler {
  return (error, _req, _res, next) => {
    const type = (error as { type?: unknown } | null)?.type;
    if (type === 'entity.parse.failed') {
      next(fieldError('body', 'is not valid JSON', 'body', 'invalid_json'));
    } else if (type === 'entity.too.large') {
      const applied = typeof error.limit === 'number' ? error.limit : limit;
      next(
        new AppError(413, 'payload_too_large', `body exceeds the ${applied}-byte limit`, {
          field: 'body',
          source: 'body',
          limitBytes: applied,
        }),
      );
    } else if (type === 'encoding.unsupported' || type === 'charset.unsupported') {
      next(fieldError('Content-Encoding', 'is not supported', 'header', 'unsupported_encoding'));
    } else if (type === 'request.aborted' || type === 'request.size.invalid') {
      next(
        new AppError(400, 'incomplete_body', 'request body ended before its Content-Length', {
          field: 'body',
        }),
      );
    } else {
      next(error);
    }
  };
}
