"""schedule"""

STRATEGIES = ("guided", "random", "swarm")
"""How a row's schedules are drawn: ``guided`` (Hypothesis: the harness's
own draws, shrinking, an example database that replays past failures and
the examples that scored highest on the ``target()`` signals), ``swarm``
(the same, each example from a random subset of the row's faults and
operations) or ``random`` (the Jepsen-style baseline: a seeded random loop,
no shrinking, no database).
Here, not in harness.verify, so the command line can offer them cheaply."""
