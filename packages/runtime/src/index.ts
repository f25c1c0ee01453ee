export * from './env.js';
export * from './errors.js';
export * from './http.js';
export * from './lifecycle.js';
export * from './metrics.js';
export * from './same-origin.js';
export * from './timeout.js';
