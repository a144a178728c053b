"""Search spaces: architecture values (torch-free), the registry of spaces and their views, and, in ``*_model``
modules, the networks built from them."""

from nasforge.spaces.darts import DARTS_OPS, MNIST_OPS, Genotype
from nasforge.spaces.nb201 import EDGES, OPS, NB201Arch
from nasforge.spaces.registry import get_space, list_spaces

__all__ = ["DARTS_OPS", "EDGES", "MNIST_OPS", "OPS", "Genotype", "NB201Arch", "get_space", "list_spaces"]
