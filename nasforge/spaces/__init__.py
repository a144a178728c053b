"""Search spaces: architecture values (torch-free) and, in ``*_model`` modules, the networks built from them."""

from nasforge.spaces.nb201 import EDGES, OPS, NB201Arch

__all__ = ["EDGES", "OPS", "NB201Arch"]
