CREATE TABLE `cluster_nodes` (
	`id` text PRIMARY KEY NOT NULL,
	`url` text NOT NULL,
	`started_at` integer NOT NULL,
	`last_seen_at` integer NOT NULL,
	`agents` integer DEFAULT 0 NOT NULL,
	`draining` integer DEFAULT false NOT NULL
);
--> statement-breakpoint
CREATE TABLE `duty_leases` (
	`name` text PRIMARY KEY NOT NULL,
	`holder` text DEFAULT '' NOT NULL,
	`epoch` integer DEFAULT 0 NOT NULL,
	`expires_at` integer DEFAULT 0 NOT NULL
);
