// Prints the Stripe event types to enable and the matching `stripe listen` line. Imports only
// the event-type list, so it answers at once (no database, Redis or Stripe client).
import { parseArgs } from 'node:util';
import {
  DEFAULT_FORWARD_TO,
  stripeEventsReport,
  stripeEventTypes,
  stripeListenCommand,
} from '../stripe-events.js';

const USAGE = `usage: npm run stripe:events -- [--forward-to HOST:PORT/PATH] [--list | --listen | --json]

  (no option)     the event types, how to enable them, and the stripe listen line
  --list          the event types only, one per line
  --listen        the stripe listen line only
  --json          {"events": [...], "listen": "stripe listen ..."}
  --forward-to    where stripe listen forwards (default ${DEFAULT_FORWARD_TO})`;

const options = {
  'forward-to': { type: 'string', default: DEFAULT_FORWARD_TO },
  list: { type: 'boolean' },
  listen: { type: 'boolean' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;
let args: ReturnType<typeof parseArgs<{ options: typeof options }>>['values'];
try {
  args = parseArgs({ options, strict: true }).values;
} catch (error) {
  console.error(`${(error as Error).message}\n\n${USAGE}`);
  process.exit(2);
}

const forwardTo = args['forward-to'];
if (args.help) console.log(USAGE);
else if (args.list) console.log(stripeEventTypes().join('\n'));
else if (args.listen) console.log(stripeListenCommand(forwardTo));
else if (args.json) {
  console.log(
    JSON.stringify({ events: stripeEventTypes(), listen: stripeListenCommand(forwardTo) }, null, 2),
  );
} else console.log(stripeEventsReport(forwardTo));
