"""Limits on every number a user gives (docs/design-files.md, "Limits"): a typo
like ``replicas = 10**30`` must be an error, not a hang. A module of its own,
without imports, so the command line can check its arguments cheaply."""

MAX_REPLICAS = 16
MAX_EXAMPLES = 100_000
MAX_SECONDS = 600
MAX_ID = 64
# Argv strings and cwd reach execve(2): no NUL, and far below its size limits.
MAX_ARG_CHARS = 4096
MAX_ARGS = 256
