export * from './catalogue.js';
export * from './env.js';
export * from './scenarios/client.js';
export * from './scenarios/journey.js';
export * from './scenarios/plans.js';
export * from './scenarios/renewal-storm.js';
export * from './simulator.js';
export * from './webhooks.js';
