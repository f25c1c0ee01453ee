export * from './client.js';
export * from './scripts.js';
