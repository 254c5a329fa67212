"""The `udroll` command line: argument parsing, confirmation and output over executor.rollout."""
