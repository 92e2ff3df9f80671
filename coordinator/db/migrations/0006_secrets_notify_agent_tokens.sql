CREATE TABLE `agent_tokens` (
	`id` text PRIMARY KEY NOT NULL,
	`hash` text NOT NULL,
	`group` text NOT NULL,
	`created_at` integer NOT NULL,
	`revoked_at` integer
);
--> statement-breakpoint
CREATE UNIQUE INDEX `agent_tokens_hash` ON `agent_tokens` (`hash`);--> statement-breakpoint
CREATE TABLE `group_values` (
	`group` text NOT NULL,
	`name` text NOT NULL,
	`secret` integer NOT NULL,
	`value` text NOT NULL,
	`updated_at` integer NOT NULL,
	PRIMARY KEY(`group`, `name`)
);
--> statement-breakpoint
ALTER TABLE `run_groups` ADD `notify_url` text;--> statement-breakpoint
ALTER TABLE `run_groups` ADD `notify_secret` text;