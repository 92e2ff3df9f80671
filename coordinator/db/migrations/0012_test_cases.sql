CREATE TABLE `test_cases` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`run_id` text NOT NULL,
	`task` text NOT NULL,
	`attempt_id` text NOT NULL,
	`attempt` integer NOT NULL,
	`step` integer NOT NULL,
	`file` text NOT NULL,
	`suite` text NOT NULL,
	`name` text NOT NULL,
	`status` text NOT NULL,
	`duration_ms` real,
	`message` text,
	`details` text,
	FOREIGN KEY (`run_id`) REFERENCES `runs`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `test_cases_run` ON `test_cases` (`run_id`,`task`);