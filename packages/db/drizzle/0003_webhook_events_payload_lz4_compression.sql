-- Raw Stripe payloads (3-5 KB of JSON) are compressed when TOASTed; lz4 costs a fraction of
-- pglz's CPU for the same job, and the webhook worker writes one payload per event.
-- Existing rows keep their compression until rewritten; new rows use lz4.
ALTER TABLE "webhook_events" ALTER COLUMN "payload" SET COMPRESSION lz4;
