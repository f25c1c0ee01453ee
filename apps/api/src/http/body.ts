import { AppError } from '@billing/runtime';
import express, { type ErrorRequestHandler, type RequestHandler } from 'express';
import { fieldError } from './validation.js';

/**
 * A JSON body of at most `limit` bytes. No body at all (no Content-Length, no
 * Transfer-Encoding) reads as `{}`, so `POST /cancel` with a user key needs none; a body that
 * is not `application/json` is a 400 naming Content-Type.
 */
export function jsonBody(limit: number): RequestHandler {
  const parse = express.json({ limit, strict: true, type: 'application/json' });
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
 * Body-parser failures as 400s naming the body: malformed JSON, a body over the limit (400
 * `payload_too_large`, not 413: the API answers every bad request body with a 400 and a field
 * error, as its README documents, so clients handle one shape), an unsupported encoding or a
 * truncated body.
 */
export function bodyErrors(limit: number): ErrorRequestHandler {
  return (error, _req, _res, next) => {
    const type = (error as { type?: unknown } | null)?.type;
    if (type === 'entity.parse.failed') {
      next(fieldError('body', 'is not valid JSON', 'body', 'invalid_json'));
    } else if (type === 'entity.too.large') {
      next(fieldError('body', `exceeds the ${limit}-byte limit`, 'body', 'payload_too_large'));
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
