"""The course exercise sheets' APIs, with the sheets' class names and signatures, as thin views over nasforge.

* :mod:`nasforge.exercises.nb201`: the NAS-Bench-201 sheet (cell, macro graph, random search, benchmark API).
* :mod:`nasforge.exercises.darts_mnist`: the DARTS-on-MNIST sheet (PRIMITIVES, MixedOp, Network, Architect).

A sheet's ``lib/`` modules can be one-line re-exports (``from nasforge.exercises.nb201 import *``).
Where the sheet and NAS-Bench-201 differ, nasforge keeps NAS-Bench-201's behaviour; ``docs/exercises.md``
lists every difference and what it changes.
"""
