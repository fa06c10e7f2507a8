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

# Workloads (docs/workloads.md, "Limits"): what a workload declares, in Python or TOML.
MAX_KEY_KINDS = 16
MAX_KIND_CHARS = 12  # a kind is the tag in ids <prefix>-<kind>-<i>, which stay within MAX_ID
MAX_KEYS = 1000  # keys of one kind in one example
MAX_OPERATIONS = 50
MAX_FIELDS = 32
MAX_ANSWERS = 16
MAX_CHOICES = 100
MAX_WEIGHT = 1000
MAX_VALUE = 10**9  # every drawn or constant integer is within -MAX_VALUE..MAX_VALUE
MAX_TEXT = 1000  # characters of a string value, a path, a route
MAX_SETUP = 16
MAX_FINAL = 16
MAX_NAME = 64  # names of operations, fields and slots
