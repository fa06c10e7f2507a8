"""The contract environment (CONTRACTS.md section 1) as one typed record."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

_VARS = {
    "database_url": "DATABASE_URL",
    "redis_url": "REDIS_URL",
    "kafka_bootstrap": "KAFKA_BOOTSTRAP_SERVERS",
    "partner_url": "PARTNER_URL",
}
_ATTRS = {var: attr for attr, var in _VARS.items()}


class MissingEnvironment(RuntimeError):
    """A role needs a contract variable the harness did not set."""


@dataclass(frozen=True, slots=True, kw_only=True)
class TargetEnv:
    """What a replica was told: where to serve, who it is, where its dependencies are."""

    port: int
    instance_id: int
    database_url: str | None = None
    redis_url: str | None = None
    kafka_bootstrap: str | None = None
    partner_url: str | None = None
    variant: str = "correct"

    @classmethod
    def from_environ(cls, variant: str, environ: Mapping[str, str] | None = None) -> TargetEnv:
        """Read the contract variables; PORT defaults to 0 for roles that serve nothing."""
        env = os.environ if environ is None else environ
        return cls(
            port=_int_var(env, "PORT", 0),
            instance_id=_int_var(env, "INSTANCE_ID", 0),
            variant=variant,
            **{attr: env.get(name) or None for attr, name in _VARS.items()},
        )

    def require(self, name: str) -> str:
        """The value of `name` ("database_url" or "DATABASE_URL"), or a clear error if unset."""
        attr = _ATTRS.get(name, name)
        if attr not in _VARS:
            accepted = sorted([*_VARS, *_ATTRS])
            raise ValueError(f"'name' must be one of {accepted} (got {name!r})")
        value: str | None = getattr(self, attr)
        if not value:
            raise MissingEnvironment(
                f"environment variable {_VARS[attr]} is required by this role but is not set"
            )
        return value


def _int_var(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise MissingEnvironment(f"{name} must be an integer (got {raw!r})") from None
