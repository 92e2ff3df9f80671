/**
 * What an agent's hello may say of itself at most (agent-messages.ts). The agent checks its flags against the same
 * bounds as it starts; kept apart from the schemas, which an idle agent does not load.
 */
export const AGENT_BOUNDS = { name: 128, group: 128, labelKey: 128, labelValue: 512, capacity: 1024 } as const;
