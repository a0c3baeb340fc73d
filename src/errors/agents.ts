/** Errors of coding agents run from chat, and of the users' secrets (API keys) they need. */
export const AGENTS_ERRORS = {
  AGENT_OFF: "The user's plan has no coding agent: ask the operator for a plan with one (`berth plan set PLAN --agent edit`).",
  NO_AGENT: "The VM's image has no coding agent: ask the operator to rebuild it on the agent image (--template agent).",
  NO_AGENT_KEY: "The user has not given the agent's API key yet: send /setkey NAME YOUR_KEY (the message is deleted at once).",
  AGENT_BUSY: 'The agent is still working and one message is already waiting: wait for the answer, or end the run with /stop.',
  AGENT_STOPPED: 'The run was stopped before it began (/stop, or the session was killed).',
  EMPTY_PROMPT: 'The message holds nothing to ask: write what the agent should do.',
  INVALID_AGENT_PERMISSION: 'That is not an agent permission: use off, read-only, edit or full.',
  UNKNOWN_SECRET:
    "That is not a usable secret name: lowercase letters, digits and - (agents' keys are named after their vendor, e.g. anthropic).",
  INVALID_SECRET: 'That does not look like an API key (empty, too long, spaces or control characters): paste the key alone, on one line.',
  SECRET_NOT_SET: 'The user has no secret of that name: see what is set with `berth user secret list LOGIN`.',
  SECRET_UNREADABLE:
    "The user's key cannot be decrypted (the home's data key changed or is missing): set it again with /setkey or `berth user secret set`.",
  SECRETS_UNREADABLE:
    'The data key or secrets.json cannot be read (keychain locked, file damaged), so nothing was changed: unlock the keychain or fix the file, then try again.',
} as const;
