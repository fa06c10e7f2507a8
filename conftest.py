"""Load the failmodel pytest plugin in a checkout where the package is not installed.

Installed, pytest loads it through the ``pytest11`` entry point ``failmodel``,
and listing it here too would register the same module twice (an error). So
it is listed only when that entry point is absent or autoloading is off.
"""

from __future__ import annotations

import os
from importlib.metadata import entry_points


def _loaded_by_entry_point() -> bool:
    if os.environ.get("PYTEST_DISABLE_PLUGIN_AUTOLOAD"):
        return False
    return any(
        ep.name == "failmodel" and ep.value == "harness.pytest_plugin"
        for ep in entry_points(group="pytest11")
    )


pytest_plugins: list[str] = [] if _loaded_by_entry_point() else ["harness.pytest_plugin"]

# The test designs under tests/fixtures/designs are inputs of tests that
# verify them with their buggy variants; walking the folder must not also
# collect them as design files to verify with the correct variant.
collect_ignore_glob = ["tests/fixtures/designs/*.toml"]
