export * from './cache.js';
export * from './invalidate.js';
export * from './keys.js';
export * from './metrics.js';
