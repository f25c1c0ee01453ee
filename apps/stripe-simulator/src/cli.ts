import { parseArgs } from 'node:util';
import { ConfigError, loadPlanList } from '@billing/config';
import { loadScenarioConfig } from './env.js';
import { clients, ScenarioError } from './scenarios/client.js';
import { journey } from './scenarios/journey.js';
import { scenarioPlans } from './scenarios/plans.js';
import { renewalStorm } from './scenarios/renewal-storm.js';

/**
 * `npm run simulate -- <scenario> [options]`: replays a realistic Stripe journey through the
 * running system (`npm start` in simulator mode, in another terminal).
 */
const USAGE = `usage: npm run simulate -- <scenario> [options]

scenarios:
  journey                     signup → checkout → active → invoice paid → usage → upgrade with
                              proration → payment failed → past_due → recovered → cancel at
                              period end → deleted
      --user <id>             the user id (default: a new journey_… user)
  renewal-storm               N customers renew at the same moment
      --customers <n>         how many (default 25)
      --fail-rate <0..1>      share of renewals whose card declines (default 0)

options:
  --timeout <seconds>         how long to wait for the webhooks to land (default 30; storm 120)

environment: API_PORT (3001), STRIPE_SIMULATOR_PORT (12111), BILLING_SERVICE_TOKEN, PLANS_FILE
(the plans to buy and upgrade to: the first two paid plans with a monthly price),
SIMULATE_API_URL / SIMULATE_STRIPE_URL to point elsewhere.`;

async function main(): Promise<number> {
  const { positionals, values } = parseArgs({
    allowPositionals: true,
    options: {
      user: { type: 'string' },
      customers: { type: 'string', default: '25' },
      'fail-rate': { type: 'string', default: '0' },
      timeout: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const [scenario] = positionals;
  if (values.help || !scenario) {
    process.stdout.write(`${USAGE}\n`);
    return scenario || values.help ? 0 : 2;
  }
  const timeoutMs = values.timeout === undefined ? undefined : Number(values.timeout) * 1000;
  if (timeoutMs !== undefined && !(timeoutMs > 0))
    throw new ScenarioError('--timeout must be a positive number of seconds');
  const config = loadScenarioConfig();
  const connected = clients(config);
  const plans = scenarioPlans(loadPlanList(config.plansFile), config.plansFile);

  if (scenario === 'journey') {
    await journey(connected, { userId: values.user, timeoutMs, plans });
    return 0;
  }
  if (scenario === 'renewal-storm') {
    const customers = Number(values.customers);
    if (!Number.isInteger(customers) || customers < 1 || customers > 10_000) {
      throw new ScenarioError('--customers must be a whole number from 1 to 10000');
    }
    const failRate = Number(values['fail-rate']);
    if (!(failRate >= 0 && failRate <= 1))
      throw new ScenarioError('--fail-rate must be between 0 and 1');
    await renewalStorm(connected, { customers, failRate, timeoutMs, prices: plans.prices });
    return 0;
  }
  console.error(`unknown scenario "${scenario}"\n\n${USAGE}`);
  return 2;
}

try {
  process.exitCode = await main();
} catch (error) {
  if (
    error instanceof ScenarioError ||
    error instanceof ConfigError ||
    (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')
  ) {
    console.error(`\nsimulate: ${(error as Error).message}`);
    process.exitCode = 1;
  } else {
    throw error;
  }
}
