"""Installing and finding the binaries of the services the local backend runs."""

from harness.setup.binaries import Binaries, MissingBinary, find_binaries
from harness.setup.cache import cache_dir
from harness.setup.commands import SetupError
from harness.setup.install import setup

__all__ = ["Binaries", "MissingBinary", "SetupError", "cache_dir", "find_binaries", "setup"]
