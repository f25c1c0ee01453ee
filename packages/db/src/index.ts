export * from './client.js';
export { ensureDatabase, MIGRATIONS_FOLDER, runMigrations } from './migrate.js';
export * as schema from './schema/index.js';
export * from './schema/index.js';
export { seedPlans } from './seed.js';
