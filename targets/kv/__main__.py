"""`python -m targets.kv serve [--variant V]`."""

from targets.common.cli import run_target
from targets.kv import VARIANTS
from targets.kv.service import run_service

run_target("kv", {"serve": run_service}, VARIANTS)
