import { defineConfig } from 'drizzle-kit';

// Only `generate` is used: migrations are reviewed SQL committed under ./drizzle and applied
// by src/migrate.ts. `push` is never used, so what runs is what was reviewed.
export default defineConfig({
  dialect: 'postgresql',
  schema: './src/schema/index.ts',
  out: './drizzle',
});
