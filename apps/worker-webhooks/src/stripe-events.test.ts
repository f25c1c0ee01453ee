import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { eventHandlers } from './handlers/registry.js';
import { stripeEventsReport, stripeEventTypes, stripeListenCommand } from './stripe-events.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

describe('stripe:events', () => {
  it('lists exactly the event types the handler registry handles', () => {
    expect(stripeEventTypes()).toEqual(Object.keys(eventHandlers).sort());
  });

  it('prints a stripe listen line with every one of them as --events', () => {
    const line = stripeListenCommand('localhost:4000/webhooks/stripe');
    const events = /--events (\S+)/.exec(line)?.[1]?.split(',');
    expect(events).toEqual(Object.keys(eventHandlers).sort());
    expect(line).toMatch(/--forward-to localhost:4000\/webhooks\/stripe$/);
    expect(stripeEventsReport()).toContain(stripeListenCommand());
  });

  it('matches the stripe listen line in docs/try-it.md (regenerate with --listen)', () => {
    const doc = readFileSync(path.join(root, 'docs/try-it.md'), 'utf8');
    const documented = doc.split('\n').find((line) => line.trim().startsWith('stripe listen'));
    expect(documented?.trim()).toBe(stripeListenCommand());
  });
});
