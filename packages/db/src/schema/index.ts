export * from './api.js';
export * from './catalog.js';
export * from './columns.js';
export * from './customers.js';
export * from './invoices.js';
export * from './subscriptions.js';
export * from './usage.js';
export * from './webhooks.js';
