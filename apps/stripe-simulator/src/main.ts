import { loadOrExit, loadPlanList } from '@billing/config';
import { configureLogger, rootLogger } from '@billing/logger';
import { createLifecycle } from '@billing/runtime';
import { loadSimulatorConfig } from './env.js';
import { startSimulator } from './simulator.js';

// The Stripe simulator as a process: `npm start` runs it when STRIPE_SECRET_KEY is not set.
const config = loadOrExit(() => loadSimulatorConfig());
const catalogue = loadOrExit(() => loadPlanList(config.plansFile));
configureLogger({ app: 'stripe-simulator' });
const logger = rootLogger();

let simulator: Awaited<ReturnType<typeof startSimulator>>;
try {
  simulator = await startSimulator({
    port: config.port,
    host: config.host,
    publicUrl: config.publicUrl,
    webhookUrl: config.webhookUrl,
    webhookSecret: config.webhookSecret,
    catalogue,
    stateFile: config.stateFile,
    logger,
    webhooks: { maxAttempts: config.webhookAttempts, concurrency: config.webhookConcurrency },
  });
} catch (error) {
  logger.fatal(
    { reason: (error as Error).message, port: config.port },
    'stripe simulator failed to start',
  );
  process.exit(1);
}

createLifecycle(logger, [{ name: 'simulator', run: () => simulator.close() }]);
logger.info(
  {
    url: simulator.url,
    checkout: config.publicUrl,
    webhooks: config.webhookUrl,
    stateFile: config.stateFile ?? null,
  },
  'stripe simulator ready',
);
