"""One-shot NAS: DARTS' continuous relaxation, supernets of the registered spaces, the architect, the search loop.

>>> from nasforge.oneshot import build_supernet, SearchConfig, search          # doctest: +SKIP
>>> net = build_supernet("darts-mnist", "mnist")                                # doctest: +SKIP
>>> result = search(SearchConfig(space="darts-mnist", epochs=5), mnist_train)  # doctest: +SKIP
>>> print(result.arch)                                                          # doctest: +SKIP
Genotype(normal=[...], normal_concat=range(1, 3), reduce=[...], reduce_concat=range(1, 3))
"""

from nasforge.oneshot.architect import Architect, finite_difference_hvp
from nasforge.oneshot.mixed import MixedEdges, MixedOp, weighted_sum
from nasforge.oneshot.search import SearchConfig, SearchRecord, SearchResult, load_genotype, search
from nasforge.oneshot.supernet import DartsSupernet, NB201Supernet, SearchCell, Supernet, build_supernet

__all__ = [
    "Architect",
    "DartsSupernet",
    "MixedEdges",
    "MixedOp",
    "NB201Supernet",
    "SearchCell",
    "SearchConfig",
    "SearchRecord",
    "SearchResult",
    "Supernet",
    "build_supernet",
    "finite_difference_hvp",
    "load_genotype",
    "search",
    "weighted_sum",
]
