"""The invariant library: pure checker factories for Step 4's six types.

Each ``make_*`` returns a ``Checker`` -- ``(history, final, ledgers) ->
Verdict`` -- parameterised by the workload's operation names, body fields,
final-read slots and partner effect kinds:

======================  =====================================================
type                    factory (and what it checks)
======================  =====================================================
eligibility             ``make_eligibility``: accepted only if the condition
                        held at decision time (``Prior``, ``NoPrior``,
                        ``Exceeds``, ``Bound``, ``Before``, ``Past``,
                        ``Newest``, ``Free``, ``Holds``); refused only if it did not
ordering                ``make_ordering``: accepted values follow the
                        declared order; readers agree (``Reader``)
accounting              ``make_accounting``: aggregate = initial + adding -
                        taking flows (``Flow``, ``Initial``); or a floor
uniqueness/idempotency  ``make_uniqueness`` (at most one X per key),
                        ``make_idempotency`` (one request, one outcome)
propagation             ``make_propagation``: each source reflected by its
                        targets (exactly/at least once, carried fields, no
                        target without a source, within epsilon)
access control          ``make_access_control``: no effect without the
                        right (``Owners``)
======================  =====================================================

The vocabulary they share: ``Final`` (a final-read slot), ``Requests`` (the
logical requests of a write and their fate), ``Scope`` (the keys checked)
and the item sources ``Accepted``, ``Answered``, ``Listed``, ``Effects``,
``Mutual`` (and, for eligibility, ``Refused``). ``load_invariants`` /
``parse_invariants`` read the common forms from TOML. See docs/invariants.md.

All of them take indeterminate (``info``) operations as "may have happened":
a violation only when no outcome of them explains what was seen, pending for
what time may still fix, undecided when data is missing. Checkers of one
``invariants.check`` call share one index of the history (``sharing``).
"""

from invariants.library._index import Index, effects_of, index_of, sharing, standalone
from invariants.library._model import (
    Accepted,
    Answered,
    Context,
    Effects,
    Final,
    Item,
    Listed,
    Mutual,
    Refused,
    Requests,
    Scope,
    Source,
)
from invariants.library._toml import InvalidInvariant, load_invariants, parse_invariants
from invariants.library.access import AccessWords, Owners, make_access_control
from invariants.library.accounting import AccountWords, Flow, Initial, make_accounting
from invariants.library.eligibility import (
    Before,
    Bound,
    EligibleWords,
    Exceeds,
    Free,
    Holds,
    Newest,
    NoPrior,
    Past,
    Prior,
    make_eligibility,
)
from invariants.library.ordering import OrderWords, Reader, make_ordering
from invariants.library.propagation import FlowWords, make_propagation
from invariants.library.uniqueness import (
    IdempotentWords,
    UniqueWords,
    make_idempotency,
    make_uniqueness,
)

__all__ = [
    "Accepted",
    "AccessWords",
    "AccountWords",
    "Answered",
    "Before",
    "Bound",
    "Context",
    "Effects",
    "EligibleWords",
    "Exceeds",
    "Final",
    "Flow",
    "FlowWords",
    "Free",
    "Holds",
    "IdempotentWords",
    "Index",
    "Initial",
    "InvalidInvariant",
    "Item",
    "Listed",
    "Mutual",
    "Newest",
    "NoPrior",
    "OrderWords",
    "Owners",
    "Past",
    "Prior",
    "Reader",
    "Refused",
    "Requests",
    "Scope",
    "Source",
    "UniqueWords",
    "effects_of",
    "index_of",
    "load_invariants",
    "make_access_control",
    "make_accounting",
    "make_eligibility",
    "make_idempotency",
    "make_ordering",
    "make_propagation",
    "make_uniqueness",
    "parse_invariants",
    "sharing",
    "standalone",
]
