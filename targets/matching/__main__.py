"""`python -m targets.matching serve|relay|consumer [--variant V]`."""

from targets.common.cli import run_target
from targets.matching.announce import run_consumer_role, run_relay_role
from targets.matching.service import run_service
from targets.matching.swipes import VARIANTS

run_target(
    "matching",
    {"serve": run_service, "relay": run_relay_role, "consumer": run_consumer_role},
    VARIANTS,
)
