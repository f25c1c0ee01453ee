import { type Env, logEnv, processEnv } from '@billing/config';
import pino, { type DestinationStream, type Logger } from 'pino';
import { formatLine } from './pretty.js';

export type { Logger } from 'pino';
export { formatLine } from './pretty.js';

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

export interface LoggerSettings {
  /**
   * The process's name (`ingress`, `api`, `ops-backfill`, …), the `app` field of every line.
   * Parts of a process are told apart by `module` (`rootLogger().child({ module })`).
   */
  app?: string;
  /** Where lines go. CLIs log to stderr so stdout carries only their report. */
  destination?: 'stdout' | 'stderr';
}

let settings: LoggerSettings = {};
let root: Logger | undefined;

/**
 * Names the process and picks its log destination; call first thing in a main. `app` may be
 * set after modules created their loggers at import time (it is added per line); the
 * destination is read per line too.
 */
export function configureLogger(next: LoggerSettings): void {
  settings = { ...settings, ...next };
}

const target = () => (settings.destination === 'stderr' ? process.stderr : process.stdout);

/**
 * Pretty (one readable line per log, the app first) when LOG_FORMAT=pretty, or when it is
 * unset, the destination is a terminal and NODE_ENV is not production. JSON otherwise: what
 * log shippers and `docker compose logs` consumers expect.
 */
function usePretty(format: 'json' | 'pretty' | undefined, production: boolean): boolean {
  if (format) return format === 'pretty';
  return !production && Boolean(target().isTTY);
}

function destination(pretty: boolean): DestinationStream {
  // hasColors() honours NO_COLOR / FORCE_COLOR and the terminal's depth.
  const color = pretty && Boolean(target().isTTY) && target().hasColors?.() === true;
  return {
    write(line: string) {
      target().write(pretty ? formatLine(line, { color }) : line);
    },
  };
}

/** The process's single root logger. Modules take `rootLogger().child({ module })`. */
export function rootLogger(env?: Env): Logger {
  if (!root) {
    const source = env ?? processEnv();
    const { LOG_LEVEL, NODE_ENV, LOG_FORMAT } = logEnv(source);
    root = pino(
      {
        // Tests are quiet unless LOG_LEVEL asks otherwise.
        level: NODE_ENV === 'test' && !source.LOG_LEVEL ? 'silent' : LOG_LEVEL,
        base: { pid: process.pid },
        // Per line rather than in `base`, so configureLogger may name the app after modules
        // created their (module-level) loggers.
        mixin: () => (settings.app ? { app: settings.app } : {}),
        redact: { paths: REDACT, censor: '[redacted]' },
        timestamp: pino.stdTimeFunctions.isoTime,
      },
      destination(usePretty(LOG_FORMAT, NODE_ENV === 'production')),
    );
  }
  return root;
}

export const moduleLogger = (module: string, fields: Record<string, unknown> = {}): Logger =>
  rootLogger().child({ module, ...fields });
