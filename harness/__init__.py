"""failmodel: make a design's failure-model table executable.

Data flows design file -> provision -> workload + faults -> history ->
invariant checks -> report; the subpackages follow that order.
"""

__version__ = "0.1.0"
