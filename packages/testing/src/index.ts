export * from './context.js';
export * from './ports.js';
export * from './processes.js';
export * from './services.js';
