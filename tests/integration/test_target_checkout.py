"""The checkout reference target, correct variant, on a real stack: two serve replicas,
the outbox relay and the shipping consumer, with every link behind Toxiproxy."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from harness.partner import PartnerService
from harness.provision.ports import free_port
from harness.provision.process import ManagedProcess
from harness.provision.stack import Stack
from targets.checkout import VARIANTS

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 30.0
SHIPPING_WAIT_S = 20.0


@dataclass(frozen=True)
class Deployment:
    replicas: tuple[str, ...]
    partner: PartnerService


def _target(role: str, env: dict[str, str], log_dir: Path, instance: int = 0) -> ManagedProcess:
    return ManagedProcess(
        f"checkout-{role}-{instance}",
        [sys.executable, "-m", "targets.checkout", role, "--variant", "correct"],
        env={**env, "INSTANCE_ID": str(instance)},
        cwd=REPO,
        log_path=log_dir / f"{role}-{instance}.log",
    )


def _health_probe(url: str) -> Callable[[], bool]:
    def healthy() -> bool:
        with urllib.request.urlopen(f"{url}/health", timeout=1) as response:
            return bool(response.status == 200)

    return healthy


@pytest.fixture(scope="module")
def deployment() -> Iterator[Deployment]:
    with Stack(services=("postgres", "redis", "kafka")) as stack:
        partner = PartnerService(workdir=stack.workdir / "partner")
        partner.start()
        try:
            link = stack.add_link("partner", partner.port)
            env = {
                "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                "PYTHONPATH": str(REPO),
                **stack.env(),
                "PARTNER_URL": f"http://127.0.0.1:{link.listen_port}",
            }
            logs = stack.workdir / "checkout"
            for role in ("relay", "consumer"):
                stack.register(_target(role, env, logs)).start()
            replicas = []
            for instance in range(2):
                port = free_port()
                serve = _target("serve", {**env, "PORT": str(port)}, logs, instance)
                stack.register(serve).start()
                url = f"http://127.0.0.1:{port}"
                serve.wait_ready(_health_probe(url), timeout=START_TIMEOUT_S, what=url)
                replicas.append(url)
            yield Deployment(tuple(replicas), partner)
        finally:
            partner.stop()


async def _call(
    session: aiohttp.ClientSession, method: str, url: str, body: Any = None
) -> tuple[int, Any]:
    async with session.request(method, url, json=body) as response:
        return response.status, await response.json()


async def _scenario(replicas: tuple[str, ...], sku: str, tag: str) -> dict[str, Any]:
    """Set stock 3, place five 1-unit orders at once across replicas, retry, read back."""
    timeout = aiohttp.ClientTimeout(total=10)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        a, b = replicas
        assert await _call(session, "PUT", f"{a}/inventory/{sku}", {"available": 3}) == (
            200,
            {"sku": sku, "available": 3},
        )
        ids = [f"{tag}-{i}" for i in range(5)]
        answers = await asyncio.gather(
            *(
                _call(
                    session,
                    "POST",
                    f"{replicas[i % 2]}/orders",
                    {"order_id": oid, "sku": sku, "qty": 1},
                )
                for i, oid in enumerate(ids)
            )
        )
        retries = await asyncio.gather(
            *(
                _call(
                    session,
                    "POST",
                    f"{replicas[(i + 1) % 2]}/orders",
                    {"order_id": oid, "sku": sku, "qty": 1},
                )
                for i, oid in enumerate(ids)
            )
        )
        reads = [await _call(session, "GET", f"{b}/orders/{oid}") for oid in ids]
        stock = await _call(session, "GET", f"{a}/inventory/{sku}")
        bad = await _call(session, "POST", f"{b}/orders", {"order_id": tag, "sku": sku, "qty": -3})
        # concurrent duplicates of one new order on a fresh SKU: one decrement, one shipment
        dup_sku, dup_id = f"{sku}-d", f"{tag}-dup"
        await _call(session, "PUT", f"{a}/inventory/{dup_sku}", {"available": 5})
        dups = await asyncio.gather(
            *(
                _call(
                    session,
                    "POST",
                    f"{replicas[i % 2]}/orders",
                    {"order_id": dup_id, "sku": dup_sku, "qty": 2},
                )
                for i in range(4)
            )
        )
        dup_stock = await _call(session, "GET", f"{b}/inventory/{dup_sku}")
    return dict(
        ids=ids,
        answers=answers,
        retries=retries,
        reads=reads,
        stock=stock,
        bad=bad,
        dup_id=dup_id,
        dups=dups,
        dup_stock=dup_stock,
    )


def _shipments(partner: PartnerService, order_ids: set[str]) -> list[str]:
    return [
        str(effect.body["order_id"])
        for effect in partner.control.ledgers().of("shipment")
        if effect.body.get("order_id") in order_ids
    ]


def test_correct_checkout_no_oversell_idempotent_retry_and_one_shipment_each(
    deployment: Deployment,
) -> None:
    tag = uuid.uuid4().hex[:12]
    r = asyncio.run(_scenario(deployment.replicas, f"sku-{tag}", tag))

    accepted = {
        oid for oid, (status, _) in zip(r["ids"], r["answers"], strict=True) if status == 200
    }
    for oid, (status, body) in zip(r["ids"], r["answers"], strict=True):
        outcome = "accepted" if status == 200 else "rejected"
        assert status in (200, 409), (oid, status, body)
        assert body["order_id"] == oid and body["status"] == outcome
    assert len(accepted) == 3  # stock 3, five 1-unit orders, no faults: exactly 3 fit
    assert [s for s, _ in r["retries"]] == [s for s, _ in r["answers"]]
    for oid, (status, body) in zip(r["ids"], r["reads"], strict=True):
        assert status == 200
        assert body == {
            "order_id": oid,
            "sku": f"sku-{tag}",
            "qty": 1,
            "status": "accepted" if oid in accepted else "rejected",
        }
    assert r["stock"] == (200, {"sku": f"sku-{tag}", "available": 0})
    assert r["bad"] == (400, {"error": "'qty' must be a positive integer (got -3)"})
    assert r["dups"] == [(200, {"order_id": r["dup_id"], "status": "accepted"})] * 4
    assert r["dup_stock"] == (200, {"sku": f"sku-{tag}-d", "available": 3})

    expected = accepted | {r["dup_id"]}
    deadline = time.monotonic() + SHIPPING_WAIT_S
    shipped = _shipments(deployment.partner, expected | set(r["ids"]))
    while set(shipped) != expected and time.monotonic() < deadline:
        time.sleep(0.2)
        shipped = _shipments(deployment.partner, expected | set(r["ids"]))
    time.sleep(1.0)  # leave room for a duplicate shipment to show up
    shipped = _shipments(deployment.partner, expected | set(r["ids"]))
    assert sorted(shipped) == sorted(expected)  # exactly one per accepted order, none else


def test_unknown_variant_exits_2_naming_the_accepted_ones() -> None:
    for argv, env in (
        (["serve", "--variant", "nonsense"], {}),
        (["serve"], {"FAILMODEL_VARIANT": "nonsense"}),
    ):
        done = subprocess.run(
            [sys.executable, "-m", "targets.checkout", *argv],
            cwd=REPO,
            env={**os.environ, "PYTHONPATH": str(REPO), **env},
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert done.returncode == 2, done.stderr
        assert "unknown variant 'nonsense'" in done.stderr
        assert all(variant in done.stderr for variant in VARIANTS)


def test_unknown_role_exits_2_naming_the_roles() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "targets.checkout", "dance"],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 2
    assert "invalid choice: 'dance'" in done.stderr
    assert all(role in done.stderr for role in ("serve", "relay", "consumer"))
