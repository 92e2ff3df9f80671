CREATE TABLE `run_fences` (
	`ok` integer NOT NULL
);
--> statement-breakpoint
ALTER TABLE `agents` ADD `node_id` text;--> statement-breakpoint
ALTER TABLE `attempts` ADD `cancel_requested_at` integer;--> statement-breakpoint
ALTER TABLE `runs` ADD `owner_node` text;--> statement-breakpoint
ALTER TABLE `runs` ADD `owner_epoch` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `runs` ADD `owner_expires_at` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
CREATE INDEX `runs_phase_owner` ON `runs` (`phase`,`owner_expires_at`);