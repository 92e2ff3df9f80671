CREATE TABLE `agent_cleanups` (
	`id` text PRIMARY KEY NOT NULL,
	`agent_id` text NOT NULL,
	`agent_name` text NOT NULL,
	`group` text NOT NULL,
	`host` text NOT NULL,
	`work_dir` text NOT NULL,
	`attempts` text NOT NULL,
	`created_at` integer NOT NULL,
	`sent_to` text,
	`done_at` integer,
	`report` text
);
--> statement-breakpoint
ALTER TABLE `agents` ADD `work_dir` text DEFAULT '' NOT NULL;