"""What every payments role opens: the PostgreSQL pool (with the schema) and the PSP client."""

from __future__ import annotations

from dataclasses import dataclass

from psycopg_pool import AsyncConnectionPool

from targets.common.config import TargetEnv
from targets.common.db import ensure_schema, open_pool
from targets.common.partner import PartnerClient
from targets.payments.psp import PSP_TIMEOUT_S
from targets.payments.store import DDL, SCHEMA_LOCK


@dataclass(slots=True)
class Deps:
    """Opened by `open()` and released by `close()`; usable only in between."""

    env: TargetEnv
    _pool: AsyncConnectionPool | None = None
    _partner: PartnerClient | None = None

    async def open(self) -> None:
        """Connect (bounded waits) and create the schema idempotently."""
        database_url = self.env.require("database_url")
        partner_url = self.env.require("partner_url")
        self._pool = await open_pool(database_url)
        await ensure_schema(self._pool, DDL, lock_key=SCHEMA_LOCK)
        self._partner = PartnerClient(partner_url, timeout_s=PSP_TIMEOUT_S)

    async def close(self) -> None:
        """Release whatever `open()` got."""
        if self._partner is not None:
            await self._partner.close()
        if self._pool is not None:
            await self._pool.close()

    @property
    def pool(self) -> AsyncConnectionPool:
        """The open pool."""
        if self._pool is None:
            raise RuntimeError("Deps.open() has not run")
        return self._pool

    @property
    def partner(self) -> PartnerClient:
        """The open PSP client."""
        if self._partner is None:
            raise RuntimeError("Deps.open() has not run")
        return self._partner
