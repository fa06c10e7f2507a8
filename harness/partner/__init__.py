"""The partner service of CONTRACTS.md section 2 and the harness's handles on it.

The partner stands for the outside world a target calls (a payment provider,
a warehouse, a notification provider); its ledger of effects is the ground
truth checkers read. It runs as its own process (``python -m harness.partner``),
reached by targets through Toxiproxy and by the harness directly.

- `PartnerService` starts, crashes and restarts that process.
- `PartnerControl` sets fault modes (``fail_before``, ``fail_after``,
  ``fail_after_drop``, ``slow``), holds calls in flight for the nemesis to kill
  their caller mid-call, sets declines, and reads ledgers and stats.
- `build_app` is the aiohttp application itself, for in-process tests.
"""

from harness.partner.app import build_app
from harness.partner.control import PartnerControl, PartnerUnavailable
from harness.partner.endpoints import ENDPOINT_NAMES, InvalidRequest
from harness.partner.faults import FAULT_MODES, FAULT_TARGETS, FaultMode, InvalidFault
from harness.partner.ledger import LedgerFileError, read_ledger_file
from harness.partner.service import PartnerService

__all__ = [
    "ENDPOINT_NAMES",
    "FAULT_MODES",
    "FAULT_TARGETS",
    "FaultMode",
    "InvalidFault",
    "InvalidRequest",
    "LedgerFileError",
    "PartnerControl",
    "PartnerService",
    "PartnerUnavailable",
    "build_app",
    "read_ledger_file",
]
