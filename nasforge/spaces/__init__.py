"""Search spaces: architecture values (torch-free) and, in ``*_model`` modules, the networks built from them."""

from nasforge.spaces.darts import DARTS_OPS, MNIST_OPS, Genotype
from nasforge.spaces.nb201 import EDGES, OPS, NB201Arch

__all__ = ["DARTS_OPS", "EDGES", "MNIST_OPS", "OPS", "Genotype", "NB201Arch"]
