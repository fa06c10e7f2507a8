"""Load the report's plotting stack before any in-process ``pytester`` run.

An in-process run forgets every module first imported inside it, and numpy
(under matplotlib) refuses to be imported a second time in one process: a
later test drawing a report would then find no pictures.
"""

import matplotlib.backends.backend_svg
import matplotlib.figure
import matplotlib.lines
import matplotlib.patches
import matplotlib.ticker  # noqa: F401
