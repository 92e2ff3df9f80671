DROP INDEX `runs_group_created`;--> statement-breakpoint
CREATE INDEX `runs_group_id` ON `runs` (`group`,`id`);