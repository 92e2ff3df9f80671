DROP INDEX `attempts_agent_state`;--> statement-breakpoint
DROP INDEX `attempts_state`;--> statement-breakpoint
CREATE INDEX `attempts_agent_active` ON `attempts` (`agent_id`) WHERE "state" IN ('assigned', 'running');