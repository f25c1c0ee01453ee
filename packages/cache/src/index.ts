export * from './invalidate.js';
export * from './keys.js';
