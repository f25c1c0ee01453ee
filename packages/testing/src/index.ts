export * from './context.js';
export * from './services.js';
