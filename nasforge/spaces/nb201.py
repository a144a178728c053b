"""The NAS-Bench-201 cell search space as plain values (no torch).

A cell is a DAG on nodes 0..3 with one op on each of the six edges i→j (i < j); 5 ops give
5**6 = 15,625 cells. :class:`NB201Arch` is the one value that travels through nasforge: it parses and
prints NB201's arch string, converts to and from the official NB201 index, a ConfigSpace
configuration and a networkx graph, and computes the isomorphism-aware canonical forms.

>>> arch = NB201Arch.parse(
...     "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"
... )
>>> arch.op(2, 3), arch.op_code
('nor_conv_3x3', '333133')
>>> NB201Arch.from_index(arch.index) == arch
True
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from types import MappingProxyType
from typing import TYPE_CHECKING, Literal

import numpy as np

from nasforge.errors import ArchError

if TYPE_CHECKING:
    import networkx as nx
    from ConfigSpace import ConfigurationSpace

OPS: tuple[str, ...] = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
"""NB201's op names, in NB201's order (the digit of an op in :attr:`NB201Arch.op_code`)."""

EDGES: tuple[tuple[int, int], ...] = ((0, 1), (0, 2), (1, 2), (0, 3), (1, 3), (2, 3))
"""The six edges (from, to) in arch-string order."""

NUM_NODES = 4
NUM_ARCHS = len(OPS) ** len(EDGES)  # 15,625
_OP_INDEX: Mapping[str, int] = MappingProxyType({op: i for i, op in enumerate(OPS)})
_PLACES = tuple(len(OPS) ** (len(EDGES) - 1 - k) for k in range(len(EDGES)))  # base-5 weight of each edge's digit

CanonicalKind = Literal["nb201", "functional"]
CANONICAL_KINDS: tuple[CanonicalKind, ...] = ("nb201", "functional")


def edge_name(edge: tuple[int, int]) -> str:
    """The config-space name of an edge, e.g. ``edge_0-1``."""
    return f"edge_{edge[0]}-{edge[1]}"


@dataclass(frozen=True, order=True)
class NB201Arch:
    """One NB201 cell: the op on each edge, in :data:`EDGES` order. Frozen, hashable, ordered.

    Three integer spellings, each for a different reader (cell 9930 below is NB201's best CIFAR-10 cell,
    ``|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|``):

    * :attr:`op_code` (``'333133'``): the ops themselves, one digit per edge in arch-string order (the digit is
      the op's position in :data:`OPS`); what people type (``op:333133``) and read;
    * :attr:`code` (``11668``): that op code read as a base-5 number, 0..15624 in lexicographic op order
      (``none`` everywhere is 0); nasforge's dense array position, which needs no table;
    * :attr:`index` (``9930``): the official NB201 / NATS-Bench (tss) index, NB201's shuffled numbering that
      only its files record (``nb201_index.bin`` maps it to :attr:`code`); what papers and benchmark files use.
    """

    ops: tuple[str, ...]

    def __post_init__(self) -> None:
        ops = tuple(self.ops)
        object.__setattr__(self, "ops", ops)
        if len(ops) != len(EDGES):
            raise ArchError(f"an NB201 cell has {len(EDGES)} edges, got {len(ops)} ops: {ops}")
        for op in ops:
            if op not in OPS:
                raise ArchError(f"unknown NB201 op {op!r}; valid ops: {', '.join(OPS)}")

    def __hash__(self) -> int:
        # The base-5 code (cached on the value) instead of hashing the six op strings: optimizers put every asked
        # arch in a set, once per trial of millions in ``nasforge compare``. Equal archs have equal codes.
        return self.code

    # --- the NB201 arch string ---------------------------------------------------------------------------------

    @classmethod
    def parse(cls, text: str) -> NB201Arch:
        """Parse NB201's string ``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|``."""
        groups = text.strip().split("+")
        if len(groups) != NUM_NODES - 1:
            raise ArchError(
                f"malformed NB201 arch string {text!r}: expected {NUM_NODES - 1} node groups joined by '+', "
                f"got {len(groups)}; example: {EXAMPLE_STRING}"
            )
        ops: list[str] = []
        for node, group in enumerate(groups, start=1):
            if len(group) < 2 or group[0] != "|" or group[-1] != "|":
                raise ArchError(
                    f"malformed NB201 arch string {text!r}: node group {group!r} must start and end with '|'"
                )
            entries = group[1:-1].split("|")
            if len(entries) != node:
                raise ArchError(
                    f"malformed NB201 arch string {text!r}: node {node} needs {node} edges, group {group!r} has "
                    f"{len(entries)}"
                )
            for source, entry in enumerate(entries):
                op, sep, index = entry.partition("~")
                if not sep or index != str(source):
                    raise ArchError(
                        f"malformed NB201 arch string {text!r}: entry {entry!r} of node {node} must be 'op~{source}'"
                    )
                ops.append(op)
        return cls(tuple(ops))

    def to_string(self) -> str:
        """NB201's canonical arch string."""
        parts, k = [], 0
        for node in range(1, NUM_NODES):
            parts.append("|" + "|".join(f"{self.ops[k + i]}~{i}" for i in range(node)) + "|")
            k += node
        return "+".join(parts)

    __str__ = to_string

    @classmethod
    def from_any(cls, text: str) -> NB201Arch:
        """An arch from an arch string, an official index (``"6111"``) or a 6-digit op code (``"op:333133"``)."""
        text = text.strip()
        if text.startswith("op:"):
            return cls.from_op_code(text[3:])
        if text.lstrip("-").isdigit():
            return cls.from_index(int(text))
        return cls.parse(text)

    # --- integer encodings ---------------------------------------------------------------------------------------

    @property
    def op_indices(self) -> tuple[int, ...]:
        """The position of each edge's op in :data:`OPS` (the digits of :attr:`op_code`, as integers)."""
        return tuple(OPS.index(op) for op in self.ops)

    @property
    def op_code(self) -> str:
        """Six digits, one per edge in arch-string order (``0=none ... 4=avg_pool_3x3``), e.g. ``'333133'``."""
        return "".join(str(i) for i in self.op_indices)

    @classmethod
    def from_op_code(cls, code: str) -> NB201Arch:
        if len(code) != len(EDGES) or any(c not in "01234" for c in code):
            raise ArchError(f"invalid NB201 op code {code!r}: expected 6 digits 0-4 (0={OPS[0]} ... 4={OPS[4]})")
        return cls(tuple(OPS[int(c)] for c in code))

    # Cached on the (frozen, immutable) value: searches read both once or twice per trial.
    @functools.cached_property
    def code(self) -> int:
        """The :attr:`op_code` read as a base-5 number (0..15624; ``'333133'`` → 11668); *not* the official
        :attr:`index`. Lexicographic in the ops, so it is nasforge's dense position of the cell."""
        return sum(_OP_INDEX[op] * place for op, place in zip(self.ops, _PLACES))

    @classmethod
    def from_code(cls, code: int) -> NB201Arch:
        """The arch of base-5 ``code`` (one shared value per code: archs are immutable)."""
        if not 0 <= code < NUM_ARCHS:
            raise ArchError(f"NB201 code {code} out of range 0..{NUM_ARCHS - 1}")
        return _arch_table()[code]

    @functools.cached_property
    def index(self) -> int:
        """The official NB201 / NATS-Bench (tss) index (0..15624; ``'333133'`` → 9930): NB201's own shuffled
        order, read from the shipped permutation; the number papers and benchmark files name a cell by."""
        return int(code_to_index_table()[self.code])

    @classmethod
    def from_index(cls, index: int) -> NB201Arch:
        if not 0 <= index < NUM_ARCHS:
            raise ArchError(f"NB201 index {index} out of range: valid indices are 0..{NUM_ARCHS - 1}")
        return cls.from_code(int(index_to_code_table()[index]))

    # --- other views ---------------------------------------------------------------------------------------------

    def op(self, source: int, target: int) -> str:
        """The op on edge ``source → target``."""
        try:
            return self.ops[EDGES.index((source, target))]
        except ValueError:
            raise ArchError(f"({source}, {target}) is not an NB201 edge; edges: {EDGES}") from None

    def to_config(self) -> dict[str, str]:
        """The configuration (edge name → op) in :func:`config_space`."""
        return {edge_name(e): op for e, op in zip(EDGES, self.ops)}

    @classmethod
    def from_config(cls, config: Mapping[str, str]) -> NB201Arch:
        """The arch of a configuration of :func:`config_space` (a ConfigSpace ``Configuration`` or a dict)."""
        missing = [edge_name(e) for e in EDGES if edge_name(e) not in config]
        if missing:
            raise ArchError(f"configuration lacks {', '.join(missing)}; it needs one op per edge: {_edge_names()}")
        return cls(tuple(str(config[edge_name(e)]) for e in EDGES))

    def to_graph(self) -> nx.DiGraph:
        """A ``networkx.DiGraph`` on nodes 0..3 whose edges carry ``op``."""
        import networkx as nx

        graph = nx.DiGraph()
        graph.add_nodes_from(range(NUM_NODES))
        for (i, j), op in zip(EDGES, self.ops):
            graph.add_edge(i, j, op=op)
        return graph

    def neighbors(self) -> list[NB201Arch]:
        """The 24 archs that differ from this one on exactly one edge."""
        return [
            NB201Arch(self.ops[:k] + (op,) + self.ops[k + 1 :])
            for k in range(len(EDGES))
            for op in OPS
            if op != self.ops[k]
        ]

    def canonical(self, kind: CanonicalKind = "nb201") -> str:
        """The isomorphism-aware canonical form; two archs with equal forms compute the same function.

        ``"nb201"`` is NB201's own (``to_unique_str(consider_zero=True)``): a skip passes its input's
        expression through, an op on a zero input (or ``none``) yields the placeholder ``#``, and each
        node's terms are sorted; it has 6,466 classes. ``"functional"`` drops zero terms entirely and
        merges each node's terms as a flat multiset, so e.g. a dead branch no longer counts.
        """
        if kind == "nb201":
            return _nb201_form(self.ops)
        if kind == "functional":
            return _functional_form(self.ops)
        raise ArchError(f"unknown canonical form {kind!r}; valid: {', '.join(CANONICAL_KINDS)}")

    def representative(self, kind: CanonicalKind = "nb201") -> NB201Arch:
        """The arch with the lowest official index in this arch's canonical class."""
        return NB201Arch.from_index(int(_representatives(kind)[self.index]))

    def to_dict(self) -> dict[str, object]:
        return {"arch": self.to_string(), "index": self.index, "op_code": self.op_code}


EXAMPLE_STRING = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"


def _edge_names() -> str:
    return ", ".join(edge_name(e) for e in EDGES)


# --- the whole space ----------------------------------------------------------------------------------------------


def all_archs() -> Iterator[NB201Arch]:
    """All 15,625 archs in official-index order."""
    for code in index_to_code_table():
        yield NB201Arch.from_code(int(code))


def sample(rng: np.random.Generator) -> NB201Arch:
    """A uniformly random arch (one draw of ``rng``)."""
    return _arch_table()[int(rng.integers(NUM_ARCHS))]


@functools.cache
def _arch_table() -> tuple[NB201Arch, ...]:
    """Every arch, by base-5 code: built once per process (~20 ms), so a search draws and mutates archs without
    building one per trial. ``product`` counts in base 5 with edge 0 as the most significant digit, as ``code``."""
    table = tuple(NB201Arch(ops) for ops in itertools.product(OPS, repeat=len(EDGES)))
    for code, (arch, index) in enumerate(zip(table, code_to_index_table().tolist())):
        # The cached_properties' slots, known here without computing them (nor taking their locks) per arch.
        arch.__dict__["code"], arch.__dict__["index"] = code, index
    return table


class NB201SpaceView:
    """NB201 as the optimizers see it: six categorical variables with five values each (``encode`` = op indices).

    Registered as NB201's black-box view in :mod:`nasforge.spaces.registry`; it adds nothing to the space but
    speed: mutation and encoding work on op indices directly.
    """

    name = "nb201"
    size = NUM_ARCHS
    choices: tuple[int, ...] = (len(OPS),) * len(EDGES)

    def sample(self, rng: np.random.Generator) -> NB201Arch:
        return sample(rng)

    def encode(self, arch: NB201Arch) -> tuple[int, ...]:
        return tuple(_OP_INDEX[op] for op in arch.ops)  # arch.op_indices, without the linear search

    def decode(self, codes: Sequence[int]) -> NB201Arch:
        return NB201Arch(tuple(OPS[int(c)] for c in codes))

    def mutate(self, arch: NB201Arch, rng: np.random.Generator) -> NB201Arch:
        """Change the op of one uniformly chosen edge to a uniformly chosen *different* op (NB201's REA)."""
        edge = int(rng.integers(len(self.choices)))
        code, place = arch.code, _PLACES[edge]
        current = code // place % len(OPS)
        new = int(rng.integers(self.choices[edge] - 1))
        new += new >= current
        return _arch_table()[code + (new - current) * place]  # the arch with that one digit changed

    def neighbors(self, arch: NB201Arch) -> list[NB201Arch]:
        return arch.neighbors()


def config_space(seed: int | None = None, default_op: str = OPS[0]) -> ConfigurationSpace:
    """A ConfigSpace space with one categorical hyperparameter per edge (``edge_0-1`` ... ``edge_2-3``).

    The choices are :data:`OPS` in order; ``default_op`` is every edge's default (the exercise sheet's
    space defaults to ``skip_connect``).
    """
    from ConfigSpace import CategoricalHyperparameter, ConfigurationSpace

    if default_op not in OPS:
        raise ArchError(f"unknown NB201 op {default_op!r}; valid ops: {', '.join(OPS)}")
    space = {edge_name(e): CategoricalHyperparameter(edge_name(e), list(OPS), default_value=default_op) for e in EDGES}
    return ConfigurationSpace(name="nb201", seed=seed, space=space)


def canonical_classes(kind: CanonicalKind = "nb201") -> dict[str, list[int]]:
    """Canonical form → the official indices of its members, ascending (the first is the representative)."""
    classes: dict[str, list[int]] = {}
    for index, code in enumerate(index_to_code_table()):
        classes.setdefault(NB201Arch.from_code(int(code)).canonical(kind), []).append(index)
    return classes


# --- canonical forms ----------------------------------------------------------------------------------------------


def _inputs(ops: tuple[str, ...], node: int) -> list[tuple[str, int]]:
    return [(op, i) for (i, j), op in zip(EDGES, ops) if j == node]


def _nb201_form(ops: tuple[str, ...]) -> str:
    # NB201's CellStructure.to_unique_str(consider_zero=True), term for term.
    nodes = {0: "0"}
    for node in range(1, NUM_NODES):
        terms = []
        for op, source in _inputs(ops, node):
            if op == "none" or nodes[source] == "#":
                terms.append("#")
            elif op == "skip_connect":
                terms.append(nodes[source])
            else:
                terms.append(f"({nodes[source]})@{op}")
        nodes[node] = "+".join(sorted(terms))
    return nodes[NUM_NODES - 1]


def _functional_form(ops: tuple[str, ...]) -> str:
    # Each node is a multiset of terms; zero is the empty multiset, so it vanishes from every sum.
    nodes: dict[int, tuple[str, ...]] = {0: ("x",)}
    for node in range(1, NUM_NODES):
        terms: list[str] = []
        for op, source in _inputs(ops, node):
            if op == "none" or not nodes[source]:
                continue
            if op == "skip_connect":
                terms.extend(nodes[source])
            else:
                terms.append(f"{op}({'+'.join(nodes[source])})")
        nodes[node] = tuple(sorted(terms))
    return "+".join(nodes[NUM_NODES - 1]) or "0"


# --- the official index (a permutation shipped with the package) ------------------------------------------------


@functools.cache
def index_to_code_table() -> np.ndarray:
    """Read-only array: official index -> base-5 code (:attr:`NB201Arch.code`)."""
    data = resources.files("nasforge.spaces").joinpath("nb201_index.bin").read_bytes()
    table = np.frombuffer(data, dtype="<u2").astype(np.int64)
    table.setflags(write=False)
    return table


@functools.cache
def code_to_index_table() -> np.ndarray:
    """Read-only array: base-5 code -> official index; the inverse of :func:`index_to_code_table`."""
    inverse = np.empty(NUM_ARCHS, dtype=np.int64)
    inverse[index_to_code_table()] = np.arange(NUM_ARCHS)
    inverse.setflags(write=False)
    return inverse


@functools.cache
def _representatives(kind: CanonicalKind) -> np.ndarray:
    rep = np.empty(NUM_ARCHS, dtype=np.int64)
    for members in canonical_classes(kind).values():
        rep[members] = members[0]
    rep.setflags(write=False)
    return rep
