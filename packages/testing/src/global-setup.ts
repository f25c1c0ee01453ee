import type { TestProject } from 'vitest/node';
import { prepareTemplate, resolveServices, stopContainers } from './services.js';

/** vitest globalSetup of the integration project: find the services, build the template DB. */
export default async function setup(project: TestProject) {
  const services = await resolveServices();
  await prepareTemplate(services.databaseUrl);
  project.provide('services', services);
  return async () => {
    await stopContainers();
  };
}
