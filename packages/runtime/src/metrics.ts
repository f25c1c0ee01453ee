import { collectDefaultMetrics, Registry } from 'prom-client';

/** A registry per process with Node's default metrics, labelled with the app name. */
export function createRegistry(app: string): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ app });
  collectDefaultMetrics({ register: registry });
  return registry;
}
