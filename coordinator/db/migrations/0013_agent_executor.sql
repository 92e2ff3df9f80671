ALTER TABLE `agents` ADD `executor` text DEFAULT 'host' NOT NULL;--> statement-breakpoint
ALTER TABLE `agents` ADD `limits` text;