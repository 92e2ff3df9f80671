CREATE TABLE `hooks` (
	`id` text PRIMARY KEY NOT NULL,
	`secret` text NOT NULL,
	`pipeline` text NOT NULL,
	`group` text NOT NULL,
	`user` text NOT NULL,
	`created_at` integer NOT NULL
);
--> statement-breakpoint
CREATE TABLE `schedules` (
	`id` text PRIMARY KEY NOT NULL,
	`cron` text NOT NULL,
	`pipeline` text NOT NULL,
	`group` text NOT NULL,
	`variables` text NOT NULL,
	`user` text NOT NULL,
	`enabled` integer NOT NULL,
	`last_tick` integer,
	`created_at` integer NOT NULL
);
