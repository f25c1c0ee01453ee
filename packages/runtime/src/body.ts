import type { IncomingMessage } from 'node:http';
import type { RequestHandler } from 'express';

/**
 * Request bodies read with a hard limit. body-parser answers a too-large body only after it
 * has read ("dumped") the whole rest of the request, so a chunked body of 2 GB, or one that
 * never ends, holds the request open. Here the read stops at the limit: the error goes to
 * the app's error handler at once, which answers 413 and closes the connection.
 *
 * Errors carry body-parser's `status` and `type` (`entity.too.large`, `request.aborted`,
 * `encoding.unsupported`, `charset.unsupported`, `entity.parse.failed`), so existing error
 * mappings keep working.
 */
const bodyError = (status: number, type: string, message: string, extra = {}) =>
  Object.assign(new Error(message), { status, type, expose: true, ...extra });

/** Reads the raw bytes of `req`, at most `limit`; rejects with a typed error otherwise. */
export function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const encoding = (req.headers['content-encoding'] ?? 'identity').toLowerCase();
    if (encoding !== 'identity') {
      // No decompression: a small compressed body could expand far past the limit.
      reject(bodyError(415, 'encoding.unsupported', 'content encoding unsupported'));
      return;
    }
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > limit) {
      reject(bodyError(413, 'entity.too.large', 'request entity too large', { limit }));
      return;
    }
    const chunks: Buffer[] = [];
    let received = 0;
    let settled = false;
    const finish = (error: Error | undefined) => {
      if (settled) return;
      settled = true;
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('aborted', onAborted);
      req.off('error', onError);
      if (error) {
        // Stop reading; the error handler answers and closes the connection.
        req.pause();
        reject(error);
      } else resolve(Buffer.concat(chunks, received));
    };
    const onData = (chunk: Buffer) => {
      received += chunk.length;
      if (received > limit) {
        finish(bodyError(413, 'entity.too.large', 'request entity too large', { limit }));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => {
      if (Number.isFinite(declared) && received !== declared) {
        finish(bodyError(400, 'request.size.invalid', 'request size did not match content length'));
      } else finish(undefined);
    };
    const onAborted = () => finish(bodyError(400, 'request.aborted', 'request aborted'));
    const onError = (error: Error) => finish(error);
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('aborted', onAborted);
    req.on('error', onError);
  });
}

/** `req.body` = the raw bytes (a Buffer), at most `limit`. */
export function rawBody(limit: number): RequestHandler {
  return (req, _res, next) => {
    readBody(req, limit).then(
      (body) => {
        req.body = body;
        next();
      },
      (error: Error) => next(error),
    );
  };
}

/**
 * `req.body` = the parsed JSON object or array, at most `limit` bytes of UTF-8. The caller
 * checks the Content-Type first.
 */
export function boundedJson(limit: number): RequestHandler {
  return (req, _res, next) => {
    const charset = /;\s*charset=("?)([^";\s]+)\1/i.exec(req.headers['content-type'] ?? '')?.[2];
    if (charset && !/^utf-?8$/i.test(charset)) {
      next(bodyError(415, 'charset.unsupported', `unsupported charset "${charset.toUpperCase()}"`));
      return;
    }
    readBody(req, limit).then(
      (body) => {
        const text = body.toString('utf8');
        // Strict, as body-parser's default: an object or an array, nothing else.
        const first = /^[\s\uFEFF]*(.)/.exec(text)?.[1];
        try {
          if (first !== '{' && first !== '[') throw new SyntaxError('not an object or array');
          req.body = JSON.parse(text);
        } catch (error) {
          next(bodyError(400, 'entity.parse.failed', (error as Error).message));
          return;
        }
        next();
      },
      (error: Error) => next(error),
    );
  };
}
