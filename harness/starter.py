"""``failmodel init``: a starter design file for a user's own service.

The file has the standard rows of the chosen workload (the failures every
service of that kind meets: retries, interleavings, crashes, a partner that
fails after its effect), with their faults and invariants filled in for the
dependencies the service declares, and the Step 14 columns the user must
answer about their own system left as prompts that start with ``EDIT:``.
With ``--workload custom`` it also holds a ``[workload]`` skeleton (a
key-value service, docs/workloads.md) for the user to turn into their own
API. It loads with ``load_design`` as written, so ``failmodel verify`` runs
it at once; ``failmodel list`` shows what it will do.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from harness.links import PER_PROCESS

DEPENDENCIES = ("postgres", "redis", "kafka", "partner")
PROMPT = "EDIT: "
CUSTOM = "custom"
STARTER_WORKLOADS = ("inventory", "payments", "matching", "kv", CUSTOM)

# The [workload] skeleton of --workload custom: a key-value service, every
# line to edit marked. It must load as written (tests/unit/test_cli_user.py).
CUSTOM_WORKLOAD = """\
# Your service's API as failmodel drives it (docs/workloads.md). This skeleton
# declares a key-value service; EDIT every part to describe yours. A request
# whose answer matches no 'ok' or 'fail' answer counts as "may or may not
# have happened" (info), so be exact about what success looks like.
[workload]
name = {name}

# EDIT: the kinds of ids your API uses, and how many of each an example draws.
# Ids are "<example>-<kind>-<n>", 1..64 of [A-Za-z0-9_-].
[workload.keys]
item = 4

# EDIT: a write. 'fields' says where each value comes from ({{ key = "kind" }},
# {{ ints = [lo, hi] }}, {{ one_of = [...] }}, {{ const = ... }}); 'path' may name
# fields in braces; 'body' lists the fields sent as a JSON object.
[[workload.operations]]
name = "put"
method = "PUT"
path = "/items/{{item}}"
body = ["value"]
fields = {{ item = {{ key = "item" }}, value = {{ ints = [0, 100] }} }}
ok = [{{ status = 200, echo = ["item", "value"] }}]
# fail = [{{ status = 409, equals = {{ error = "conflict" }} }}]   # a definite refusal

# EDIT: a read: 'read = true', and 'id' names the field that gets the key.
[[workload.operations]]
name = "get"
method = "GET"
path = "/items/{{item}}"
id = "item"
read = true
fields = {{ item = {{ key = "item" }} }}
ok = [{{ status = 200, echo = ["item"], types = {{ value = "int" }} }}, {{ status = 404 }}]

# Optional: writes sent before any fault, retried until ok (docs/workloads.md
# section 6). What the other writes need to be accepted belongs here: drawn at
# random beside them, a write that needs an earlier one (a member's grant before
# their edits) is mostly refused, and the races between accepted ones are seldom
# drawn. A step's other Key fields name keys set up before it. For example:
# [[workload.setup]]
# op = "create_doc"
# each = "doc"
# [[workload.setup]]
# op = "grant"            # weight = 0: the main phase would reuse these grant ids
# each = "grant"          # each grant names a set-up doc and one of the row's users

# EDIT: how the settled state is read once every fault is healed: final.of("items").
[[workload.final]]
op = "get"
slot = "items"
keys = "item"
not_found = "absent"   # a 404 means the item does not exist

# EDIT: what must hold, as invariants of the six types (docs/invariants.md):
# eligibility, ordering, accounting, uniqueness / idempotency, propagation,
# access control. Name them in the rows' 'invariants': until you do, every row
# judges nothing (consistent_reads reads only the built-in workloads' reads) and
# 'failmodel verify' answers INCONCLUSIVE, never PASS. A partner's effects
# (the partner rows below) are judged by a propagation invariant. For example:
# [[workload.invariants]]
# name = "items_add_up"
# type = "accounting"
# final = {{ slot = "items", read = "get", key = "item" }}
# field = "value"
# flows = [{{ op = "add", id = "add_id", scope = "item", amount = "by", sign = 1 }}]
"""



@dataclass(frozen=True, slots=True, kw_only=True)
class StarterRow:
    id: str
    taxonomy: str
    failure_mode: str
    correct_behaviour: str
    can_happen: str
    mechanism: str
    recovery: str
    faults: tuple[str, ...]
    invariants: tuple[str, ...]
    exercised_by: tuple[str, ...] = ()
    needs: tuple[str, ...] = ()
    """Dependencies the row needs; without them it is left out."""
    shape: tuple[tuple[str, int], ...] = ()
    """``[rows.shape]`` limits the row sets (empty: the defaults)."""


# With Kafka, work that is not a replica (a relay, a consumer) is what the
# Kafka faults are about; the starter cannot know its processes, so it says how.
_EXTRA_PROCESSES = (
    "",
    "# EDIT: work that is not a replica (an outbox relay, a Kafka consumer) runs as",
    "# extra processes with the replicas' environment, each crashed and paused on its",
    "# own by name (docs/contracts.md); give each a row, like the one at the end:",
    "# [target.extra]",
    '# relay = ["./bin/relay"]',
    '# consumer = ["./bin/consumer"]',
)


_CONSUMER_ROW = (
    "# EDIT: with a consumer among [target.extra], a row for Kafka's redelivery.",
    "# It is exercised only by a kill that left messages the consumer had not",
    "# committed (kills_during_lag): an idle consumer killed is delivered nothing again.",
    "# [[rows]]",
    '# id = "consumer-redelivery"',
    '# taxonomy = "duplicate_delivery"',
    '# failure_mode = "The consumer dies before committing its offsets: events come again"',
    '# can_happen = "Yes: offsets are committed after the work, never with it"',
    '# correct_behaviour = "Each event takes effect once"',
    '# mechanism = "EDIT: e.g. effects keyed by event id, an Idempotency-Key per effect"',
    '# recovery = "EDIT"',
    '# faults = ["redelivery:consumer", "crash:consumer"]',
    '# invariants = ["EDIT: your propagation and uniqueness invariants"]',
    '# exercised_by = ["kills_during_lag"]',
)
"""A commented row for Kafka's redelivery to a consumer of the design's own."""


def _store_faults(deps: Collection[str]) -> tuple[str, ...]:
    return tuple(f"latency:{d}" for d in ("postgres", "redis", "kafka") if d in deps)


def _outlasting(stores: Sequence[str]) -> tuple[tuple[str, int], ...]:
    """A retry row's shape when it slows a store: up to 1 s a round trip, so a
    request of two or three round trips outlasts a server's own deadline (1 to
    2 s is common) and a client that waits 10 s (``client_timeout``) sees what
    the server answers then: a definite refusal for work that still commits is
    a bug. At the default 400 ms it took four round trips to pass 1.5 s."""
    return (("max_latency_ms", 1000),) if stores else ()


def _own_paths(deps: Collection[str]) -> tuple[str, ...]:
    """Latency on each replica's own link to a store that has such links."""
    return tuple(f"latency:target-*>{d}" for d in PER_PROCESS if d in deps and d != "partner")


def _crashable(deps: Collection[str]) -> tuple[str, ...]:
    return tuple(f"crash:{d}" for d in ("postgres",) if d in deps)


def _with_lost_answers(rows: list[StarterRow], deps: Collection[str]) -> list[StarterRow]:
    """``rows`` and, with PostgreSQL or Redis, a row of lost answers judged as the
    crash row is: a write done whose answer never came, the store back when the
    service learns of it. A service that runs such work again on its own (a retry
    helper around every statement) acts twice, or answers its own first effect
    as a refusal. Not Kafka: its clients resend a produce whose answer was lost,
    and consumers deduplicate anyway."""
    stores = [d for d in ("postgres", "redis") if d in deps]
    crash = next((r for r in rows if r.id in ("node-crash", "replica-crash")), None)
    if not stores or crash is None:
        return rows
    lost = StarterRow(
        id="store-answer-lost",
        taxonomy="partial_write",
        failure_mode=f"{' or '.join(stores)} does a write whose answer is lost: the service "
        "sees only its connection break",
        correct_behaviour="The write takes effect once; the request is answered as done or as "
        "unknown (e.g. 503), never as refused",
        can_happen=PROMPT + "(e.g. Yes: a connection reset after the commit, a failover)",
        mechanism=PROMPT + "(e.g. no blind retry of a write; a retry keyed by the request id "
        "finds the first attempt)",
        recovery=PROMPT + "(e.g. answer 503; the client resends with the same id)",
        faults=(*(f"lost_answer:{s}" for s in stores), *(f"latency:{s}" for s in stores)),
        invariants=crash.invariants,
        exercised_by=("faults_during_ops",),
        shape=crash.shape,
    )
    return [*rows, lost]


def _custom_rows(deps: Collection[str]) -> list[StarterRow]:
    """Rows any service meets. Their invariant is consistent_reads, the one that
    judges every workload; add yours (docs/invariants.md)."""
    stores = _store_faults(deps)
    return [
        StarterRow(
            id="client-retry",
            taxonomy="client_retry_timeout",
            failure_mode="Client times out and resends the same request",
            correct_behaviour="The resend has the effect of one request",
            can_happen=PROMPT + "can it happen to you, and why? (e.g. Yes: client timeouts)",
            mechanism=PROMPT + "what makes a resend harmless? (e.g. an idempotency key)",
            recovery=PROMPT + "what do you do if it fails? (e.g. deduplicate by request id)",
            faults=("retry", "client_timeout", "latency:target-*", *stores),
            invariants=("consistent_reads",),
            exercised_by=("retries",),
            shape=_outlasting(stores),
        ),
        StarterRow(
            id="requests-interleave",
            taxonomy="out_of_order",
            failure_mode="Concurrent requests on the same keys arrive interleaved",
            correct_behaviour="Every replica ends up showing one state",
            can_happen=PROMPT + "(e.g. Yes: concurrent clients on any replica)",
            mechanism=PROMPT + "(e.g. transactions, conditional writes)",
            recovery=PROMPT + "(e.g. reconcile from the log of writes)",
            faults=("reorder", "latency:target-*", "pause:target-*"),
            invariants=("consistent_reads",),
        ),
        StarterRow(
            id="node-crash",
            taxonomy="infrastructure_failure",
            failure_mode="A replica crashes mid-request",
            correct_behaviour="An acknowledged write survives",
            can_happen=PROMPT + "(e.g. Yes: OOM kill, host failure, deploys)",
            mechanism=PROMPT + "(e.g. durable commit before answering)",
            recovery=PROMPT + "(e.g. restart; clients retry indeterminate requests)",
            faults=(
                "crash:target-*",
                "pause:target-*",
                *_crashable(deps),
                *_in_call(None, ("partner",) if "partner" in deps else ()),
            ),
            invariants=("consistent_reads",),
            exercised_by=("faults_during_ops", "crashes_during_request"),
        ),
        StarterRow(
            id="partner-fails-after-acting",
            taxonomy="partial_write",
            failure_mode="The partner acts on a call (a charge, a shipment, a message), "
            "then its answer is lost",
            correct_behaviour="The effect happens exactly once",
            can_happen=PROMPT + "(e.g. Yes: the partner's answer times out or the connection "
            "drops after it acted)",
            mechanism=PROMPT + "(e.g. an Idempotency-Key derived from the request id on every "
            "call)",
            recovery=PROMPT + "(e.g. reconcile the partner's records against ours)",
            faults=("partner:fail_after_drop", "partner:fail_after", "retry"),
            invariants=("consistent_reads",),
            exercised_by=("partner_failures",),
            needs=("partner",),
        ),
        _partner_outage(
            None,
            "effect",
            ("consistent_reads",),
            "(e.g. what is owed kept in an outbox, retried until the partner answers)",
        ),
    ]


def _at(endpoint: str | None) -> str:
    """A partner fault's endpoint suffix: none for a custom API, whose
    endpoints the starter does not know (the fault then takes any call)."""
    return f":{endpoint}" if endpoint is not None else ""


def _in_call(endpoint: str | None, effects: tuple[str, ...]) -> tuple[str, ...]:
    """A crash row's faults on the partner call when the row judges a side effect.
    A crash aimed at a call in flight (before the partner acts on it) is where an
    at-most-once sender (marked sent, then sent) loses the effect; a slow partner
    lets a crash land after the effect, before its answer is recorded."""
    return ("crash_in_call:target-*", f"partner:slow{_at(endpoint)}") if effects else ()


def _partner_outage(
    endpoint: str | None, owed: str, invariants: tuple[str, ...], mechanism: str
) -> StarterRow:
    """The partner down for a while: what is owed to it (a shipment, a charge, a
    message) must still happen, once, after it is back (docs/contracts.md
    section 2); a row only a design with the partner has."""
    return StarterRow(
        id=f"{endpoint or 'partner'}-unreachable",
        taxonomy="infrastructure_failure",
        failure_mode=f"The {endpoint + ' ' if endpoint else ''}partner is cut off or refuses "
        "every call for a while",
        correct_behaviour=f"Nothing lost: every {owed} owed is made once the partner is back, "
        "and only once",
        can_happen=PROMPT + "(e.g. Yes: provider outages, network partitions)",
        mechanism=PROMPT + mechanism,
        recovery=PROMPT + "(e.g. replay what is owed from the stored state)",
        faults=("partition:partner", f"partner:fail_before{_at(endpoint)}", "latency:partner"),
        invariants=invariants,
        exercised_by=("partner_failures",),
        needs=("partner",),
    )


def _kv_rows(deps: Collection[str]) -> list[StarterRow]:
    """Every kv row judges the history as one register per key (linearizable)
    and that acknowledged writes survive."""
    judged = ("linearizable", "acknowledged_writes_survive")
    # Racing clients and several operations per key: a stale read or a lost
    # compare-and-set shows only when one key sees writes and reads from
    # clients on both replicas close together (the reference kv design's shape).
    racing = (("clients", 6), ("max_steps", 8), ("max_batch", 8))
    stores = [d for d in ("postgres", "redis") if d in deps]
    rows = [
        StarterRow(
            id="stale-read",
            taxonomy="out_of_order",
            failure_mode="A replica answers a read after another replica acknowledged a newer "
            "write",
            correct_behaviour="Every read reflects every write acknowledged before it was sent",
            can_happen=PROMPT + "(e.g. Yes: per-replica caches, read replicas)",
            mechanism=PROMPT + "(e.g. no per-replica state: every operation one statement)",
            recovery=PROMPT + "(e.g. invalidate caches on write)",
            # A replica's copy learns of another's write over its own path to the
            # store (a notification, an invalidation): slowed, the copy lags.
            faults=("reorder", "latency:target-*", *_store_faults(deps), *_own_paths(deps)),
            invariants=judged,
            shape=racing,
        ),
        StarterRow(
            id="client-retry",
            taxonomy="client_retry_timeout",
            failure_mode="Clients time out and resend puts and compare-and-sets",
            correct_behaviour="A timed-out write takes effect once or not at all",
            can_happen=PROMPT + "(e.g. Yes: client timeouts, lost answers)",
            mechanism=PROMPT + "(e.g. each attempt one atomic statement)",
            recovery=PROMPT + "(e.g. none needed: resends are harmless)",
            faults=("retry", "client_timeout", "latency:target-*"),
            invariants=judged,
            exercised_by=("retries", "indeterminate"),
            shape=racing,
        ),
        StarterRow(
            id="replica-crash",
            taxonomy="partial_write",
            failure_mode="A replica is killed or paused in the middle of requests",
            correct_behaviour="What was acknowledged survives; an unanswered write happened "
            "entirely or not at all",
            can_happen=PROMPT + "(e.g. Yes: OOM kill, deploys, GC pauses)",
            mechanism=PROMPT + "(e.g. answer only after the commit)",
            recovery=PROMPT + "(e.g. restart; the replica holds nothing to recover)",
            faults=("crash:target-*", "pause:target-*"),
            invariants=judged,
            exercised_by=("faults_during_ops", "crashes_during_request"),
            shape=racing,
        ),
    ]
    if stores:
        rows.append(
            StarterRow(
                id="store-failure",
                taxonomy="infrastructure_failure",
                failure_mode=f"{' or '.join(stores)} fails, is cut off or slows down during "
                "writes",
                correct_behaviour="Fail closed: no answer without a durable write",
                can_happen=PROMPT + "(e.g. Yes: primary failure, network partition)",
                mechanism=PROMPT + "(e.g. answer only after the commit; deadlines on every call)",
                recovery=PROMPT + "(e.g. restart the store; clients retry)",
                faults=(
                    *_crashable(stores),
                    *(f"partition:{store}" for store in stores),
                    *_store_faults(stores),
                ),
                invariants=judged,
                exercised_by=("faults_during_ops",),
                shape=racing,
            )
        )
    return rows


def _rows(workload: str, deps: Collection[str]) -> list[StarterRow]:
    if workload == CUSTOM:
        return _custom_rows(deps)
    stores = _store_faults(deps)
    if workload == "inventory":
        shipped = ("exactly_once_shipment",) if "partner" in deps else ()
        return [
            StarterRow(
                id="client-retry",
                taxonomy="client_retry_timeout",
                failure_mode="Client times out on POST /orders and resends the same order_id",
                correct_behaviour="Same outcome as the first attempt; stock taken once"
                + ("; order shipped once" if shipped else ""),
                can_happen=PROMPT + "can it happen to you, and why? "
                "(e.g. Yes: client timeouts, slow replicas, lost answers)",
                mechanism=PROMPT + "what makes a resend harmless? (e.g. idempotency check on "
                "order_id in the decrement's transaction)",
                recovery=PROMPT + "what do you do if it fails? (e.g. audit orders against stock; "
                "cancel the duplicate)",
                faults=("retry", "client_timeout", "latency:target-*", *stores),
                invariants=("idempotent_retry", "stock_accounting", "no_oversell", *shipped),
                exercised_by=("retries",),
                shape=_outlasting(stores),
            ),
            StarterRow(
                id="orders-interleave",
                taxonomy="out_of_order",
                failure_mode="Orders for the last units of a SKU arrive interleaved",
                correct_behaviour="Never more accepted than stock; whichever commits first wins",
                can_happen=PROMPT + "(e.g. Yes: concurrent buyers on any replica)",
                mechanism=PROMPT + "(e.g. conditional decrement UPDATE ... WHERE available >= qty)",
                recovery=PROMPT + "(e.g. cancel the oversold orders and restock)",
                faults=("reorder", "latency:target-*", "pause:target-*"),
                invariants=("no_oversell", "stock_accounting", "acknowledged_writes_survive"),
            ),
            StarterRow(
                id="node-crash",
                taxonomy="infrastructure_failure",
                failure_mode="A replica crashes mid-request"
                + (" or while a shipment is on its way" if shipped else ""),
                correct_behaviour="An acknowledged order survives; no stock is lost or doubled"
                + ("; every accepted order is shipped once" if shipped else ""),
                can_happen=PROMPT + "(e.g. Yes: OOM kill, host failure, deploys)",
                mechanism=PROMPT + "(e.g. order and decrement in one durable transaction)",
                recovery=PROMPT + "(e.g. restart; clients retry indeterminate orders by order_id)",
                faults=(
                    "crash:target-*",
                    "pause:target-*",
                    *_crashable(deps),
                    *_in_call("warehouse", shipped),
                ),
                invariants=(
                    "acknowledged_writes_survive", "no_oversell", "stock_accounting", *shipped
                ),
                exercised_by=("faults_during_ops", "crashes_during_request"),
            ),
            StarterRow(
                id="warehouse-fails-after-shipping",
                taxonomy="partial_write",
                failure_mode="The warehouse records a shipment, then the answer is lost",
                correct_behaviour="The order is shipped exactly once",
                can_happen=PROMPT + "(e.g. Yes: the partner's answer times out or the connection "
                "drops after it acted)",
                mechanism=PROMPT + "(e.g. Idempotency-Key = order_id on the shipment call)",
                recovery=PROMPT + "(e.g. reconcile shipments against orders; cancel duplicates)",
                faults=("partner:fail_after_drop:warehouse", "partner:fail_after:warehouse"),
                invariants=("exactly_once_shipment",),
                exercised_by=("partner_failures",),
                needs=("partner",),
            ),
            _partner_outage(
                "warehouse",
                "shipment",
                ("exactly_once_shipment", "acknowledged_writes_survive"),
                "(e.g. the shipment queued in an outbox, retried until the warehouse answers)",
            ),
        ]
    if workload == "kv":
        return _kv_rows(deps)
    if workload == "payments":
        # A crash between charging and recording leaves money the service does
        # not know about: only the PSP's ledger shows it, and only a crash while
        # a charge is in flight (a slow PSP) makes it.
        charged = ("no_unrecorded_money", "charge_recorded") if "partner" in deps else ()
        slowed = _in_call("psp", charged)
        return [
            StarterRow(
                id="client-retry",
                taxonomy="client_retry_timeout",
                failure_mode="Client times out on POST /payments and resends the same payment_id",
                correct_behaviour="Charged at most once; the resend gets the first outcome",
                can_happen=PROMPT + "(e.g. Yes: client timeouts, lost answers)",
                mechanism=PROMPT + "(e.g. payment_id as the PSP Idempotency-Key)",
                recovery=PROMPT + "(e.g. refund duplicate charges found by reconciliation)",
                faults=("retry", "client_timeout", "latency:target-*", *stores),
                invariants=(
                    "no_duplicate_charge",
                    "charge_recorded",
                    "acknowledged_writes_survive",
                ),
                exercised_by=("retries",),
                shape=_outlasting(stores),
            ),
            StarterRow(
                id="psp-fails-after-charge",
                taxonomy="partial_write",
                failure_mode="The PSP charges, then its answer is lost",
                correct_behaviour="One charge, recorded against the payment; no money moved that "
                "the service does not know about",
                can_happen=PROMPT + "(e.g. Yes: PSP timeouts, dropped connections)",
                mechanism=PROMPT + "(e.g. idempotency key + recording a pending payment first)",
                recovery=PROMPT + "(e.g. reconcile with the PSP's charge list; refund orphans)",
                faults=("partner:fail_after:psp", "partner:fail_after_drop:psp", "retry"),
                invariants=("no_duplicate_charge", "charge_recorded", "no_unrecorded_money"),
                exercised_by=("partner_failures",),
                needs=("partner",),
            ),
            StarterRow(
                id="node-crash",
                taxonomy="infrastructure_failure",
                failure_mode="A replica crashes between charging and recording the payment",
                correct_behaviour="A captured payment stays captured; never charged twice",
                can_happen=PROMPT + "(e.g. Yes: OOM kill, deploys)",
                mechanism=PROMPT + "(e.g. pending record before the charge, completed after)",
                recovery=PROMPT + "(e.g. a reconciler completes pending payments from the PSP)",
                faults=("crash:target-*", *slowed, *_crashable(deps)),
                invariants=("acknowledged_writes_survive", "no_duplicate_charge", *charged),
                exercised_by=("faults_during_ops", "crashes_during_request"),
            ),
            StarterRow(
                id="slow-psp",
                taxonomy="temporal_boundary",
                failure_mode="The PSP answers slower than the client waits",
                correct_behaviour="The client's resend does not charge again",
                can_happen=PROMPT + "(e.g. Yes: PSP latency spikes)",
                mechanism=PROMPT + "(e.g. idempotency key; the resend waits for the first call)",
                recovery=PROMPT + "(e.g. refund duplicates found by reconciliation)",
                faults=("partner:slow:psp", "client_timeout", "retry", "latency:partner"),
                invariants=("no_duplicate_charge", "no_unrecorded_money"),
                exercised_by=("partner_failures", "retries"),
                needs=("partner",),
            ),
            _partner_outage(
                "psp",
                "charge",
                ("no_duplicate_charge", "charge_recorded", "no_unrecorded_money"),
                "(e.g. a pending payment, charged with its key when the PSP is back)",
            ),
        ]
    announced = ("every_match_announced",) if "partner" in deps else ()
    return [
        StarterRow(
            id="swipe-retry",
            taxonomy="client_retry_timeout",
            failure_mode="Client times out on POST /swipes and resends the same swipe_id",
            correct_behaviour="At most one match per pair, whatever the resends",
            can_happen=PROMPT + "(e.g. Yes: mobile clients on bad networks)",
            mechanism=PROMPT + "(e.g. unique swipe_id; one match per canonical pair)",
            recovery=PROMPT + "(e.g. merge duplicate matches)",
            faults=("retry", "client_timeout", "latency:target-*", *stores),
            invariants=("at_most_one_match", "match_eligibility"),
            exercised_by=("retries",),
            shape=_outlasting(stores),
        ),
        StarterRow(
            id="mutual-swipes-interleave",
            taxonomy="out_of_order",
            failure_mode="Two users swipe right on each other at the same moment",
            correct_behaviour="Exactly one match, on whichever replica",
            can_happen=PROMPT + "(e.g. Yes: concurrent users)",
            mechanism=PROMPT + "(e.g. unique constraint on the ordered user pair)",
            recovery=PROMPT + "(e.g. merge duplicate matches)",
            faults=("reorder", "latency:target-*"),
            invariants=("at_most_one_match", "mutual_right_swipes_match"),
            exercised_by=("faults_during_ops",),
        ),
        StarterRow(
            id="node-crash",
            taxonomy="infrastructure_failure",
            failure_mode="A replica crashes mid-swipe"
            + (" or while a match is being announced" if announced else ""),
            correct_behaviour="No duplicate match; acknowledged swipes keep their effect"
            + ("; every match is announced" if announced else ""),
            can_happen=PROMPT + "(e.g. Yes: OOM kill, deploys)",
            mechanism=PROMPT + "(e.g. swipe and match in one transaction)",
            recovery=PROMPT + "(e.g. rerun the matcher over stored swipes)",
            faults=(
                "crash:target-*",
                "pause:target-*",
                *_crashable(deps),
                *_in_call("notify", announced),
            ),
            invariants=("at_most_one_match", "match_eligibility", *announced),
            exercised_by=("faults_during_ops", "crashes_during_request"),
        ),
        StarterRow(
            id="notify-fails-after-sending",
            taxonomy="partial_write",
            failure_mode="The notification is sent, then the answer is lost",
            correct_behaviour="Every match is announced; no announcement of a match that is not",
            can_happen=PROMPT + "(e.g. Yes: push provider timeouts)",
            mechanism=PROMPT + "(e.g. outbox + retry with Idempotency-Key = match_id)",
            recovery=PROMPT + "(e.g. re-announce matches missing from the provider's log)",
            faults=("partner:fail_after_drop:notify", "partner:fail_after:notify"),
            invariants=("every_match_announced",),
            exercised_by=("partner_failures",),
            needs=("partner",),
        ),
        _partner_outage(
            "notify",
            "announcement",
            ("every_match_announced", "at_most_one_match"),
            "(e.g. an outbox relay that retries with Idempotency-Key = match_id)",
        ),
    ]


def _toml(value: object) -> str:
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return str(value)


def starter_design(
    *,
    name: str,
    workload: str,
    command: Sequence[str],
    dependencies: Collection[str] = ("partner",),
    replicas: int = 2,
    prepare: Sequence[str] = (),
    path: str | None = None,
) -> str:
    """The TOML text of a starter design; ``path`` is where it will be written
    (for the comment that says how to check and run it)."""
    if not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", name):
        raise ValueError(f"'name' must be 1..64 of [A-Za-z0-9_.-] (got {name!r})")
    if workload not in STARTER_WORKLOADS:
        raise ValueError(
            f"'workload' must be one of {', '.join(STARTER_WORKLOADS)} (got {workload!r})"
        )
    from harness.workload.builtin import BUILTIN  # the built-ins' invariants read them

    if workload == CUSTOM and (name in STARTER_WORKLOADS or name in BUILTIN):
        raise ValueError(
            f"'name' must not be a built-in workload's name with a custom workload "
            f"(got {name!r}): the workload is named after the design"
        )
    unknown = sorted(set(dependencies) - set(DEPENDENCIES))
    if unknown:
        raise ValueError(
            f"unknown dependencies {', '.join(unknown)}; known: {', '.join(DEPENDENCIES)}"
        )
    if not command:
        raise ValueError("'command' must name the program that serves one replica")
    if not dependencies:
        raise ValueError(
            "a design needs at least one dependency (the default is the partner service, "
            "which plays the payment provider, warehouse and notifications)"
        )
    deps = [d for d in DEPENDENCIES if d in dependencies]
    rows = [
        r for r in _with_lost_answers(_rows(workload, deps), deps)
        if all(n in deps for n in r.needs)
    ]
    contract = (
        "# docs/workloads.md (your own API, declared under [workload] below)."
        if workload == CUSTOM
        else f"# docs/contracts.md (workload {workload})."
    )
    where = path or f"designs/{name}.toml"
    out = [
        f"# Starter failure model for {name}, written by 'failmodel init'.",
        "# Format: docs/design-files.md; the wire contract your service must speak:",
        contract,
        "# Answer every 'EDIT:' about your own system, drop rows that cannot happen,",
        "# add the ones only you know about.",
        f"# Check it: failmodel list {where}; run it: failmodel verify {where}",
        f"name = {_toml(name)}",
        *([] if workload == CUSTOM else [f"workload = {_toml(workload)}"]),
        f"description = {_toml(PROMPT + 'what the service does and how it stays correct')}",
        "",
        "[target]",
        "# The argv of one replica (no shell); {root} is the folder above this file's",
        "# folder (the project root for designs/*.toml), {python} the interpreter",
        "# running failmodel. It must serve HTTP on 127.0.0.1:$PORT.",
        f"command = {_toml(list(command))}",
        *(
            [
                "# Run once before the replicas start (a build): its time does not count",
                "# against start_timeout_s, and if it fails its output is shown.",
                f"prepare = {_toml(list(prepare))}",
            ]
            if prepare
            else []
        ),
        f"replicas = {replicas}",
        f"dependencies = {_toml(deps)}",
        "# 'correct' is the design as intended; add the names of deliberately buggy",
        "# variants (your service reads FAILMODEL_VARIANT) to prove the rows catch them.",
        'variants = ["correct"]',
        'cwd = "."',
        *(_EXTRA_PROCESSES if "kafka" in deps else ()),
    ]
    if workload == CUSTOM:
        out += ["", CUSTOM_WORKLOAD.format(name=_toml(name)).rstrip("\n")]
    for row in rows:
        out += [
            "",
            "[[rows]]",
            f"id = {_toml(row.id)}",
            f"taxonomy = {_toml(row.taxonomy)}",
            f"failure_mode = {_toml(row.failure_mode)}",
            f"can_happen = {_toml(row.can_happen)}",
            f"correct_behaviour = {_toml(row.correct_behaviour)}",
            f"mechanism = {_toml(row.mechanism)}",
            f"recovery = {_toml(row.recovery)}",
            f"faults = {_toml(row.faults)}",
            f"invariants = {_toml(row.invariants)}",
        ]
        if row.exercised_by:
            out.append(f"exercised_by = {_toml(row.exercised_by)}")
        if row.shape:
            out += ["", "[rows.shape]", *(f"{key} = {value}" for key, value in row.shape)]
    if "kafka" in deps:
        out += ["", *_CONSUMER_ROW]
    return "\n".join(out) + "\n"
