import { HANDLED_EVENT_TYPES } from './handlers/event-types.js';

/** Where `npm start` and docker compose serve the ingress. */
export const DEFAULT_FORWARD_TO = 'localhost:3000/webhooks/stripe';

/** The Stripe event types a webhook endpoint for this system must send, sorted. */
export const stripeEventTypes = (): string[] => [...HANDLED_EVENT_TYPES].sort();

/** The `stripe listen` line that forwards exactly those events to the ingress. */
export const stripeListenCommand = (forwardTo = DEFAULT_FORWARD_TO): string =>
  `stripe listen --events ${stripeEventTypes().join(',')} --forward-to ${forwardTo}`;

/** The human-readable report `npm run stripe:events` prints. */
export function stripeEventsReport(forwardTo = DEFAULT_FORWARD_TO): string {
  const types = stripeEventTypes();
  return [
    `Stripe event types to enable on the webhook endpoint (${types.length}; from the worker's handler registry):`,
    '',
    ...types.map((type) => `  ${type}`),
    '',
    'Dashboard: Developers → Webhooks → your endpoint → "Select events", tick the ones above.',
    'Locally, with the Stripe CLI (prints the whsec_… to put into STRIPE_WEBHOOK_SECRETS):',
    '',
    `  ${stripeListenCommand(forwardTo)}`,
    '',
    'Other event types are acknowledged and recorded as ignored, so enabling more does no harm.',
  ].join('\n');
}
