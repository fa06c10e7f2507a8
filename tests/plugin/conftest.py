"""Load the report's plotting stack before any in-process ``pytester`` run.

An in-process run forgets every module first imported inside it, and numpy
(under matplotlib) refuses to be imported a second time in one process: a
later test drawing a report would then find no pictures.
"""

import matplotlib.backends.backend_svg  # noqa: F401
import matplotlib.figure  # noqa: F401
import matplotlib.lines  # noqa: F401
import matplotlib.patches  # noqa: F401
import matplotlib.ticker  # noqa: F401
