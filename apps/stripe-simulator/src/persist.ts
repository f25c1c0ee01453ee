import fs from 'node:fs';
import path from 'node:path';
import type { Logger } from '@billing/logger';
import {
  type FakeStripeSnapshot,
  FakeStripeState,
  type FakeStripeStateOptions,
} from '@billing/stripe-fake';

/**
 * The simulated account survives restarts of `npm start` (the database does too, so a
 * subscription the API knows must still exist "at Stripe"). Written atomically (temp file
 * + rename) at most once per `debounceMs` after a change, and on shutdown.
 */

/** Events kept in the file: enough for `GET /v1/events` history, small enough to rewrite often. */
const EVENTS_KEPT = 1_000;

export function loadState(
  file: string,
  options: FakeStripeStateOptions,
  logger: Logger,
): FakeStripeState {
  if (!fs.existsSync(file)) return new FakeStripeState(options);
  try {
    const snapshot = JSON.parse(fs.readFileSync(file, 'utf8')) as FakeStripeSnapshot;
    const state = FakeStripeState.fromJSON(snapshot, options);
    logger.info(
      { file, customers: state.customers.size, subscriptions: state.subscriptions.size },
      'simulator state restored',
    );
    return state;
  } catch (error) {
    // A corrupt or incompatible file must not stop `npm start`: keep it aside, start empty.
    const aside = `${file}.broken-${Date.now()}`;
    fs.renameSync(file, aside);
    logger.warn(
      { file, movedTo: aside, reason: (error as Error).message },
      'simulator state unreadable; starting empty',
    );
    return new FakeStripeState(options);
  }
}

export interface StateWriter {
  /** Schedules a write. */
  changed(): void;
  /** Writes now if anything changed, and stops the timer. */
  flush(): void;
}

export function stateWriter(
  file: string,
  state: FakeStripeState,
  logger: Logger,
  debounceMs = 1_000,
): StateWriter {
  let timer: NodeJS.Timeout | undefined;
  let dirty = false;
  // A big account (a renewal storm of thousands) takes a while to serialise: write less often.
  let delay = debounceMs;
  const write = () => {
    timer = undefined;
    if (!dirty) return;
    dirty = false;
    const started = Date.now();
    try {
      fs.mkdirSync(path.dirname(file), { recursive: true });
      const temp = `${file}.${process.pid}.tmp`;
      fs.writeFileSync(temp, JSON.stringify(state.toJSON(EVENTS_KEPT)));
      fs.renameSync(temp, file);
      delay = Math.max(debounceMs, 10 * (Date.now() - started));
    } catch (error) {
      logger.warn({ file, reason: (error as Error).message }, 'could not save simulator state');
    }
  };
  return {
    changed() {
      dirty = true;
      timer ??= setTimeout(write, delay);
      timer.unref();
    },
    flush() {
      if (timer) clearTimeout(timer);
      write();
    },
  };
}
