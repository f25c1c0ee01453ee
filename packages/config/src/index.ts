export * from './env.js';
export * from './errors.js';
export * from './plans.js';
export * from './secrets.js';
export * from './user-id.js';
