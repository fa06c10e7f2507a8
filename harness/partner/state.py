"""What the partner remembers: the ledger, the answer stored per idempotency
key, the declined references and the counters.

`PartnerState.answer` has no await point from the key lookup to the effect
being recorded, so on the event loop it runs atomically: concurrent requests
with one key are serialised and at most one of them takes effect.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.history.events import thaw
from harness.history.outcomes import Effect
from harness.partner.endpoints import ENDPOINT_NAMES, SPEC_BY_KIND, EndpointSpec
from harness.partner.ledger import Ledger
from harness.partner.stats import EndpointStats


@dataclass(frozen=True, slots=True, kw_only=True)
class Answer:
    """An HTTP status and JSON body the partner answers (never mutated)."""

    status: int
    body: Mapping[str, Any]


@dataclass(frozen=True, slots=True, kw_only=True)
class _Stored:
    """The first request made with an idempotency key and what it was answered."""

    body: Mapping[str, Any]
    answer: Answer


DECLINED = Answer(status=402, body={"status": "declined"})


class PartnerState:
    """The partner's memory; one per process, driven by the HTTP handlers."""

    def __init__(self, *, ledger_path: Path | None = None) -> None:
        self.ledger = Ledger(ledger_path)
        self.stats = {name: EndpointStats() for name in ENDPOINT_NAMES}
        self._declined: set[str] = set()
        self._by_key: dict[tuple[str, str], _Stored] = {}
        for effect in self.ledger.effects():
            if effect.idempotency_key is not None:
                spec = SPEC_BY_KIND[effect.kind]
                self._remember(
                    spec, effect.idempotency_key, thaw(effect.body), _success(spec, effect)
                )

    def decline(self, references: Iterable[str]) -> None:
        self._declined.update(references)

    def answer(self, spec: EndpointSpec, body: Mapping[str, Any], key: str | None) -> Answer:
        """Handle a valid request: replay, conflict, decline or a new effect."""
        stats = self.stats[spec.name]
        stored = self._by_key.get((spec.name, key)) if key is not None else None
        if stored is not None:
            if stored.body != body:
                stats.conflicts += 1
                message = f"Idempotency-Key {key!r} was already used with a different body"
                return Answer(status=422, body={"error": message})
            stats.replays += 1
            return stored.answer
        answer = self._execute(spec, body, key)
        if key is not None:
            self._remember(spec, key, body, answer)
        return answer

    def _execute(self, spec: EndpointSpec, body: Mapping[str, Any], key: str | None) -> Answer:
        stats = self.stats[spec.name]
        if spec.declinable and body.get("reference") in self._declined:
            stats.declines += 1
            return DECLINED
        effect = Effect(
            kind=spec.kind,
            effect_id=spec.new_effect_id(),
            body=body,
            idempotency_key=key,
            time=time.monotonic(),
        )
        self.ledger.append(effect)
        stats.effects += 1
        return _success(spec, effect)

    def _remember(
        self, spec: EndpointSpec, key: str, body: Mapping[str, Any], answer: Answer
    ) -> None:
        self._by_key[(spec.name, key)] = _Stored(body=body, answer=answer)


def _success(spec: EndpointSpec, effect: Effect) -> Answer:
    return Answer(status=200, body=spec.success(effect.effect_id))
