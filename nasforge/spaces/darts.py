"""DARTS cell architectures as plain values (no torch): the :class:`Genotype` and the op names of each space.

A DARTS cell has ``n_inputs`` input states (the outputs of the previous cells; two in the original
DARTS CNN space, one in the seed's MNIST space) followed by ``steps`` intermediate nodes. In the
discrete cell each intermediate node sums the ops on at most two incoming edges, and the cell's
output is the concatenation of the intermediate nodes. A genotype lists, node after node, the
``(op, input_state)`` pairs of the kept edges, exactly like the original code's
``Genotype(normal=[('sep_conv_3x3', 0), ...], normal_concat=range(2, 6), reduce=..., reduce_concat=...)``.
Node ``j`` (0-based among the intermediate nodes) keeps ``min(2, n_inputs + j)`` edges, so the flat
list is unambiguous once ``n_inputs`` (the first entry of the concat list) is known.

>>> g = Genotype.parse("Genotype(normal=[('conv_3x3', 0), ('skip_connect', 0), ('max_pool_3x3', 1)], "
...                    "normal_concat=range(1, 3), reduce=[('avg_pool_3x3', 0), ('conv_3x3', 0), ('conv_3x3', 1)], "
...                    "reduce_concat=range(1, 3))")
>>> g.n_inputs, g.steps, g.node_edges("normal")[1]
(1, 2, (('skip_connect', 0), ('max_pool_3x3', 1)))
>>> Genotype.from_json(g.to_json()) == g
True
"""

from __future__ import annotations

import ast
import json
from dataclasses import dataclass
from typing import Any, Literal

from nasforge.errors import ArchError

DARTS_OPS: tuple[str, ...] = (
    "none",
    "max_pool_3x3",
    "avg_pool_3x3",
    "skip_connect",
    "sep_conv_3x3",
    "sep_conv_5x5",
    "dil_conv_3x3",
    "dil_conv_5x5",
)
"""The original DARTS CNN space's ops (``PRIMITIVES`` in the DARTS code), in its order."""

MNIST_OPS: tuple[str, ...] = ("avg_pool_3x3", "max_pool_3x3", "skip_connect", "conv_3x3")
"""The DARTS-MNIST sheet's ops (its ``PRIMITIVES``), in its order: the columns of the space's α."""

ALL_CELL_OPS: tuple[str, ...] = tuple(dict.fromkeys(MNIST_OPS + DARTS_OPS))
"""Every op a :class:`Genotype` may name (the DARTS-style spaces; NB201 cells are :class:`NB201Arch`)."""

CellKind = Literal["normal", "reduce"]
CELL_KINDS: tuple[CellKind, ...] = ("normal", "reduce")

Edge = tuple[str, int]


def edges_per_node(n_inputs: int, steps: int) -> tuple[int, ...]:
    """How many incoming edges each intermediate node keeps: two, or all it has when it has fewer."""
    return tuple(min(2, n_inputs + j) for j in range(steps))


@dataclass(frozen=True)
class Genotype:
    """A discrete DARTS architecture: kept ``(op, input)`` edges of the normal and the reduction cell.

    ``normal``/``reduce`` are flat, node after node; ``normal_concat``/``reduce_concat`` are the states
    concatenated into the cell output (all intermediate nodes: ``range(n_inputs, n_inputs + steps)``).
    """

    normal: tuple[Edge, ...]
    normal_concat: tuple[int, ...]
    reduce: tuple[Edge, ...]
    reduce_concat: tuple[int, ...]

    def __post_init__(self) -> None:
        for kind in CELL_KINDS:
            edges = tuple((str(op), int(src)) for op, src in getattr(self, kind))
            concat = tuple(int(i) for i in getattr(self, f"{kind}_concat"))
            object.__setattr__(self, kind, edges)
            object.__setattr__(self, f"{kind}_concat", concat)
        if self.normal_concat != self.reduce_concat:
            raise ArchError(
                f"normal_concat {list(self.normal_concat)} and reduce_concat {list(self.reduce_concat)} differ; "
                "both cells must have the same inputs and intermediate nodes"
            )
        concat = self.normal_concat
        if not concat or concat[0] < 1 or concat != tuple(range(concat[0], concat[0] + len(concat))):
            raise ArchError(
                f"concat list {list(concat)} must be the intermediate nodes range(n_inputs, n_inputs + steps), "
                "e.g. range(2, 6) for the DARTS space or range(1, 3) for darts-mnist"
            )
        for kind in CELL_KINDS:
            self._check_cell(kind)

    def _check_cell(self, kind: CellKind) -> None:
        edges = getattr(self, kind)
        expected = sum(edges_per_node(self.n_inputs, self.steps))
        if len(edges) != expected:
            raise ArchError(
                f"the {kind} cell lists {len(edges)} edges, but {self.steps} nodes with {self.n_inputs} input(s) "
                f"keep {expected} (two per node, fewer only where a node has fewer inputs)"
            )
        for node, node_edges in enumerate(self._group(edges)):
            for op, src in node_edges:
                if op not in ALL_CELL_OPS:
                    raise ArchError(f"unknown op {op!r} in the {kind} cell; valid ops: {', '.join(ALL_CELL_OPS)}")
                if not 0 <= src < self.n_inputs + node:
                    raise ArchError(
                        f"edge ({op!r}, {src}) of {kind} node {self.n_inputs + node} reads state {src}, "
                        f"but only states 0..{self.n_inputs + node - 1} come before it"
                    )

    # --- shape --------------------------------------------------------------------------------------------------

    @property
    def n_inputs(self) -> int:
        """Number of cell input states (states ``0..n_inputs-1``)."""
        return self.normal_concat[0]

    @property
    def steps(self) -> int:
        """Number of intermediate nodes."""
        return len(self.normal_concat)

    def _group(self, edges: tuple[Edge, ...]) -> tuple[tuple[Edge, ...], ...]:
        groups, start = [], 0
        for count in edges_per_node(self.n_inputs, self.steps):
            groups.append(edges[start : start + count])
            start += count
        return tuple(groups)

    def node_edges(self, kind: CellKind) -> tuple[tuple[Edge, ...], ...]:
        """The kept edges of each intermediate node of the ``kind`` cell."""
        if kind not in CELL_KINDS:
            raise ArchError(f"unknown cell kind {kind!r}; valid kinds: {', '.join(CELL_KINDS)}")
        return self._group(getattr(self, kind))

    def ops(self) -> frozenset[str]:
        """Every op name the genotype uses."""
        return frozenset(op for kind in CELL_KINDS for op, _ in getattr(self, kind))

    def check_space(self, space: str) -> None:
        """Raise :class:`ArchError` unless every op belongs to the one-shot ``space``."""
        from nasforge.spaces.registry import SPACES  # the registry imports this module's op names

        if space not in SPACES:
            raise ArchError(f"unknown space {space!r}; valid spaces: {', '.join(SPACES)}")
        valid = SPACES[space].ops
        bad = sorted(self.ops() - set(valid))
        if bad:
            raise ArchError(f"op(s) {', '.join(bad)} are not in the {space} space; its ops: {', '.join(valid)}")

    # --- forms --------------------------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return {
            "normal": [list(e) for e in self.normal],
            "normal_concat": list(self.normal_concat),
            "reduce": [list(e) for e in self.reduce],
            "reduce_concat": list(self.reduce_concat),
        }

    @classmethod
    def from_dict(cls, data: Any) -> Genotype:
        """Inverse of :meth:`to_dict`; :class:`ArchError` on any malformed field."""
        keys = ("normal", "normal_concat", "reduce", "reduce_concat")
        if not isinstance(data, dict) or set(data) != set(keys):
            got = sorted(data) if isinstance(data, dict) else type(data).__name__
            raise ArchError(f"a genotype needs exactly the fields {', '.join(keys)}; got {got}")
        try:
            edges = {k: tuple(_edge(e) for e in data[k]) for k in ("normal", "reduce")}
            concat = {k: tuple(_int(i) for i in data[k]) for k in ("normal_concat", "reduce_concat")}
        except (TypeError, ValueError) as exc:
            raise ArchError(f"malformed genotype: {exc}") from None
        return cls(edges["normal"], concat["normal_concat"], edges["reduce"], concat["reduce_concat"])

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    @classmethod
    def from_json(cls, text: str) -> Genotype:
        try:
            data = json.loads(text)
        except (json.JSONDecodeError, RecursionError) as exc:
            reason = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
            raise ArchError(
                f"genotype is not valid JSON ({reason}); expected {{'normal': [[op, input], ...], ...}}"
            ) from None
        return cls.from_dict(data)

    def __str__(self) -> str:
        """DARTS' printable form (what its ``genotypes.py`` holds), readable back with :meth:`parse`."""

        def cell(edges: tuple[Edge, ...]) -> str:
            return "[" + ", ".join(f"({op!r}, {src})" for op, src in edges) + "]"

        def concat(c: tuple[int, ...]) -> str:
            return f"range({c[0]}, {c[-1] + 1})"

        return (
            f"Genotype(normal={cell(self.normal)}, normal_concat={concat(self.normal_concat)}, "
            f"reduce={cell(self.reduce)}, reduce_concat={concat(self.reduce_concat)})"
        )

    @classmethod
    def parse(cls, text: str) -> Genotype:
        """Parse DARTS' printable form ``Genotype(normal=[...], normal_concat=range(2, 6), ...)`` or JSON."""
        text = text.strip()
        if text.startswith("{"):
            return cls.from_json(text)
        try:
            tree = ast.parse(text, mode="eval").body
        except (SyntaxError, RecursionError, MemoryError):  # deep nesting exhausts the parser
            raise ArchError(f"cannot parse genotype {text[:80]!r}: expected Genotype(normal=[...], ...)") from None
        if not (isinstance(tree, ast.Call) and getattr(tree.func, "id", None) == "Genotype" and not tree.args):
            raise ArchError(f"cannot parse genotype {text[:80]!r}: expected Genotype(normal=[...], normal_concat=...)")
        fields = {kw.arg: _literal(kw.value) for kw in tree.keywords}
        return cls.from_dict(fields)


def _literal(node: ast.expr) -> Any:
    # range(a, b) is how DARTS writes the concat lists; everything else must be a plain literal.
    if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "range":
        return list(range(*[_literal(a) for a in node.args]))
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, RecursionError):
        raise ArchError(f"genotype field {ast.unparse(node)!r} is not a literal list or range(a, b)") from None


def _int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{value!r} is not a state index")
    return value


def _edge(value: Any) -> Edge:
    if not (isinstance(value, list | tuple) and len(value) == 2 and isinstance(value[0], str)):
        raise ValueError(f"edge {value!r} is not an (op, input_state) pair")
    return value[0], _int(value[1])


DARTS_V2 = Genotype.parse(
    "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 1), "
    "('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), ('dil_conv_3x3', 2)], "
    "normal_concat=range(2, 6), reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), "
    "('max_pool_3x3', 1), ('max_pool_3x3', 0), ('skip_connect', 2), ('skip_connect', 2), ('max_pool_3x3', 1)], "
    "reduce_concat=range(2, 6))"
)
"""The genotype the DARTS paper reports (second order, CIFAR-10), for comparison and tests."""


def derive_cell(weights: Any, ops: tuple[str, ...], n_inputs: int, steps: int) -> tuple[Edge, ...]:
    """The kept edges of one cell from its softmax(α) rows (edge order: node after node, inputs ascending).

    For each intermediate node, an edge's strength is its largest non-``none`` op weight; the node keeps
    its strongest ``min(2, inputs)`` edges (strongest first, ties to the earlier input, as DARTS' stable
    sort does), each with its strongest non-``none`` op.
    """
    rows = [list(map(float, row)) for row in weights]
    expected = sum(n_inputs + j for j in range(steps))
    if len(rows) != expected or any(len(r) != len(ops) for r in rows):
        raise ArchError(f"need {expected} rows of {len(ops)} op weights for {steps} nodes with {n_inputs} input(s)")
    live = [k for k, op in enumerate(ops) if op != "none"]
    edges: list[Edge] = []
    start = 0
    for j, keep in enumerate(edges_per_node(n_inputs, steps)):
        node_rows = rows[start : start + n_inputs + j]
        start += n_inputs + j
        order = sorted(range(len(node_rows)), key=lambda src: -max(node_rows[src][k] for k in live))
        for src in order[:keep]:
            best = max(live, key=lambda k: (node_rows[src][k], -k))
            edges.append((ops[best], src))
    return tuple(edges)


def derive_genotype(normal: Any, reduce: Any, ops: tuple[str, ...], n_inputs: int, steps: int) -> Genotype:
    """:func:`derive_cell` for both cells: the discrete genotype the search's α currently select."""
    concat = tuple(range(n_inputs, n_inputs + steps))
    return Genotype(
        derive_cell(normal, ops, n_inputs, steps), concat, derive_cell(reduce, ops, n_inputs, steps), concat
    )
