"""The Toxiproxy server, built from source at a pinned version with ``go install``."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

from harness.setup.binaries import TOXIPROXY_VERSION, toxiproxy_dir
from harness.setup.commands import SetupError, run
from harness.setup.staging import staged_dir

MODULE = f"github.com/Shopify/toxiproxy/v2/cmd/server@v{TOXIPROXY_VERSION}"
MIN_GO = (1, 23)
GO_FALLBACK_DIR = "/usr/local/go/bin"  # where the official tarball puts it, often off PATH


def go_binary() -> str:
    found = shutil.which("go") or shutil.which("go", path=GO_FALLBACK_DIR)
    wanted = ".".join(map(str, MIN_GO))
    if found is None:
        raise SetupError(
            f"building the Toxiproxy server needs Go >= {wanted}, and 'go' is not on PATH; "
            "install Go and run 'failmodel setup' again"
        )
    output = run([found, "version"], what="checking the Go version", timeout=60)
    match = re.search(r"go(\d+)\.(\d+)", output)
    if match is None or (int(match.group(1)), int(match.group(2))) < MIN_GO:
        raise SetupError(
            f"building the Toxiproxy server needs Go >= {wanted} (got {output.strip()!r}); "
            "install a newer Go and run 'failmodel setup' again"
        )
    return found


def install_toxiproxy(cache: Path) -> Path:
    """Build the server into the cache; Go's module and build caches live there too."""
    go = go_binary()
    go_home = cache / "go"
    with staged_dir(toxiproxy_dir(cache)) as staging:
        env = {
            **os.environ,
            "GOBIN": str(staging),
            "GOMODCACHE": str(go_home / "mod"),
            "GOCACHE": str(go_home / "build"),
            "GOPATH": str(go_home / "path"),
            "GOFLAGS": "-buildvcs=false",
        }
        run([go, "install", MODULE], what=f"go install {MODULE}", env=env)
        run([str(staging / "server"), "-version"], what="checking the Toxiproxy server", timeout=30)
    return toxiproxy_dir(cache) / "server"
