"""libfaketime for clock faults: Debian's package plus a small shim compiled once.

A clock fault (``clock:<process>``) runs the process under libfaketime with a control
file, so its wall clock can be skewed, stepped and made to drift while it runs,
without a restart (docs/faults.md, "Clock faults"). Two pieces:

- Debian's ``faketime`` package, installed with apt when missing, and of it the
  synchronised build (``libfaketimeMT.so.1``): with ``FAKETIME_NO_CACHE=1`` the plain
  build reads the control file into a buffer all threads share, and a thread reading
  the clock while another refills it sees the true time (libfaketime PR #547). A
  4-thread C probe stepped 500 s back saw the true time on 3462 of 2.0 million reads
  with the plain build and on none of 1.7 million with this one; a JVM test once saw
  it in CI. The cost is a mutex per clock read;
- a shim preloaded before it: with ``FAKETIME_DONT_FAKE_MONOTONIC=1`` (a skewed host
  still has a true monotonic clock, and asyncio's timers need one) libfaketime 0.9.10
  turns ``clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME)`` into an invalid call
  (libfaketime issue #426): Python 3.11's ``time.sleep`` then fails with EINVAL. The
  shim sends sleeps on the monotonic clocks straight to the kernel.

The shim is compiled with gcc into the cache, keyed by its source, so set-up does it once.
"""

from __future__ import annotations

import hashlib
import shutil
from dataclasses import dataclass
from pathlib import Path

from harness.setup.commands import SetupError, run
from harness.setup.staging import is_complete, staged_dir

PACKAGE = "faketime"
LIBRARY_GLOB = "/usr/lib/*/faketime/libfaketimeMT.so.1"

SHIM_SOURCE = """\
/* failmodel: sleeps on the monotonic clocks go straight to the kernel, so that
   libfaketime with FAKETIME_DONT_FAKE_MONOTONIC=1 cannot make them invalid. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

typedef int (*clock_nanosleep_fn)(clockid_t, int, const struct timespec *, struct timespec *);

int clock_nanosleep(clockid_t id, int flags, const struct timespec *req, struct timespec *rem)
{
    if (id == CLOCK_MONOTONIC || id == CLOCK_MONOTONIC_RAW || id == CLOCK_BOOTTIME) {
        long r = syscall(SYS_clock_nanosleep, id, flags, req, rem);
        return r == 0 ? 0 : errno;
    }
    static clock_nanosleep_fn next;
    if (next == NULL)
        next = (clock_nanosleep_fn)dlsym(RTLD_NEXT, "clock_nanosleep");
    return next(id, flags, req, rem);
}
"""


@dataclass(frozen=True, slots=True)
class FakeTime:
    """What a process needs preloaded for a controllable clock, in preload order."""

    shim: Path
    library: Path

    @property
    def preload(self) -> str:
        return f"{self.shim}:{self.library}"


def shim_dir(cache: Path) -> Path:
    digest = hashlib.sha256(SHIM_SOURCE.encode()).hexdigest()[:12]
    return cache / f"faketime-shim-{digest}"


def find_library() -> Path | None:
    found = sorted(Path("/").glob(LIBRARY_GLOB.lstrip("/")))
    return found[0] if found else None


def find_faketime(cache: Path) -> FakeTime | None:
    """libfaketime and the compiled shim, or None if set-up has not installed them."""
    library = find_library()
    shim = shim_dir(cache) / "clock_shim.so"
    if library is None or not is_complete(shim_dir(cache)):
        return None
    return FakeTime(shim=shim, library=library)


def build_shim(cache: Path) -> Path:
    """Compile the shim into the cache (once per source version)."""
    gcc = shutil.which("gcc") or shutil.which("cc")
    if gcc is None:
        raise SetupError("compiling the clock shim needs gcc; run: apt-get install gcc libc6-dev")
    with staged_dir(shim_dir(cache)) as staging:
        source = staging / "clock_shim.c"
        source.write_text(SHIM_SOURCE, encoding="utf-8")
        run(
            [gcc, "-O2", "-shared", "-fPIC", "-o", str(staging / "clock_shim.so"), str(source),
             "-ldl"],
            what="compiling the clock shim",
            timeout=120,
        )
    return shim_dir(cache) / "clock_shim.so"
