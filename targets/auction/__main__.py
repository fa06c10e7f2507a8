"""`python -m targets.auction serve|closer [--variant V]`."""

from targets.auction import VARIANTS
from targets.auction.api import serve_role
from targets.auction.closing import closer_role
from targets.common.cli import run_target

run_target("auction", {"serve": serve_role, "closer": closer_role}, VARIANTS)
