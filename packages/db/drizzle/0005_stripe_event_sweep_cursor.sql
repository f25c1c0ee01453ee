CREATE TABLE "stripe_event_sweeps" (
	"id" text PRIMARY KEY NOT NULL,
	"swept_through" timestamp with time zone NOT NULL,
	"recovered" integer DEFAULT 0 NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
