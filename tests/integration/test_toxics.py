"""The Toxiproxy client against a real Toxiproxy server, with each toxic's effect measured.

The upstream is a tiny real TCP server: a client sends ``N\\n`` and gets N
bytes of a fixed pattern back (``N!\\n``: the server also closes afterwards).
Every connection goes through a real proxy; numbers are wall-clock times and
byte counts seen by a real socket, with tolerances wide enough for a loaded
2-core machine but narrow enough to tell a toxic from none.
"""

from __future__ import annotations

import errno
import os
import signal
import socket
import socketserver
import statistics
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.provision.ports import free_port
from harness.setup.binaries import find_binaries
from harness.toxiproxy import (
    Bandwidth,
    Latency,
    LimitData,
    Proxy,
    ProxyPortInUse,
    ResetPeer,
    Slicer,
    SlowClose,
    Timeout,
    ToxiproxyClient,
    ToxiproxyError,
    ToxiproxyNotFound,
    ToxiproxyUnavailable,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

SERVER_BIN = os.environ.get("FAILMODEL_TOXIPROXY_SERVER") or str(
    find_binaries().toxiproxy_server
)
HOST = "127.0.0.1"
PATTERN = bytes(range(256)) * 1024  # 256 KiB; responses are prefixes of it


class _Handler(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        self.request.settimeout(10.0)
        for _ in range(1000):
            try:
                line = self.rfile.readline(64).strip()
            except OSError:
                return
            if not line:
                return
            size = int(line.rstrip(b"!"))
            try:
                self.wfile.write(PATTERN[:size])
            except OSError:
                return
            if line.endswith(b"!"):
                return


class _Upstream(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


@pytest.fixture(scope="module")
def upstream() -> Iterator[str]:
    server = _Upstream((HOST, 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield f"{HOST}:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture(scope="module")
def server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if not Path(SERVER_BIN).is_file():
        pytest.fail(
            f"Toxiproxy server binary not found at {SERVER_BIN}; set FAILMODEL_TOXIPROXY_SERVER"
        )
    port = free_port()
    log_path = tmp_path_factory.mktemp("toxiproxy") / "server.log"
    url = f"http://{HOST}:{port}"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [SERVER_BIN, "-host", HOST, "-port", str(port), "-seed", "7"],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        probe = ToxiproxyClient(url, timeout=0.5)
        deadline = time.monotonic() + 10.0
        for _ in range(200):
            try:
                probe.version()
                break
            except ToxiproxyUnavailable:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"Toxiproxy did not start:\n{log_path.read_text()[-2000:]}")
                time.sleep(0.05)
        probe.close()
        yield url
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)


@pytest.fixture
def client(server_url: str) -> Iterator[ToxiproxyClient]:
    with ToxiproxyClient(server_url) as tp:
        try:
            yield tp
        finally:
            tp.reset()
            for name in tp.proxies():
                tp.delete_proxy(name)


@pytest.fixture
def proxy(client: ToxiproxyClient, upstream: str) -> Proxy:
    return client.create_proxy("link", listen=f"{HOST}:0", upstream=upstream)


def _connect(proxy: Proxy, timeout: float = 5.0) -> socket.socket:
    return socket.create_connection((HOST, proxy.listen_port), timeout=timeout)


def _read(sock: socket.socket, size: int, deadline: float) -> list[bytes]:
    """The chunks one recv at a time, until ``size`` bytes, EOF, or the deadline."""
    chunks: list[bytes] = []
    got = 0
    for _ in range(100_000):
        if got >= size or time.monotonic() > deadline:
            break
        chunk = sock.recv(65536)
        if not chunk:
            break
        chunks.append(chunk)
        got += len(chunk)
    return chunks


def fetch(proxy: Proxy, size: int, *, close: bool = False, timeout: float = 5.0) -> bytes:
    with _connect(proxy, timeout) as sock:
        sock.sendall(f"{size}{'!' if close else ''}\n".encode())
        return b"".join(_read(sock, size, time.monotonic() + timeout))


def round_trip(proxy: Proxy) -> float:
    """Seconds for one request and its 64-byte answer on a fresh connection."""
    start = time.monotonic()
    assert fetch(proxy, 64) == PATTERN[:64]
    return time.monotonic() - start


def median_rtt(proxy: Proxy, samples: int) -> float:
    return statistics.median(round_trip(proxy) for _ in range(samples))


# -- proxies --------------------------------------------------------------------------


def test_version_and_proxy_lifecycle(client: ToxiproxyClient, upstream: str) -> None:
    assert client.version()
    created = client.create_proxy("db", listen=f"{HOST}:0", upstream=upstream)
    assert created.listen_port > 0
    assert created.enabled
    fetched = client.get_proxy("db")
    assert (fetched.name, fetched.listen, fetched.upstream) == ("db", created.listen, upstream)
    assert set(client.proxies()) == {"db"}
    assert fetch(created, 1000) == PATTERN[:1000]
    client.delete_proxy("db")
    with pytest.raises(ToxiproxyNotFound) as info:
        client.get_proxy("db")
    assert info.value.status == 404
    assert "proxy not found" in str(info.value)
    assert isinstance(info.value, LookupError)


def test_no_toxic_is_fast(proxy: Proxy) -> None:
    assert median_rtt(proxy, 5) < 0.1


def test_disabled_proxy_refuses_and_cuts_then_enable_restores(
    client: ToxiproxyClient, proxy: Proxy
) -> None:
    existing = _connect(proxy)
    try:
        existing.sendall(b"10\n")
        assert existing.recv(100) == PATTERN[:10]
        proxy.disable()
        assert not proxy.enabled
        assert not client.get_proxy("link").enabled
        with pytest.raises(ConnectionRefusedError):
            _connect(proxy, timeout=2.0).close()
        existing.settimeout(2.0)
        try:
            existing.sendall(b"10\n")
            cut = existing.recv(100)
        except ConnectionResetError:
            cut = b""
        assert cut == b"", "an existing connection survived a disabled proxy"
    finally:
        existing.close()
    proxy.enable()
    assert proxy.enabled
    assert fetch(proxy, 100) == PATTERN[:100]


# -- toxics ---------------------------------------------------------------------------


def test_latency_adds_delay_within_tolerance(proxy: Proxy) -> None:
    proxy.add_toxic(Latency(200))
    median = median_rtt(proxy, 5)
    assert 0.17 <= median <= 0.30, f"median round trip {median:.3f} s, expected 0.2 s"


def test_jitter_widens_the_spread(proxy: Proxy) -> None:
    """Jitter spreads round trips both ways around the latency. A busy machine
    only ever adds to a round trip, so the steady floor holds under any load, and
    only jitter takes round trips below it (P(none of 16 under 170 ms) = 0.6^16)."""
    proxy.add_toxic(Latency(200))
    steady = [round_trip(proxy) for _ in range(6)]
    proxy.update_toxic(Latency(200, jitter_ms=150))
    jittery = [round_trip(proxy) for _ in range(16)]
    assert min(steady) >= 0.19, f"steady round trips {sorted(steady)}: 200 ms is a floor"
    below = [t for t in jittery if t < 0.17]
    assert below, f"no round trip under 170 ms with 200 ± 150 ms: {sorted(jittery)}"
    assert max(jittery) - min(jittery) > 0.1, sorted(jittery)
    assert min(jittery) >= 0.03  # 200 - 150 ms: jitter never goes below that


def test_bandwidth_limits_throughput(proxy: Proxy) -> None:
    size = 80_000
    start = time.monotonic()
    assert fetch(proxy, size) == PATTERN[:size]
    unlimited = time.monotonic() - start
    proxy.add_toxic(Bandwidth(rate_kb=100))  # Toxiproxy's KB is 1000 bytes: 0.8 s
    start = time.monotonic()
    assert fetch(proxy, size) == PATTERN[:size]
    limited = time.monotonic() - start
    # The rate is a floor a busy machine cannot shorten (it can only add to it).
    assert limited >= 0.65, f"80 kB at 100 KB/s took {limited:.3f} s, expected 0.8 s"
    assert limited > unlimited


def _eof_delay(proxy: Proxy) -> float:
    """Seconds between the last byte of a closing answer and the client seeing EOF."""
    with _connect(proxy) as sock:
        sock.sendall(b"100!\n")
        deadline = time.monotonic() + 5.0
        assert b"".join(_read(sock, 100, deadline)) == PATTERN[:100]
        start = time.monotonic()
        assert sock.recv(100) == b""
        return time.monotonic() - start


def test_slow_close_delays_the_close(proxy: Proxy) -> None:
    prompt = _eof_delay(proxy)
    proxy.add_toxic(SlowClose(delay_ms=500))
    delayed = _eof_delay(proxy)
    # Lower bounds judge the toxic; the upper ones only catch a wrong unit, so
    # a busy machine cannot fail them.
    assert prompt < 0.4, f"EOF {prompt:.3f} s after the data with no toxic"
    assert 0.4 <= delayed <= 3.0, f"EOF {delayed:.3f} s after the data, expected 0.5 s"


def test_timeout_zero_blackholes_until_removed(proxy: Proxy) -> None:
    active = proxy.add_toxic(Timeout(timeout_ms=0))
    with _connect(proxy, timeout=0.7) as sock:
        sock.sendall(b"100\n")
        start = time.monotonic()
        with pytest.raises(TimeoutError):
            sock.recv(100)
        assert time.monotonic() - start >= 0.6
    proxy.remove_toxic(active.name)
    assert fetch(proxy, 100) == PATTERN[:100]


def test_timeout_closes_after_timeout_ms(proxy: Proxy) -> None:
    proxy.add_toxic(Timeout(timeout_ms=400))
    with _connect(proxy, timeout=3.0) as sock:
        sock.sendall(b"100\n")
        start = time.monotonic()
        try:
            data = sock.recv(100)
        except ConnectionResetError:
            data = b""
        closed_after = time.monotonic() - start
    assert data == b"", "data passed a timeout toxic"
    assert 0.3 <= closed_after <= 1.5, f"closed after {closed_after:.3f} s, expected 0.4 s"


def _reset_after(proxy: Proxy) -> tuple[int | None, float]:
    with _connect(proxy, timeout=3.0) as sock:
        start = time.monotonic()
        sock.sendall(b"100\n")
        try:
            data = sock.recv(100)
        except ConnectionResetError as exc:
            return exc.errno, time.monotonic() - start
        pytest.fail(f"expected a connection reset, got {data!r}")


def test_reset_peer_resets_the_connection(proxy: Proxy) -> None:
    proxy.add_toxic(ResetPeer())
    code, at_once = _reset_after(proxy)
    assert code == errno.ECONNRESET
    assert at_once < 0.2
    proxy.update_toxic(ResetPeer(timeout_ms=500))
    code, later = _reset_after(proxy)
    assert code == errno.ECONNRESET
    assert 0.4 <= later <= 1.5, f"reset after {later:.3f} s, expected 0.5 s"


def test_slicer_delivers_many_small_chunks(proxy: Proxy) -> None:
    size = 3000
    proxy.add_toxic(Slicer(average_size=100, size_variation=20, delay_us=10_000))
    with _connect(proxy) as sock:
        sock.sendall(f"{size}\n".encode())
        chunks = _read(sock, size, time.monotonic() + 5.0)
    assert b"".join(chunks) == PATTERN[:size]
    assert len(chunks) >= 10, f"only {len(chunks)} chunks"
    assert statistics.median(len(c) for c in chunks) < 250


def test_limit_data_cuts_the_answer(proxy: Proxy) -> None:
    proxy.add_toxic(LimitData(bytes=1000))
    with _connect(proxy) as sock:
        sock.sendall(b"5000\n")
        try:
            data = b"".join(_read(sock, 5000, time.monotonic() + 5.0))
        except ConnectionResetError:
            pytest.fail("limit_data should close cleanly after its bytes")
    assert data == PATTERN[:1000]


def test_toxics_round_trip_as_typed_records(proxy: Proxy) -> None:
    toxic = Latency(123, jitter_ms=7, stream="upstream", toxicity=0.5, name="slow-up")
    active = proxy.add_toxic(toxic)
    assert active.toxic == toxic
    assert (active.proxy, active.name, active.type) == ("link", "slow-up", "latency")
    other = proxy.add_toxic(LimitData(bytes=10))
    assert other.name == "limit_data_downstream"
    assert {t.name: t.toxic for t in proxy.toxics()} == {"slow-up": toxic, other.name: other.toxic}
    proxy.remove_toxic("slow-up")
    assert [t.name for t in proxy.toxics()] == [other.name]


def test_update_toxic_changes_the_effect(proxy: Proxy) -> None:
    proxy.add_toxic(Latency(50))
    before = median_rtt(proxy, 3)
    updated = proxy.update_toxic(Latency(350))
    assert updated.toxic == Latency(350)
    after = median_rtt(proxy, 3)
    assert before < 0.2
    assert 0.3 <= after <= 0.5, f"median {after:.3f} s after update to 350 ms"
    proxy.update_toxic(Latency(350, toxicity=0.0))
    assert median_rtt(proxy, 3) < 0.1


def test_reset_heals_every_proxy(client: ToxiproxyClient, proxy: Proxy, upstream: str) -> None:
    other = client.create_proxy("other", listen=f"{HOST}:0", upstream=upstream)
    proxy.add_toxic(Latency(300))
    other.add_toxic(Timeout(timeout_ms=0))
    other.disable()
    client.reset()
    assert [p.toxics() for p in client.proxies().values()] == [[], []]
    assert all(p.enabled for p in client.proxies().values())
    assert median_rtt(proxy, 3) < 0.1
    assert fetch(other, 100) == PATTERN[:100]


# -- bad input and failures ------------------------------------------------------------


def test_port_in_use_names_the_port(client: ToxiproxyClient, upstream: str) -> None:
    with socket.socket() as taken:
        taken.bind((HOST, 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ProxyPortInUse) as info:
            client.create_proxy("clash", listen=f"{HOST}:{port}", upstream=upstream)
    assert info.value.port == port
    assert f"port {port} is already in use" in str(info.value)
    assert isinstance(info.value, OSError) and isinstance(info.value, ToxiproxyError)
    assert "clash" not in client.proxies()


def test_server_errors_carry_status_and_text(proxy: Proxy, client: ToxiproxyClient) -> None:
    with pytest.raises(ToxiproxyError) as dup_proxy:
        client.create_proxy("link", listen=f"{HOST}:0", upstream=proxy.upstream)
    assert dup_proxy.value.status == 409
    assert dup_proxy.value.server_message == "proxy already exists"
    proxy.add_toxic(Latency(10))
    with pytest.raises(ToxiproxyError) as dup_toxic:
        proxy.add_toxic(Latency(20))
    assert dup_toxic.value.status == 409
    with pytest.raises(ToxiproxyNotFound):
        proxy.remove_toxic("nope")
    with pytest.raises(ToxiproxyError, match="remove it and add the new one"):
        proxy.update_toxic(Bandwidth(rate_kb=5, name="latency_downstream"))
    assert [t.toxic for t in proxy.toxics()] == [Latency(10)]
    with pytest.raises(ToxiproxyError) as bad_type:
        client.request("POST", "/proxies/link/toxics", {"type": "nonsense"})
    assert bad_type.value.status == 400
    assert "invalid toxic type" in str(bad_type.value)


def test_server_not_running_is_named() -> None:
    url = f"http://{HOST}:{free_port()}"
    start = time.monotonic()
    with pytest.raises(ToxiproxyUnavailable) as info:
        ToxiproxyClient(url, timeout=60.0).version()
    assert time.monotonic() - start < 30.0  # refused at once, not after the timeout
    assert url in str(info.value)
    assert "does not seem to be running" in str(info.value)
    assert isinstance(info.value, ConnectionError)


def test_hung_server_times_out() -> None:
    with socket.socket() as silent:
        silent.bind((HOST, 0))
        silent.listen()
        url = f"http://{HOST}:{silent.getsockname()[1]}"
        start = time.monotonic()
        with pytest.raises(ToxiproxyUnavailable, match=r"did not answer within 0\.3 s"):
            ToxiproxyClient(url, timeout=0.3).proxies()
        waited = time.monotonic() - start
    assert 0.25 <= waited <= 1.5
