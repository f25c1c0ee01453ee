-- Runs once when the Postgres container creates its data directory.
CREATE EXTENSION IF NOT EXISTS pg_stat_statements;
