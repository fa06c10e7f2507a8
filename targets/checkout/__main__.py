"""`python -m targets.checkout serve|relay|consumer [--variant V]`."""

from targets.checkout import VARIANTS
from targets.checkout.api import serve_role
from targets.checkout.shipping import consumer_role, relay_role
from targets.common.cli import run_target

run_target(
    "checkout",
    {"serve": serve_role, "relay": relay_role, "consumer": consumer_role},
    VARIANTS,
)
