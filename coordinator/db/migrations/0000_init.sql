CREATE TABLE `agents` (
	`id` text PRIMARY KEY NOT NULL,
	`name` text NOT NULL,
	`host` text NOT NULL,
	`archs` text NOT NULL,
	`group` text NOT NULL,
	`labels` text NOT NULL,
	`capacity` integer NOT NULL,
	`resources` text NOT NULL,
	`dynamic` integer NOT NULL,
	`version` text NOT NULL,
	`state` text NOT NULL,
	`credential_hash` text NOT NULL,
	`lease_expires_at` integer NOT NULL,
	`last_heartbeat_at` integer NOT NULL,
	`created_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `agents_state` ON `agents` (`state`);--> statement-breakpoint
CREATE TABLE `attempts` (
	`id` text PRIMARY KEY NOT NULL,
	`run_id` text NOT NULL,
	`task_id` text NOT NULL,
	`task_name` text NOT NULL,
	`number` integer NOT NULL,
	`agent_id` text,
	`state` text NOT NULL,
	`exit_code` integer,
	`error` text,
	`digest` text NOT NULL,
	`ready_at` integer NOT NULL,
	`assigned_at` integer,
	`started_at` integer,
	`keepalive_at` integer,
	`ended_at` integer,
	`cpu_seconds` real,
	`peak_rss_bytes` integer,
	FOREIGN KEY (`run_id`) REFERENCES `runs`(`id`) ON UPDATE no action ON DELETE cascade,
	FOREIGN KEY (`task_id`) REFERENCES `tasks`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `attempts_task` ON `attempts` (`task_id`,`number`);--> statement-breakpoint
CREATE INDEX `attempts_run` ON `attempts` (`run_id`);--> statement-breakpoint
CREATE INDEX `attempts_name_ready` ON `attempts` (`task_name`,`ready_at`);--> statement-breakpoint
CREATE INDEX `attempts_digest_ready` ON `attempts` (`digest`,`ready_at`);--> statement-breakpoint
CREATE INDEX `attempts_agent_state` ON `attempts` (`agent_id`,`state`);--> statement-breakpoint
CREATE INDEX `attempts_state` ON `attempts` (`state`);--> statement-breakpoint
CREATE TABLE `events` (
	`seq` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`run_id` text NOT NULL,
	`kind` text NOT NULL,
	`data` text NOT NULL,
	`at` integer DEFAULT (unixepoch('subsec') * 1000) NOT NULL
);
--> statement-breakpoint
CREATE INDEX `events_run_seq` ON `events` (`run_id`,`seq`);--> statement-breakpoint
CREATE TABLE `object_owners` (
	`key` text NOT NULL,
	`owner` text NOT NULL,
	PRIMARY KEY(`key`, `owner`),
	FOREIGN KEY (`key`) REFERENCES `objects`(`key`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `object_owners_owner` ON `object_owners` (`owner`);--> statement-breakpoint
CREATE TABLE `objects` (
	`key` text PRIMARY KEY NOT NULL,
	`kind` text NOT NULL,
	`size` integer NOT NULL,
	`sha256` text NOT NULL,
	`created_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `objects_kind_created` ON `objects` (`kind`,`created_at`);--> statement-breakpoint
CREATE TABLE `runs` (
	`id` text PRIMARY KEY NOT NULL,
	`group` text NOT NULL,
	`user` text NOT NULL,
	`pipeline` text NOT NULL,
	`pipeline_file` text NOT NULL,
	`variables` text NOT NULL,
	`workspace` text,
	`phase` text NOT NULL,
	`result` text NOT NULL,
	`error` text,
	`created_at` integer NOT NULL,
	`started_at` integer,
	`ended_at` integer
);
--> statement-breakpoint
CREATE INDEX `runs_group_created` ON `runs` (`group`,`created_at`);--> statement-breakpoint
CREATE INDEX `runs_created` ON `runs` (`created_at`);--> statement-breakpoint
CREATE TABLE `steps` (
	`attempt_id` text NOT NULL,
	`idx` integer NOT NULL,
	`name` text NOT NULL,
	`kind` text NOT NULL,
	`status` text NOT NULL,
	`exit_code` integer,
	`error` text,
	`started_at` integer,
	`ended_at` integer,
	`first_byte_at` real,
	`log_object` text,
	`log_size` integer DEFAULT 0 NOT NULL,
	PRIMARY KEY(`attempt_id`, `idx`),
	FOREIGN KEY (`attempt_id`) REFERENCES `attempts`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE TABLE `tasks` (
	`id` text PRIMARY KEY NOT NULL,
	`run_id` text NOT NULL,
	`name` text NOT NULL,
	`level` integer NOT NULL,
	`spec` text NOT NULL,
	`status` text NOT NULL,
	`status_message` text,
	`annotations` text NOT NULL,
	`started_at` integer,
	`ended_at` integer,
	FOREIGN KEY (`run_id`) REFERENCES `runs`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE UNIQUE INDEX `tasks_run_name` ON `tasks` (`run_id`,`name`);