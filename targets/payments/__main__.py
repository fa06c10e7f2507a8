"""`python -m targets.payments serve|reconciler [--variant V]`."""

from targets.common.cli import run_target
from targets.payments.flows import VARIANTS
from targets.payments.reconciler import run_reconciler
from targets.payments.service import run_service

run_target(
    "payments",
    {"serve": run_service, "reconciler": run_reconciler},
    VARIANTS,
)
