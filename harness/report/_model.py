"""Report records: one verdict per failure-model row, and the run they belong to."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Literal, TypeAlias

from invariants import Evidence, Verdict
from invariants.slo import SloResult

RowStatus: TypeAlias = Literal[
    "PASS", "FAIL", "INCONCLUSIVE", "NOT EXERCISED", "ERROR", "INTERRUPTED"
]
ROW_STATUSES: tuple[RowStatus, ...] = (
    "PASS",
    "FAIL",
    "INCONCLUSIVE",
    "NOT EXERCISED",
    "ERROR",
    "INTERRUPTED",
)
# Worst first: the design's overall status is the worst of its rows.
_SEVERITY: Mapping[str, int] = {
    "FAIL": 5,
    "ERROR": 4,
    "INTERRUPTED": 3,
    "INCONCLUSIVE": 2,
    "NOT EXERCISED": 1,
    "PASS": 0,
}
# Statuses that fail a run (exit code 1): INCONCLUSIVE only without --allow-inconclusive,
# NOT EXERCISED only without --allow-unexercised (either row showed nothing).
FAILING: frozenset[str] = frozenset({"FAIL", "ERROR", "INCONCLUSIVE", "NOT EXERCISED"})


def evidence_parts(evidence: Evidence) -> tuple[str, str, str]:
    """An evidence line as reports show it: its message's first line, the keys and
    ops it names (``keys a, b; ops 3, 4``), and the message's later lines (a
    process's last output), which a report keeps as a block."""
    refs = []
    if evidence.keys:
        refs.append(f"keys {', '.join(evidence.keys)}")
    if evidence.op_ids:
        refs.append(f"ops {', '.join(map(str, evidence.op_ids))}")
    first, _, rest = evidence.message.partition("\n")
    return first, "; ".join(refs), rest.strip("\n")


@dataclass(frozen=True, slots=True, kw_only=True)
class Judged:
    """How often one invariant was actually judged over a row's examples.

    ``valid`` counts examples where it held with something to examine,
    ``vacuous`` where it held with nothing to examine, ``unknown`` where the
    data to decide was missing; ``why_unknown`` is the first such reason.
    ``parts``: for an invariant of several conditions, on how many examples
    each could have failed something (``Verdict.parts``).
    """

    valid: int = 0
    vacuous: int = 0
    unknown: int = 0
    invalid: int = 0
    why_unknown: str = ""
    parts: Mapping[str, int] = field(default_factory=dict)

    @property
    def unjudged_parts(self) -> list[str]:
        """The conditions that could fail nothing on any example."""
        return [label for label, n in self.parts.items() if n == 0]

    @property
    def least(self) -> tuple[int, str]:
        """On how many examples it was valid with its least-judged condition at
        stake (at most ``valid``), and that condition: "" when every condition
        was at stake at least as often as the invariant was valid."""
        label, n = min(self.parts.items(), key=lambda ln: ln[1], default=("", self.valid))
        return (n, label) if n < self.valid else (self.valid, "")

    @property
    def examples(self) -> int:
        return self.valid + self.vacuous + self.unknown + self.invalid

    def describe(self) -> str:
        """``valid 4 of 6 (1 unknown, 1 invalid); unknown because: ...``."""
        text = f"valid {self.valid} of {self.examples}"
        extra = [
            f"{n} {what}"
            for n, what in (
                (self.vacuous, "with nothing to check"),
                (self.unknown, "unknown"),
                (self.invalid, "invalid"),
            )
            if n
        ]
        if extra:
            text += f" ({', '.join(extra)})"
        if self.why_unknown:
            text += f"; unknown because: {self.why_unknown}"
        if self.parts:
            each = ", ".join(f"{label} in {n}" for label, n in self.parts.items())
            text += f"; conditions at stake: {each}"
        return text


@dataclass(frozen=True, slots=True, kw_only=True)
class Counterexample:
    """The minimal failing schedule of a row, and how reliably it fails again.

    ``reproduced`` of ``attempts`` replays failed; the ``original_*`` paths are
    the first failing example before shrinking, kept for comparison.
    """

    schedule_lines: tuple[str, ...]
    schedule_path: Path
    history_path: Path
    verdicts: tuple[Verdict, ...]
    reproduced: int
    attempts: int
    original_schedule_path: Path | None = None
    original_history_path: Path | None = None
    unconfirmed: int = 0
    """Smaller schedules that failed once while shrinking but not on their
    confirming run: a timing-dependent failure, not kept as the minimal one."""
    unreplayable: int = 0
    """Smaller failing schedules passed over because none of their replays failed."""
    late: bool = False
    """Found only by side effects that landed after the example was judged
    (the example is then not shrunk: Hypothesis had seen it pass)."""

    @property
    def timing_note(self) -> str:
        """Why the minimal schedule may be larger than it looks necessary ("" if not)."""
        notes = []
        if self.unconfirmed:
            n = self.unconfirmed
            notes.append(
                f"While shrinking, {n} smaller schedule{'s' if n != 1 else ''} failed once "
                "but not when run again (the failure depends on timing); only schedules "
                "that failed again were kept."
            )
        if self.unreplayable:
            n = self.unreplayable
            notes.append(
                f"The {n} smaller failing schedule{'s' if n != 1 else ''} kept while "
                "shrinking did not fail in any replay; this is the smallest one that did."
            )
        return " ".join(notes)

    @property
    def violated(self) -> tuple[Verdict, ...]:
        """The verdicts that made the row fail (invalid first, then unknown)."""
        bad = [v for v in self.verdicts if v.status != "valid"]
        return tuple(sorted(bad, key=lambda v: v.status != "invalid"))


@dataclass(frozen=True, slots=True, kw_only=True)
class RowResult:
    """What verifying one row found. ``coverage`` holds the counters (retries,
    faults_during_ops, ...) that decide between PASS and NOT EXERCISED."""

    row_id: str
    failure_mode: str
    correct_behaviour: str
    mechanism: str
    status: RowStatus
    invariants: tuple[str, ...]
    examples: int
    duration_s: float
    coverage: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))
    counterexample: Counterexample | None = None
    seed: int = 0
    replay_command: str = ""
    error: str | None = None
    first_failure_s: float | None = None
    """Seconds from the row's start to its first failing example (time to find the bug)."""
    first_failure_example: int | None = None
    """How many examples it took to find the first failure (1 = the first one)."""
    judged: Mapping[str, Judged] = field(default_factory=lambda: MappingProxyType({}))
    """Per invariant the row lists: on how many examples it was really judged."""
    reason: str | None = None
    """Why an INCONCLUSIVE or INTERRUPTED row proved nothing, in words."""
    unsettled: int = 0
    """Examples judged at the settle deadline rather than on a settled system."""
    interrupted: str | None = None
    """The signal that cut this row's search short (``SIGINT``, ``SIGTERM``), if any."""
    can_happen: str = ""
    """The Step 14 table's "can it happen" column, from the design's row."""
    recovery: str = ""
    """The Step 14 table's "recovery" column, from the design's row."""
    taxonomy: str = ""
    """The seed's failure class of the row (``client_retry_timeout``, ...)."""
    faults: tuple[str, ...] = ()
    """The fault families the row allowed, as written in the design (``crash:target-*``)."""
    histories: tuple[Path, ...] = ()
    """Every example's history (JSON Lines), in the order they ran: the report's
    latency picture of the row is drawn from them."""
    slos: tuple[SloResult, ...] = ()
    """The row's SLOs, each judged on all of its examples: promise beside measurement."""
    phases: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))
    """Seconds the row's examples spent in each phase (`harness.phases`), summed."""
    budget_s: float | None = None
    """Seconds of a ``--budget`` run's time this row was given (``duration_s`` is what
    it used); None when the row ran a count of examples."""
    cpu_stalled: float | None = None
    """The share of its examples' main phases and settles during which a runnable
    task waited for a CPU (`harness.host_load`); None when not measured."""
    answers: Mapping[str, Mapping[str, int]] = field(default_factory=lambda: MappingProxyType({}))
    """How the row's writes were answered, summed over its examples
    (`harness.schedule.answers`): accepted, refused (and why), indeterminate."""

    @property
    def examples_per_minute(self) -> float | None:
        """Examples per minute of the row's wall time (search, replays, late effects)."""
        return 60 * self.examples / self.duration_s if self.duration_s > 0 else None

    def least_judged(self) -> str:
        """On how many examples the least-judged invariant was valid with something
        to examine, ``12 of 12``, or ``1 of 12: name`` when that is not all of
        them: what the PASS rests on. An example where it held with nothing to
        examine (no disable to redeem after) does not count, nor, for a rule
        of several conditions, one where its least-judged condition was not at
        stake (``2 of 12: name (no_prior expire)``)."""
        if not self.judged:
            return "-"
        name, least = min(self.judged.items(), key=lambda nj: (nj[1].least[0], -nj[1].examples))
        valid, part = least.least
        share = f"{valid} of {least.examples}"
        if valid == least.examples:
            return share
        return f"{share}: {name}" + (f" ({part})" if part else "")

    def __post_init__(self) -> None:
        if self.status not in ROW_STATUSES:
            raise ValueError(
                f"RowResult {self.row_id!r}: 'status' must be one of {', '.join(ROW_STATUSES)} "
                f"(got {self.status!r})"
            )
        object.__setattr__(self, "coverage", MappingProxyType(dict(self.coverage)))
        object.__setattr__(self, "judged", MappingProxyType(dict(self.judged)))
        object.__setattr__(self, "phases", MappingProxyType(dict(self.phases)))
        object.__setattr__(
            self, "answers", MappingProxyType({f: dict(k) for f, k in self.answers.items()})
        )
        object.__setattr__(self, "faults", tuple(self.faults))
        object.__setattr__(self, "histories", tuple(Path(p) for p in self.histories))
        object.__setattr__(self, "slos", tuple(self.slos))


@dataclass(frozen=True, slots=True, kw_only=True)
class DesignReport:
    """One ``failmodel verify`` run of one design against one target variant."""

    design_name: str
    design_path: Path
    variant: str
    profile: str
    started_at: str
    duration_s: float
    rows: tuple[RowResult, ...]
    interrupted: str | None = None
    """The signal that stopped the run early (``SIGINT``, ``SIGTERM``), if any."""
    strategy: str = "guided"
    """How schedules were drawn (harness.verify.STRATEGIES)."""

    @property
    def exit_code(self) -> int:
        """1 if any row failed, errored, was inconclusive or was not exercised: a row
        that showed nothing must not let a nightly job pass unseen."""
        return self.exit_code_for(allow_inconclusive=False)

    def exit_code_for(self, *, allow_inconclusive: bool, allow_unexercised: bool = False) -> int:
        allowed = {"INCONCLUSIVE"} if allow_inconclusive else set()
        if allow_unexercised:
            allowed.add("NOT EXERCISED")
        return 1 if any(r.status in FAILING - allowed for r in self.rows) else 0

    @property
    def status(self) -> str:
        """The worst row status (FAIL > ERROR > INTERRUPTED > INCONCLUSIVE >
        NOT EXERCISED > PASS)."""
        if not self.rows:
            return "INTERRUPTED" if self.interrupted else "NOT EXERCISED"
        return max((r.status for r in self.rows), key=_SEVERITY.__getitem__)

    def count(self, status: RowStatus) -> int:
        return sum(1 for r in self.rows if r.status == status)

    def _lenient(self) -> str:
        """When only rows that showed nothing fail the run: the options that let it
        pass, so a summary does not contradict a run that used them."""
        if self.exit_code == 0 or self.exit_code_for(
            allow_inconclusive=True, allow_unexercised=True
        ):
            return ""
        shown = {r.status for r in self.rows}
        options = [
            option
            for status, option in (
                ("INCONCLUSIVE", "--allow-inconclusive"),
                ("NOT EXERCISED", "--allow-unexercised"),
            )
            if status in shown
        ]
        return f"; 0 with {' '.join(options)}"

    def summary(self) -> str:
        """One sentence: the counts per status, and a warning when rows proved nothing."""
        counts = ", ".join(f"{self.count(s)} {s}" for s in ROW_STATUSES if self.count(s))
        text = f"{self.status}: {counts or 'no rows'} (exit code {self.exit_code}{self._lenient()})"
        if self.interrupted:
            text = f"INTERRUPTED by {self.interrupted}; {text}"
        idle = [r.row_id for r in self.rows if r.status == "NOT EXERCISED"]
        if idle:
            text += (
                f"; not exercised, so nothing was shown for: {', '.join(idle)} "
                "(raise the example budget or check the row's faults)"
            )
        return text
