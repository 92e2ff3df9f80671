CREATE TABLE `deliveries` (
	`id` text PRIMARY KEY NOT NULL,
	`project_id` text NOT NULL,
	`project` text NOT NULL,
	`forge` text,
	`event` text,
	`delivery_id` text,
	`claim` text,
	`ref` text,
	`received_at` integer NOT NULL,
	`outcome` text NOT NULL,
	`reason` text,
	`run_id` text,
	`run_number` integer,
	`status` integer NOT NULL,
	FOREIGN KEY (`project_id`) REFERENCES `projects`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE UNIQUE INDEX `deliveries_claim` ON `deliveries` (`project_id`,`claim`);--> statement-breakpoint
CREATE INDEX `deliveries_project_received` ON `deliveries` (`project_id`,`received_at`);--> statement-breakpoint
CREATE TABLE `polled_heads` (
	`project_id` text NOT NULL,
	`ref` text NOT NULL,
	`sha` text NOT NULL,
	`seen_at` integer NOT NULL,
	PRIMARY KEY(`project_id`, `ref`),
	FOREIGN KEY (`project_id`) REFERENCES `projects`(`id`) ON UPDATE no action ON DELETE cascade
);
