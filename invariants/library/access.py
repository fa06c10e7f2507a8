"""Access control: an actor's op on an object it has no right to is refused and
has no effect.

The workload declares who owns what: ``Owners(op, object, actor)`` (the
acknowledged ops ``op`` -- an account opened in set-up -- make body field
``actor`` an owner of body field ``object``; with ``revoke``, ops of that name
on the same fields take the right back), ``"self"`` (an actor may only
touch the object that is itself: its own profile), a mapping object ->
owners, or a Python predicate ``allowed(actor, object)``.

Each request of ``requests`` whose actor (body field ``actor``) has no right
to its object (body field ``object``) must have no effect: no ok answer, not
accepted in its final record, no partner effect naming it (``effects``,
keyed by the request id). A definite refusal or nothing at all is fine; a
final record that could not be read leaves it undecided. An actor that only
an indeterminate ownership op names may or may not own the object: its
requests are undecided if they had an effect, and not judged otherwise.

With ``revoke``, rights have a time: a request is without the right when
every grant that may have come before it took effect (sent before its first
ok answer; any time, if it was never answered ok) was acknowledged before a
revocation was sent that was itself acknowledged before the request was
sent. A revocation racing the request, or a grant, leaves it not judged.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, TypeAlias

from harness.history import Effect, FinalState, History, Ledgers, Operation
from invariants._common import Findings, listing, ops_text
from invariants.library._index import standalone
from invariants.library._model import INF, Context, Effects, Request, Requests
from invariants.library._words import check_words, say
from invariants.verdict import Checker, Verdict


@dataclass(frozen=True, slots=True, kw_only=True)
class Owners:
    """Acknowledged ops ``op`` make body field ``actor`` an owner of body field
    ``object``; acknowledged ops ``revoke`` (the same fields) take it back."""

    op: str
    object: str
    actor: str
    revoke: str = ""


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
    revoked: str = "revoked ({ops}) before it was sent"


_FIELDS = {
    "subject": ("noun", "id", "actor", "object", "why", "error"),
    "answered": ("ops",),
    "recorded": ("status",),
    "caused": ("effects",),
    "unread": ("noun", "id", "actor", "object", "why"),
    "unowned": ("noun", "id", "object", "actor", "op"),
    "revoked": ("ops",),
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
        rights = _rights(ctx, owners, w)
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
            allowed = rights(who, what, request)
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


Rights: TypeAlias = Callable[[str, str, Request], tuple[bool, str] | None]
"""``(actor, object, request) -> (allowed, why not)``, or None when unknown."""


def _rights(ctx: Context, owners: Ownership, w: AccessWords) -> Rights:
    if owners == "self":
        return lambda who, what, _: (who == what, "not their own")
    if isinstance(owners, Owners) and owners.revoke:
        return _revocable(ctx, owners, w)
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

        def owned(who: str, what: str, _: Request) -> tuple[bool, str] | None:
            found = sure.get(what, set())
            if who in found:
                return True, ""
            if who in maybe.get(what, ()):
                return None  # an indeterminate declaration may have made them the owner
            return False, f"owned by {listing(sorted(found))}" if found else "it has no owner"

        return owned
    if isinstance(owners, Mapping):
        fixed = {str(k): {str(v) for v in vs} for k, vs in owners.items()}
        return lambda who, what, _: (
            who in fixed.get(what, set()),
            f"owned by {listing(sorted(fixed.get(what, set()))) or 'nobody'}",
        )
    predicate = owners
    return lambda who, what, _: (predicate(who, what), "not allowed")


def _revocable(ctx: Context, owners: Owners, w: AccessWords) -> Rights:
    """Rights granted by ``owners.op`` and taken back by ``owners.revoke``, judged
    at the time of each request (see the module docstring)."""

    def by_pair(op_name: str) -> dict[tuple[str, str], list[Operation]]:
        out: dict[tuple[str, str], list[Operation]] = {}
        for request in ctx.requests(Requests(op=op_name, id=owners.object)).values():
            for op in request.ops:
                who = op.invoke.value["body"].get(owners.actor)
                if who is not None and op.outcome != "fail":
                    out.setdefault((str(who), request.id), []).append(op)
        return out

    grants, revokes = by_pair(owners.op), by_pair(owners.revoke)

    def owned(who: str, what: str, request: Request) -> tuple[bool, str] | None:
        decided = request.acked_at if request.oks else INF
        before = [g for g in grants.get((who, what), ()) if g.invoke.time < decided]
        if not before:
            return False, "it was not granted before"
        cut: list[int] = []
        for grant in before:
            if grant.outcome != "ok":
                return None  # an indeterminate grant may take effect at any time
            ending = next(
                (
                    v
                    for v in revokes.get((who, what), ())
                    if v.outcome == "ok"
                    and grant.end_time < v.invoke.time
                    and v.end_time < request.sent
                ),
                None,
            )
            if ending is None:
                return True, ""  # granted, and not surely taken back since: not judged
            cut.append(ending.invoke.op_id)
        return False, say(w.revoked, ops=ops_text(sorted(set(cut))))

    return owned
