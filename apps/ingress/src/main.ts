import { loadOrExit } from '@billing/config';
import { configureLogger, rootLogger } from '@billing/logger';
import { loadIngressConfig } from './env.js';
import { startIngress } from './server.js';

const config = loadOrExit(() => loadIngressConfig());
configureLogger({ app: 'ingress' });
const logger = rootLogger();

try {
  await startIngress(config, { logger });
} catch (error) {
  logger.fatal({ reason: (error as Error).message }, 'ingress failed to start');
  process.exit(1);
}
