"""``targets_stay_up``: no target process exits unless a fault killed it.

The contract (docs/contracts.md, "Processes and time") asks every replica and
extra process to keep running through its stores failing: retry, answer 503,
recover. A process that dies of a lost connection is a failure the design's
table does not allow, even when the data it left behind is consistent, and a
harness that quietly started it again would hide it. The harness (the nemesis's
sweep after a heal, and the runner while settling and before set-up) records each
such exit in the history as a nemesis ``exit`` event (exit code, last output)
and starts the process again; this checker turns those events into evidence. A
store found down the same way (marked ``store``) is not the target's doing: the
timeline shows it, and this checker leaves it out.
"""

from __future__ import annotations

from harness.history import EXIT, Event, FinalState, History, Ledgers, exit_text
from invariants.verdict import Evidence, Verdict

NAME = "targets_stay_up"


_FOUND = {
    "setup": " (found before this example's first step: it exited after the last one was judged)",
    "final": " (found while the final state was read, every fault healed)",
}


def _finding(event: Event) -> Evidence:
    when = f"at {event.time:.2f} s{_FOUND.get(event.phase, '')}"
    output = str(event.value.get("output", "")).strip()
    tail = f"; its last output:\n{output}" if output else ""
    return Evidence(
        message=f"{exit_text(event.value)} {when}, no fault having crashed it{tail}",
        keys=(str(event.value.get("process", "?")),),
        op_ids=(event.op_id,),
    )


def check_targets_stay_up(history: History, final: FinalState, ledgers: Ledgers) -> Verdict:
    """Invalid when a target process exited without a crash fault: a replica or
    extra process must survive its stores and partner failing (it may answer
    503, never die). ``checked`` counts the requests it was watched over."""
    requests = sum(1 for e in history.events if e.type == "invoke")
    exits = [e for e in history.nemesis_events() if e.f == EXIT and not e.value.get("store")]
    if exits:
        evidence = tuple(_finding(e) for e in exits)
        return Verdict(
            invariant=NAME,
            status="invalid",
            summary=evidence[0].message.split("; its last output")[0],
            evidence=evidence,
            checked=requests,
        )
    summary = (
        f"no target process exited on its own over {requests} requests"
        if requests
        else "no requests to check"
    )
    return Verdict(invariant=NAME, status="valid", summary=summary, checked=requests)
