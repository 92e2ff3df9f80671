CREATE TABLE `artifacts` (
	`run_id` text NOT NULL,
	`task` text NOT NULL,
	`attempt_id` text NOT NULL,
	`path` text NOT NULL,
	`object` text NOT NULL,
	`size` integer NOT NULL,
	`sha256` text NOT NULL,
	`created_at` integer NOT NULL,
	PRIMARY KEY(`run_id`, `task`, `path`),
	FOREIGN KEY (`run_id`) REFERENCES `runs`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE TABLE `caches` (
	`group` text NOT NULL,
	`key` text NOT NULL,
	`object` text NOT NULL,
	`size` integer NOT NULL,
	`created_at` integer NOT NULL,
	`last_used_at` integer NOT NULL,
	PRIMARY KEY(`group`, `key`)
);
--> statement-breakpoint
CREATE INDEX `caches_group_created` ON `caches` (`group`,`created_at`);--> statement-breakpoint
ALTER TABLE `steps` ADD `archive_object` text;