"""Access control: an actor's op on an object it has no right to is refused and
has no effect.

The workload declares who owns what: ``Owners(op, object, actor)`` (the
acknowledged ops ``op`` -- an account opened in set-up -- make body field
``actor`` an owner of body field ``object``), ``"self"`` (an actor may only
touch the object that is itself: its own profile), a mapping object ->
owners, or a Python predicate ``allowed(actor, object)``.

Each request of ``requests`` whose actor (body field ``actor``) has no right
to its object (body field ``object``) must have no effect: no ok answer, not
accepted in its final record, no partner effect naming it (``effects``,
keyed by the request id). A definite refusal or nothing at all is fine; a
final record that could not be read leaves it undecided. An actor that only
an indeterminate ownership op names may or may not own the object: its
requests are undecided if they had an effect, and not judged otherwise.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, TypeAlias

from harness.history import Effect, FinalState, History, Ledgers
from invariants._common import Findings, listing, ops_text
from invariants.library._index import standalone
from invariants.library._model import Context, Effects, Requests
from invariants.library._words import check_words, say
from invariants.verdict import Checker, Verdict


@dataclass(frozen=True, slots=True, kw_only=True)
class Owners:
    """Acknowledged ops ``op`` make body field ``actor`` an owner of body field ``object``."""

    op: str
    object: str
    actor: str


Ownership: TypeAlias = (
    Owners | Literal["self"] | Mapping[str, Sequence[str]] | Callable[[str, str], bool]
)


@dataclass(frozen=True, slots=True, kw_only=True)
class AccessWords:
    """Nouns and sentences of ``make_access_control``."""

    noun: str = "request"
    actor: str = "actor"
    object: str = "object"
    subject: str = "{noun} {id}: {actor} has no right to {object} ({why}), yet {error}"
    answered: str = "it was answered ok ({ops})"
    recorded: str = "it is {status} in the final state"
    caused: str = "it caused {effects}"
    unread: str = (
        "{noun} {id}: {actor} has no right to {object} ({why}); whether it took effect "
        "is unknown (final read indeterminate)"
    )
    unowned: str = (
        "{noun} {id} on {object} took effect, but whether {actor} owns it is unknown "
        "(its {op} was indeterminate)"
    )


_FIELDS = {
    "subject": ("noun", "id", "actor", "object", "why", "error"),
    "answered": ("ops",),
    "recorded": ("status",),
    "caused": ("effects",),
    "unread": ("noun", "id", "actor", "object", "why"),
    "unowned": ("noun", "id", "object", "actor", "op"),
}


def make_access_control(
    name: str,
    *,
    requests: Requests,
    actor: str,
    object: str,
    owners: Ownership,
    effects: Sequence[Effects] = (),
    words: AccessWords = AccessWords(),
) -> Checker:
    """Ops without the right have no effect (see the module docstring)."""
    check_words(words, _FIELDS)
    effect_sources = tuple(effects)
    w = words

    def check(history: History, final: FinalState, ledgers: Ledgers) -> Verdict:
        ctx = Context(history, final, ledgers)
        rights = _rights(ctx, owners)
        caused: dict[str, list[Effect]] = {}
        for source in effect_sources:
            for key, found in ctx.effects.by_key(source.kind, source.key, source.unordered).items():
                caused.setdefault(key[0] if key else "", []).extend(found)
        out = Findings(name, w.noun)
        fates = ctx.fates(requests)
        for request in ctx.requests(requests).values():
            body = request.body
            if body.get(actor) is None or body.get(object) is None:
                continue
            who, what = str(body[actor]), str(body[object])
            allowed = rights(who, what)
            effects_of = caused.get(request.id, [])
            fate, status, _ = fates[request.id]
            errors = []
            if request.oks:
                errors.append(say(w.answered, ops=ops_text(request.oks)))
            if fate == "accepted" and requests.final is not None:
                errors.append(say(w.recorded, status=status))
            if effects_of:
                errors.append(say(w.caused, effects=listing([e.effect_id for e in effects_of])))
            if allowed is None:
                if errors and isinstance(owners, Owners):
                    out.checked += 1
                    out.undecided(
                        say(
                            w.unowned,
                            noun=w.noun,
                            id=request.id,
                            object=f"{w.object} {what}",
                            actor=f"{w.actor} {who}",
                            op=owners.op,
                        ),
                        [request.id, who, what],
                        request.ids,
                    )
                continue
            if allowed[0]:
                continue
            out.checked += 1
            fields = dict(
                noun=w.noun,
                id=request.id,
                actor=f"{w.actor} {who}",
                object=f"{w.object} {what}",
                why=allowed[1],
            )
            if errors:
                out.violation(
                    say(w.subject, **fields, error=" and ".join(errors)),
                    [request.id, who, what],
                    request.ids,
                )
            elif fate == "unknown" and requests.final is not None and not request.fails:
                out.undecided(say(w.unread, **fields), [request.id, who, what], request.ids)
        return out.verdict()

    check.__doc__ = f"{name}: no effect without the right (invariants.library.access)."
    return standalone(check)


def _rights(ctx: Context, owners: Ownership) -> Callable[[str, str], tuple[bool, str] | None]:
    """``(actor, object) -> (allowed, why not)``, or None when the owner is unknown."""
    if owners == "self":
        return lambda who, what: (who == what, "not their own")
    if isinstance(owners, Owners):
        spec = Requests(op=owners.op, id=owners.object)
        sure: dict[str, set[str]] = {}  # object -> owners an acknowledged op names
        maybe: dict[str, set[str]] = {}  # ... and those only an indeterminate op names
        for what, request in ctx.requests(spec).items():
            for op in request.ops:
                who = op.invoke.value["body"].get(owners.actor)
                if who is None or op.outcome == "fail":
                    continue
                (sure if op.outcome == "ok" else maybe).setdefault(what, set()).add(str(who))

        def owned(who: str, what: str) -> tuple[bool, str] | None:
            found = sure.get(what, set())
            if who in found:
                return True, ""
            if who in maybe.get(what, ()):
                return None  # an indeterminate declaration may have made them the owner
            return False, f"owned by {listing(sorted(found))}" if found else "it has no owner"

        return owned
    if isinstance(owners, Mapping):
        fixed = {str(k): {str(v) for v in vs} for k, vs in owners.items()}
        return lambda who, what: (
            who in fixed.get(what, set()),
            f"owned by {listing(sorted(fixed.get(what, set()))) or 'nobody'}",
        )
    predicate = owners
    return lambda who, what: (predicate(who, what), "not allowed")
