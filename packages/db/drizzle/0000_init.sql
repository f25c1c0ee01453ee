CREATE TYPE "public"."api_key_scope" AS ENUM('user', 'service');--> statement-breakpoint
CREATE TYPE "public"."sync_cursor_status" AS ENUM('running', 'complete', 'incomplete');--> statement-breakpoint
CREATE TYPE "public"."webhook_event_status" AS ENUM('received', 'processed', 'ignored', 'failed');--> statement-breakpoint
CREATE TABLE "api_keys" (
	"id" text PRIMARY KEY NOT NULL,
	"key_hash" text NOT NULL,
	"key_prefix" text NOT NULL,
	"scope" "api_key_scope" NOT NULL,
	"user_id" text,
	"name" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"last_used_at" timestamp with time zone,
	"revoked_at" timestamp with time zone
);
--> statement-breakpoint
CREATE TABLE "api_metrics" (
	"bucket_start" timestamp with time zone NOT NULL,
	"method" text NOT NULL,
	"endpoint" text NOT NULL,
	"requests" integer NOT NULL,
	"errors" integer NOT NULL,
	"client_errors" integer DEFAULT 0 NOT NULL,
	"slow" integer DEFAULT 0 NOT NULL,
	"total_ms" bigint NOT NULL,
	"min_ms" integer NOT NULL,
	"max_ms" integer NOT NULL,
	"histogram" jsonb NOT NULL,
	CONSTRAINT "api_metrics_pkey" PRIMARY KEY("bucket_start","method","endpoint")
);
--> statement-breakpoint
CREATE TABLE "performance_issues" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"occurred_at" timestamp with time zone DEFAULT now() NOT NULL,
	"method" text NOT NULL,
	"endpoint" text NOT NULL,
	"duration_ms" integer NOT NULL,
	"target_ms" integer NOT NULL,
	"status_code" integer NOT NULL,
	"request_id" text,
	"user_id" text
);
--> statement-breakpoint
CREATE TABLE "plans" (
	"id" text PRIMARY KEY NOT NULL,
	"name" text NOT NULL,
	"description" text,
	"month_price" text,
	"year_price" text,
	"limits" jsonb NOT NULL,
	"features" jsonb DEFAULT '[]'::jsonb NOT NULL,
	"sort_order" integer DEFAULT 0 NOT NULL,
	"is_free" boolean DEFAULT false NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "prices" (
	"id" text PRIMARY KEY NOT NULL,
	"product_id" text,
	"active" boolean DEFAULT true NOT NULL,
	"deleted" boolean DEFAULT false NOT NULL,
	"currency" text NOT NULL,
	"unit_amount" bigint,
	"type" text NOT NULL,
	"recurring_interval" text,
	"recurring_interval_count" integer,
	"lookup_key" text,
	"nickname" text,
	"metadata" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"created_at" timestamp with time zone,
	"account" text,
	"livemode" boolean DEFAULT false NOT NULL,
	"last_event_id" text NOT NULL,
	"last_event_created" timestamp with time zone NOT NULL,
	"last_event_rank" smallint DEFAULT 0 NOT NULL,
	"synced_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "products" (
	"id" text PRIMARY KEY NOT NULL,
	"name" text NOT NULL,
	"description" text,
	"active" boolean DEFAULT true NOT NULL,
	"deleted" boolean DEFAULT false NOT NULL,
	"metadata" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"created_at" timestamp with time zone,
	"account" text,
	"livemode" boolean DEFAULT false NOT NULL,
	"last_event_id" text NOT NULL,
	"last_event_created" timestamp with time zone NOT NULL,
	"last_event_rank" smallint DEFAULT 0 NOT NULL,
	"synced_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "customers" (
	"id" text PRIMARY KEY NOT NULL,
	"user_id" text,
	"email" text,
	"name" text,
	"currency" text,
	"deleted" boolean DEFAULT false NOT NULL,
	"metadata" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"created_at" timestamp with time zone,
	"account" text,
	"livemode" boolean DEFAULT false NOT NULL,
	"last_event_id" text NOT NULL,
	"last_event_created" timestamp with time zone NOT NULL,
	"last_event_rank" smallint DEFAULT 0 NOT NULL,
	"synced_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "invoice_payments" (
	"id" text PRIMARY KEY NOT NULL,
	"invoice_id" text NOT NULL,
	"status" text NOT NULL,
	"currency" text NOT NULL,
	"amount_paid" bigint,
	"amount_requested" bigint DEFAULT 0 NOT NULL,
	"is_default" boolean DEFAULT false NOT NULL,
	"payment_intent_id" text,
	"paid_at" timestamp with time zone,
	"created_at" timestamp with time zone,
	"account" text,
	"livemode" boolean DEFAULT false NOT NULL,
	"last_event_id" text NOT NULL,
	"last_event_created" timestamp with time zone NOT NULL,
	"last_event_rank" smallint DEFAULT 0 NOT NULL,
	"synced_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "invoices" (
	"id" text PRIMARY KEY NOT NULL,
	"customer_id" text,
	"subscription_id" text,
	"user_id" text,
	"status" text,
	"currency" text NOT NULL,
	"amount_due" bigint DEFAULT 0 NOT NULL,
	"amount_paid" bigint DEFAULT 0 NOT NULL,
	"amount_remaining" bigint DEFAULT 0 NOT NULL,
	"subtotal" bigint,
	"total" bigint,
	"billing_reason" text,
	"number" text,
	"hosted_invoice_url" text,
	"attempt_count" integer DEFAULT 0 NOT NULL,
	"next_payment_attempt" timestamp with time zone,
	"paid" boolean DEFAULT false NOT NULL,
	"paid_at" timestamp with time zone,
	"period_start" timestamp with time zone,
	"period_end" timestamp with time zone,
	"last_payment_error" text,
	"metadata" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"created_at" timestamp with time zone,
	"account" text,
	"livemode" boolean DEFAULT false NOT NULL,
	"last_event_id" text NOT NULL,
	"last_event_created" timestamp with time zone NOT NULL,
	"last_event_rank" smallint DEFAULT 0 NOT NULL,
	"synced_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "sync_cursors" (
	"id" text PRIMARY KEY NOT NULL,
	"resource" text NOT NULL,
	"status" "sync_cursor_status" NOT NULL,
	"cursor" text,
	"processed" integer DEFAULT 0 NOT NULL,
	"drifted" integer DEFAULT 0 NOT NULL,
	"error" text,
	"report" jsonb,
	"started_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	"finished_at" timestamp with time zone
);
--> statement-breakpoint
CREATE TABLE "entitlements" (
	"customer_id" text PRIMARY KEY NOT NULL,
	"user_id" text,
	"features" jsonb DEFAULT '[]'::jsonb NOT NULL,
	"account" text,
	"livemode" boolean DEFAULT false NOT NULL,
	"last_event_id" text NOT NULL,
	"last_event_created" timestamp with time zone NOT NULL,
	"last_event_rank" smallint DEFAULT 0 NOT NULL,
	"synced_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "subscription_items" (
	"id" text PRIMARY KEY NOT NULL,
	"subscription_id" text NOT NULL,
	"price_id" text,
	"quantity" integer DEFAULT 1 NOT NULL,
	"current_period_start" timestamp with time zone,
	"current_period_end" timestamp with time zone,
	"metadata" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"created_at" timestamp with time zone,
	"account" text,
	"livemode" boolean DEFAULT false NOT NULL,
	"last_event_id" text NOT NULL,
	"last_event_created" timestamp with time zone NOT NULL,
	"last_event_rank" smallint DEFAULT 0 NOT NULL,
	"synced_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "subscription_schedules" (
	"id" text PRIMARY KEY NOT NULL,
	"customer_id" text,
	"subscription_id" text,
	"status" text NOT NULL,
	"phases" jsonb DEFAULT '[]'::jsonb NOT NULL,
	"end_behavior" text,
	"metadata" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"created_at" timestamp with time zone,
	"account" text,
	"livemode" boolean DEFAULT false NOT NULL,
	"last_event_id" text NOT NULL,
	"last_event_created" timestamp with time zone NOT NULL,
	"last_event_rank" smallint DEFAULT 0 NOT NULL,
	"synced_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "subscriptions" (
	"id" text PRIMARY KEY NOT NULL,
	"customer_id" text NOT NULL,
	"user_id" text,
	"status" text NOT NULL,
	"plan_id" text,
	"price_id" text,
	"interval" text,
	"quantity" integer DEFAULT 1 NOT NULL,
	"current_period_start" timestamp with time zone,
	"current_period_end" timestamp with time zone,
	"cancel_at_period_end" boolean DEFAULT false NOT NULL,
	"cancel_at" timestamp with time zone,
	"canceled_at" timestamp with time zone,
	"ended_at" timestamp with time zone,
	"trial_start" timestamp with time zone,
	"trial_end" timestamp with time zone,
	"pause_collection" jsonb,
	"pending_update" jsonb,
	"schedule_id" text,
	"metadata" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"created_at" timestamp with time zone,
	"account" text,
	"livemode" boolean DEFAULT false NOT NULL,
	"last_event_id" text NOT NULL,
	"last_event_created" timestamp with time zone NOT NULL,
	"last_event_rank" smallint DEFAULT 0 NOT NULL,
	"synced_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "usage_aggregates" (
	"user_id" text NOT NULL,
	"metric" text NOT NULL,
	"period_start" timestamp with time zone NOT NULL,
	"quantity" bigint NOT NULL,
	"record_count" bigint NOT NULL,
	"last_rollup_id" bigint NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "usage_aggregates_pkey" PRIMARY KEY("user_id","metric","period_start")
);
--> statement-breakpoint
CREATE TABLE "usage_ledger" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"user_id" text NOT NULL,
	"metric" text NOT NULL,
	"quantity" bigint NOT NULL,
	"occurred_at" timestamp with time zone NOT NULL,
	"period_start" timestamp with time zone NOT NULL,
	"idempotency_key" text NOT NULL,
	"corrects_key" text,
	"original_period_start" timestamp with time zone,
	"rollup_id" bigint,
	"metadata" jsonb,
	"received_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "usage_meter_reports" (
	"user_id" text NOT NULL,
	"metric" text NOT NULL,
	"period_start" timestamp with time zone NOT NULL,
	"customer_id" text,
	"reported_quantity" bigint DEFAULT 0 NOT NULL,
	"pending_quantity" bigint,
	"pending_identifier" text,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "usage_meter_reports_pkey" PRIMARY KEY("user_id","metric","period_start")
);
--> statement-breakpoint
CREATE TABLE "usage_rollups" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"user_id" text,
	"status" text DEFAULT 'running' NOT NULL,
	"rows_claimed" bigint DEFAULT 0 NOT NULL,
	"chunks" bigint DEFAULT 0 NOT NULL,
	"ledger_bound" bigint,
	"started_at" timestamp with time zone DEFAULT now() NOT NULL,
	"finished_at" timestamp with time zone,
	"error" text
);
--> statement-breakpoint
CREATE TABLE "webhook_events" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"event_id" text NOT NULL,
	"type" text NOT NULL,
	"api_version" text,
	"account" text,
	"livemode" boolean DEFAULT false NOT NULL,
	"created" timestamp with time zone NOT NULL,
	"object_id" text,
	"payload" jsonb NOT NULL,
	"status" "webhook_event_status" DEFAULT 'received' NOT NULL,
	"attempts" integer DEFAULT 0 NOT NULL,
	"error" text,
	"received_at" timestamp with time zone DEFAULT now() NOT NULL,
	"processed_at" timestamp with time zone
);
--> statement-breakpoint
CREATE UNIQUE INDEX "api_keys_key_hash_key" ON "api_keys" USING btree ("key_hash");--> statement-breakpoint
CREATE INDEX "api_keys_user_id_idx" ON "api_keys" USING btree ("user_id") WHERE "api_keys"."user_id" is not null;--> statement-breakpoint
CREATE INDEX "api_metrics_endpoint_bucket_idx" ON "api_metrics" USING btree ("endpoint","bucket_start");--> statement-breakpoint
CREATE INDEX "performance_issues_occurred_at_idx" ON "performance_issues" USING btree ("occurred_at");--> statement-breakpoint
CREATE INDEX "prices_lookup_key_idx" ON "prices" USING btree ("lookup_key") WHERE "prices"."lookup_key" is not null;--> statement-breakpoint
CREATE INDEX "customers_user_id_idx" ON "customers" USING btree ("user_id") WHERE "customers"."user_id" is not null;--> statement-breakpoint
CREATE INDEX "invoice_payments_invoice_id_idx" ON "invoice_payments" USING btree ("invoice_id");--> statement-breakpoint
CREATE INDEX "invoices_customer_id_idx" ON "invoices" USING btree ("customer_id","created_at" DESC NULLS LAST);--> statement-breakpoint
CREATE INDEX "invoices_subscription_id_idx" ON "invoices" USING btree ("subscription_id");--> statement-breakpoint
CREATE INDEX "subscription_items_subscription_id_idx" ON "subscription_items" USING btree ("subscription_id");--> statement-breakpoint
CREATE INDEX "subscription_schedules_subscription_id_idx" ON "subscription_schedules" USING btree ("subscription_id");--> statement-breakpoint
CREATE INDEX "subscriptions_active_by_user_idx" ON "subscriptions" USING btree ("user_id","created_at" DESC NULLS LAST) WHERE "subscriptions"."status" in ('active', 'trialing', 'past_due');--> statement-breakpoint
CREATE INDEX "subscriptions_user_id_idx" ON "subscriptions" USING btree ("user_id","created_at" DESC NULLS LAST);--> statement-breakpoint
CREATE INDEX "subscriptions_customer_id_idx" ON "subscriptions" USING btree ("customer_id");--> statement-breakpoint
CREATE UNIQUE INDEX "usage_ledger_user_key_key" ON "usage_ledger" USING btree ("user_id","idempotency_key");--> statement-breakpoint
CREATE INDEX "usage_ledger_user_time_idx" ON "usage_ledger" USING btree ("user_id","occurred_at") WHERE "usage_ledger"."quantity" > 0;--> statement-breakpoint
CREATE INDEX "usage_ledger_tail_idx" ON "usage_ledger" USING btree ("user_id","metric","period_start","quantity") WHERE "usage_ledger"."rollup_id" is null;--> statement-breakpoint
CREATE INDEX "usage_ledger_corrects_idx" ON "usage_ledger" USING btree ("user_id","corrects_key") WHERE "usage_ledger"."corrects_key" is not null;--> statement-breakpoint
CREATE UNIQUE INDEX "webhook_events_event_id_key" ON "webhook_events" USING btree ("event_id");--> statement-breakpoint
CREATE INDEX "webhook_events_status_processed_at_idx" ON "webhook_events" USING btree ("status","processed_at" DESC NULLS LAST);--> statement-breakpoint
CREATE INDEX "webhook_events_failed_type_created_idx" ON "webhook_events" USING btree ("type","created") WHERE "webhook_events"."status" = 'failed';