import { type Env, logEnv, processEnv } from '@billing/config';
import pino, { type Logger } from 'pino';

export type { Logger } from 'pino';

/**
 * Fields that must never reach a log line: secrets, signatures, card data, raw payloads.
 * pino replaces them with "[redacted]" wherever they appear at these paths.
 */
const REDACT = [
  'secret',
  '*.secret',
  'signature',
  '*.signature',
  'authorization',
  '*.authorization',
  'headers.authorization',
  'headers["stripe-signature"]',
  'req.headers.authorization',
  'req.headers["stripe-signature"]',
  'payload',
  '*.payload',
  'card',
  '*.card',
  'token',
  '*.token',
];

let root: Logger | undefined;

/** The process's single root logger. Modules take `rootLogger().child({ module })`. */
export function rootLogger(env?: Env): Logger {
  if (!root) {
    const source = env ?? processEnv();
    const { LOG_LEVEL, NODE_ENV } = logEnv(source);
    root = pino({
      // Tests are quiet unless LOG_LEVEL asks otherwise.
      level: NODE_ENV === 'test' && !source.LOG_LEVEL ? 'silent' : LOG_LEVEL,
      base: { pid: process.pid },
      redact: { paths: REDACT, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
    });
  }
  return root;
}

export const moduleLogger = (module: string, fields: Record<string, unknown> = {}): Logger =>
  rootLogger().child({ module, ...fields });
