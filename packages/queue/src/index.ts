export * from './catalog.js';
export * from './queues.js';
export * from './redis.js';
export * from './scripts.js';
