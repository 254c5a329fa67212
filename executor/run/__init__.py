"""Running a rollout: scheduling decisions, a step's phases, a VM's state machine, the journal,
health gates, hooks, events and the clock. Imports the planner, never azure.*, the CLI or reports."""
