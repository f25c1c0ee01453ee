export * from './billing-portal.js';
export * from './errors.js';
export * from './factories.js';
export * from './fixtures.js';
export * from './ids.js';
export * from './server.js';
export * from './sign.js';
export * from './state.js';
