CREATE TABLE `projects` (
	`id` text PRIMARY KEY NOT NULL,
	`name` text NOT NULL,
	`repo_url` text NOT NULL,
	`forge` text NOT NULL,
	`api_url` text,
	`default_branch` text NOT NULL,
	`pipeline_path` text NOT NULL,
	`poll_ms` integer,
	`fork_approval` integer NOT NULL,
	`credentials` text,
	`hook_secret` text NOT NULL,
	`next_run_number` integer DEFAULT 1 NOT NULL,
	`user` text NOT NULL,
	`created_at` integer NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `projects_name` ON `projects` (`name`);--> statement-breakpoint
ALTER TABLE `runs` ADD `project_id` text;--> statement-breakpoint
ALTER TABLE `runs` ADD `project` text;--> statement-breakpoint
ALTER TABLE `runs` ADD `number` integer;--> statement-breakpoint
ALTER TABLE `runs` ADD `source` text;--> statement-breakpoint
CREATE UNIQUE INDEX `runs_project_number` ON `runs` (`project_id`,`number`);--> statement-breakpoint
CREATE INDEX `runs_project_id` ON `runs` (`project`,`id`);