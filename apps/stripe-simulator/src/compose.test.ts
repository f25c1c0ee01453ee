import { composeEnvironments } from '@billing/testing/compose';
import { describe, expect, it } from 'vitest';
import { loadSimulatorConfig } from './env.js';

// docker-compose.yml's stripe-simulator service, rendered as Compose would (no .env, and
// with .env.example): the simulator's own loader must accept it.
describe('the environment docker compose gives the stripe-simulator service', () => {
  it.each(composeEnvironments('stripe-simulator'))(
    'is accepted by its loader (%s)',
    (_label, env) => {
      expect(loadSimulatorConfig(env)).toMatchObject({
        host: '0.0.0.0',
        port: 12111,
        webhookUrl: 'http://ingress:3000/webhooks/stripe',
        webhookSecret: 'whsec_local_development_only',
        stateFile: undefined,
      });
    },
  );
});
