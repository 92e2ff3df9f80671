CREATE INDEX `attempts_ready` ON `attempts` (`ready_at`);--> statement-breakpoint
CREATE INDEX `attempts_agent_ready` ON `attempts` (`agent_id`,`ready_at`);