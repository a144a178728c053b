"""Supernets: search cells of mixed edges and the networks stacking them, for the one-shot spaces of
:mod:`nasforge.spaces.registry`.

A supernet keeps its architecture parameters apart from its weights: :meth:`arch_parameters`
(``alpha_normal``, ``alpha_reduce``; one ``alpha`` for NB201) and :meth:`weight_parameters`
(everything else). Edges are numbered node after node, inputs ascending (row ``k`` of an α matrix),
which for NB201 is exactly the arch-string edge order (0→1), (0→2), (1→2), (0→3), (1→3), (2→3).

>>> net = build_supernet("darts-mnist", "mnist", C=4)
>>> [tuple(a.shape) for a in net.arch_parameters()]
[(3, 4), (3, 4)]
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from nasforge.data.specs import dataset_spec
from nasforge.errors import ArchError, ConfigError
from nasforge.oneshot.methods import METHODS, Method
from nasforge.oneshot.mixed import (
    MixedEdges,
    OpResolver,
    channel_shuffle,
    darts_search_op,
    mnist_search_op,
    nb201_search_op,
    one_path_sum,
    weighted_sum,
)
from nasforge.spaces.darts import Genotype, derive_genotype
from nasforge.spaces.darts_model import CellShape, DartsNetwork, Macro, cell_layout, make_stem, preprocess
from nasforge.spaces.nb201 import OPS as NB201_OPS
from nasforge.spaces.nb201 import NB201Arch
from nasforge.spaces.nb201_model import ResNetBasicblock
from nasforge.spaces.registry import get_space, oneshot_view
from nasforge.train import seeded

CHANNELS_LAST = torch.channels_last
"""Supernets run in NHWC: PyTorch's CPU pooling and BatchNorm kernels are several times faster on it
(max-pool 3x3 about 10x) and the convolutions are no slower."""

# --- the search cell ------------------------------------------------------------------------------------------


class SearchCell(nn.Module):
    """``n_inputs`` input states, ``steps`` intermediate nodes each fed by every earlier state.

    Output: the concatenation of the intermediate nodes (``output="concat"``, DARTS) or the last node
    (``"last"``, NB201). In a reduction cell the edges from the inputs have stride 2.
    """

    def __init__(
        self,
        n_inputs: int,
        steps: int,
        C: int,
        ops: Sequence[str],
        *,
        reduction: bool = False,
        resolve: OpResolver = darts_search_op,
        output: str = "concat",
    ) -> None:
        super().__init__()
        self.n_inputs, self.steps, self.output, self.reduction, self.C = n_inputs, steps, output, reduction, C
        self.fans = nn.ModuleList()
        node_terms: list[list[tuple[int, int]]] = [[] for _ in range(steps)]  # (alpha row, op column) per term
        for src in range(n_inputs + steps - 1):
            targets = [j for j in range(steps) if src < n_inputs + j]
            fan = MixedEdges(C, 2 if reduction and src < n_inputs else 1, ops, len(targets), resolve)
            self.fans.append(fan)
            for j in targets:
                row = edge_row(n_inputs, j, src)
                node_terms[j].extend((row, col) for col in fan.live_ops)
        for j, terms in enumerate(node_terms):
            self.register_buffer(f"_rows{j}", torch.tensor([r for r, _ in terms]), persistent=False)
            self.register_buffer(f"_cols{j}", torch.tensor([c for _, c in terms]), persistent=False)

    def forward(
        self, inputs: Sequence[torch.Tensor], weights: torch.Tensor, one_path: bool = False, partial: int = 1
    ) -> torch.Tensor:
        """``weights``: edges × ops. ``one_path``: the rows are one-hot (GDAS), so only each edge's chosen op is
        computed (:meth:`_one_path`). ``partial`` = K > 1: partial channel connections (:meth:`_partial`)."""
        if one_path:
            return self._one_path(inputs, weights)
        if partial > 1:
            return self._partial(inputs, weights, partial)
        states = list(inputs)
        pending: list[list[torch.Tensor]] = [[] for _ in range(self.steps)]
        for src, fan in enumerate(self.fans):
            if src >= self.n_inputs:
                states.append(self._node(src - self.n_inputs, weights, pending))
            first = max(0, src - self.n_inputs + 1)
            for j, candidates in enumerate(fan(states[src]), start=first):
                pending[j].extend(candidates)
        states.append(self._node(self.steps - 1, weights, pending))
        return torch.cat(states[self.n_inputs :], dim=1) if self.output == "concat" else states[-1]

    def _one_path(self, inputs: Sequence[torch.Tensor], weights: torch.Tensor) -> torch.Tensor:
        """GDAS' forward: node j = Σ_edges w[e, o_e] · o_e(x) + Σ_edges Σ_{o ≠ o_e} w[e, o], with o_e the argmax
        of row e. The second sum is exactly 0 in value (one-hot rows) but passes the gradient to every other α
        of the edge, as GDAS' own code (``hardwts[i]`` for the ops not taken). Weights without a gradient (a
        uniform path of SPOS / RSPS, a fixed candidate) carry no α term: node j is then Σ_edges o_e(x). With α
        terms a node is one :func:`~nasforge.oneshot.mixed.one_path_sum` (one buffer, no products by 1)."""
        chosen = weights.detach().argmax(dim=-1).tolist()
        carry = weights.requires_grad
        if carry:  # per edge: the sampled op's weight, and the sum of the others' (0 in value)
            picked = weights.gather(1, torch.tensor(chosen, device=weights.device)[:, None])[:, 0]
            unsampled = weights.sum(dim=-1) - picked
        states = list(inputs)
        terms: list[list[torch.Tensor]] = [[] for _ in range(self.steps)]
        term_rows: list[list[int]] = [[] for _ in range(self.steps)]  # the α row of each term
        in_rows: list[list[int]] = [[] for _ in range(self.steps)]  # the α rows of every edge into the node

        def node(j: int) -> torch.Tensor:
            if terms[j] and carry:
                return one_path_sum(picked[term_rows[j]], unsampled[in_rows[j]].sum(), terms[j])
            if terms[j]:
                out = terms[j][0] if len(terms[j]) == 1 else terms[j][0] + terms[j][1]
                for t in terms[j][2:]:
                    out += t  # in place on the node's own new buffer: one allocation per node
                return out
            # every edge into the node chose `none`
            n, _, h, w = inputs[0].shape
            h, w = (h // 2, w // 2) if self.reduction else (h, w)
            out = inputs[0].new_zeros(n, self.C, h, w).contiguous(memory_format=CHANNELS_LAST)
            return out + unsampled[in_rows[j]].sum() if carry else out

        for src, fan in enumerate(self.fans):
            if src >= self.n_inputs:
                states.append(node(src - self.n_inputs))
            first = max(0, src - self.n_inputs + 1)
            rows = [edge_row(self.n_inputs, j, src) for j in range(first, self.steps)]
            picks = [chosen[r] for r in rows]
            for j, r, y in zip(range(first, self.steps), rows, fan.sampled(states[src], picks), strict=True):
                if y is not None:
                    terms[j].append(y)
                    term_rows[j].append(r)
                in_rows[j].append(r)
        states.append(node(self.steps - 1))
        return torch.cat(states[self.n_inputs :], dim=1) if self.output == "concat" else states[-1]

    def _partial(self, inputs: Sequence[torch.Tensor], weights: torch.Tensor, k: int) -> torch.Tensor:
        """PC-DARTS' edge (as DrNAS' NB201 cell): ``shuffle(cat(Σ_o w_o o(x[:C/k]), x[C/k:]), k)``, summed over
        the edges into each node; the ops see only the first ``C / k`` channels, the rest pass through."""
        if self.C % k:
            raise ArchError(f"partial channels need K dividing the cell width, got K={k} for {self.C} channels")
        states = list(inputs)
        sums: list[torch.Tensor | None] = [None] * self.steps
        for src, fan in enumerate(self.fans):
            if src >= self.n_inputs:
                states.append(sums[src - self.n_inputs])
            first = max(0, src - self.n_inputs + 1)
            rest = states[src][:, self.C // k :]
            for j, candidates in enumerate(fan.partial(states[src], k), start=first):
                mixed = weighted_sum(weights[edge_row(self.n_inputs, j, src), list(fan.live_ops)], candidates)
                y = channel_shuffle(torch.cat([mixed, rest], dim=1), k)
                sums[j] = y if sums[j] is None else sums[j] + y
        states.append(sums[-1])
        return torch.cat(states[self.n_inputs :], dim=1) if self.output == "concat" else states[-1]

    def _node(self, j: int, weights: torch.Tensor, pending: list[list[torch.Tensor]]) -> torch.Tensor:
        coefficients = weights[getattr(self, f"_rows{j}"), getattr(self, f"_cols{j}")]
        return weighted_sum(coefficients, pending[j])


def edge_row(n_inputs: int, node: int, src: int) -> int:
    """Row of edge ``src → node`` (``node`` counted among the intermediate nodes) in an α matrix."""
    return sum(n_inputs + j for j in range(node)) + src


def edge_names(n_inputs: int, steps: int) -> list[str]:
    """``"src→dst"`` of every α row, states numbered inputs first (NB201: 0→1, 0→2, 1→2, 0→3, 1→3, 2→3)."""
    return [f"{src}→{n_inputs + j}" for j in range(steps) for src in range(n_inputs + j)]


def space_edge_names(space: str) -> list[str]:
    return edge_names(1, 3) if space == "nb201" else edge_names(*((1, 2) if space == "darts-mnist" else (2, 4)))


def num_edges(n_inputs: int, steps: int) -> int:
    return edge_row(n_inputs, steps, 0)


# --- supernets ------------------------------------------------------------------------------------------------


class Supernet(nn.Module):
    """Common interface: ``forward(x) -> logits``, α apart from weights, ``derive()`` the current discrete arch."""

    space: str
    alpha_names: tuple[str, ...] = ()  # the attributes holding α, one matrix per cell kind
    method: Method = METHODS["darts"]  # the relaxation (nasforge.oneshot.methods); set by the search loop
    tau: float = 1.0  # the method's temperature (GDAS), set per epoch by the search loop
    sample_gen: torch.Generator | None = None  # where sampling methods draw (CPU generator)
    arch_phase: bool = False  # set by the architect during its α step (SETN mixes all ops there)
    weights_only: bool = False  # set by the weight step: its forward mixes with α detached (no α gradient)
    fixed: torch.Tensor | None = None  # one-hot rows of a candidate being scored: overrides the method
    selected: NB201Arch | None = None  # the selecting methods' (SPOS, RSPS, SETN) last selection
    partial: int = 1  # DrNAS' progressive schedule: the partial-channel K of the current stage (1: all channels)
    op_mask: torch.Tensor | None = None  # DrNAS' progressive schedule: the ops still kept per edge (bool)

    def mixing(self, alpha: torch.Tensor) -> torch.Tensor:
        """The per-edge op weights (edges × ops) of a forward pass: a fixed candidate's one-hot rows if one is
        set, else the method's sample while training (its α-step mixing in the α step), its deterministic
        weights in evaluation. With :attr:`weights_only` set, α enters detached: the same weights, but no graph
        to α, so a one-path cell carries no α terms (GDAS) and a mixed node computes no α gradient (DARTS)."""
        if self.weights_only:
            alpha = alpha.detach()
        if self.fixed is not None:
            return self.fixed.to(alpha)
        if not self.training:
            return self._masked(self.method.eval_weights(alpha))
        if self.arch_phase and self.method.arch_weights is not None:
            return self._masked(self.method.arch_weights(alpha, self.tau, self.sample_gen))
        return self._masked(self.method.train_weights(alpha, self.tau, self.sample_gen))

    def _masked(self, weights: torch.Tensor) -> torch.Tensor:
        """DrNAS' pruned ops: their weights zeroed and each row renormalised over the ops kept. For a Dirichlet
        sample this is exactly a sample of Dir(β of the kept ops) (the Dirichlet's aggregation property)."""
        if self.op_mask is None:
            return weights
        kept = weights * self.op_mask.to(weights)
        return kept / kept.sum(dim=-1, keepdim=True)

    def prune(self, keep: int) -> None:
        """Keep the ``keep`` ops of each edge with the largest α among those kept so far (DrNAS' ``prune``:
        the kept ops' α unchanged, the others' set to 0 and masked out)."""
        if len(self.alpha_names) != 1:
            raise ConfigError("pruning ops applies to supernets with one α matrix (nb201)")
        alpha = getattr(self, self.alpha_names[0])
        with torch.no_grad():
            ranked = alpha.detach() if self.op_mask is None else alpha.detach().masked_fill(~self.op_mask, -math.inf)
            index = ranked.topk(keep, dim=-1).indices
            mask = torch.zeros_like(alpha, dtype=torch.bool).scatter(1, index, True)
            alpha.copy_(alpha.masked_fill(~mask, 0.0))
        self.op_mask = mask

    def one_path(self) -> bool:
        """Whether this forward pass's rows are one-hot, so that cells compute only each edge's chosen op."""
        if self.fixed is not None:
            return True
        if self.training and self.arch_phase and self.method.arch_weights is not None:
            return False
        return self.method.one_path

    def arch_parameters(self) -> list[torch.Tensor]:
        return [getattr(self, name) for name in self.alpha_names]

    def weight_parameters(self) -> list[nn.Parameter]:
        alphas = {id(a) for a in self.arch_parameters()}
        return [p for p in self.parameters() if id(p) not in alphas]

    def alpha_weights(self) -> dict[str, list[list[float]]]:
        """The method's mean op weights per cell kind (softmax(α); DrNAS: the Dirichlet mean), one row per edge."""
        return {
            name: self._masked(self.method.mean_weights(getattr(self, name).detach())).tolist()
            for name in self.alpha_names
        }

    def derive(self) -> Genotype | NB201Arch:
        raise NotImplementedError


def _init_alpha(
    rows: int, cols: int, generator: torch.Generator | None, device: torch.device | str | None = None
) -> nn.Parameter:
    # DARTS initializes α to 1e-3 · N(0, 1): near-uniform mixing with ties broken at random.
    return nn.Parameter(1e-3 * torch.randn(rows, cols, generator=generator, device=device))


def _default_init(module: nn.Module, rows: slice | None, generator: torch.Generator | None) -> None:
    """PyTorch's own initializer of a conv or linear layer (kaiming-uniform(√5) weight, uniform(±1/√fan_in)
    bias), drawn from ``generator``, on output channels ``rows`` only (one edge's share of a fused conv)."""
    weight = module.weight if rows is None else module.weight[rows]
    with torch.no_grad():
        nn.init.kaiming_uniform_(weight, a=math.sqrt(5), generator=generator)
        bias = getattr(module, "bias", None)
        if bias is not None:
            bound = 1 / math.sqrt(weight[0].numel())
            (bias if rows is None else bias[rows]).uniform_(-bound, bound, generator=generator)


class DartsSupernet(Supernet):
    """Stem (if any), search cells stacked as in ``macro`` (normal cells share α_normal, reduction ones
    α_reduce), global average pooling, linear classifier.

    Weights and α are drawn from ``generator`` (``None``: torch's global RNG) in the order in which the
    reference code (DARTS' ``model_search.py``, the DARTS-MNIST sheet's) builds its modules, so one seed gives
    the reference network: the stem, then per cell its preprocessing and, edge after edge (α rows in order),
    each op in the space's op order; the classifier; α_normal; α_reduce. Building itself leaves the global
    RNG untouched; ``alpha_device`` is where α is drawn (the sheet draws it on the network's device).
    """

    alpha_names = ("alpha_normal", "alpha_reduce")

    def __init__(
        self,
        space: str,
        ops: Sequence[str],
        macro: Macro,
        generator: torch.Generator | None,
        alpha_device: torch.device | str | None = None,
    ) -> None:
        super().__init__()
        self.space, self.ops, self.macro = space, tuple(ops), macro
        self.resolve: OpResolver = mnist_search_op if space == "darts-mnist" else darts_search_op
        stem, shapes = cell_layout(macro)
        with torch.random.fork_rng(devices=[]):  # the modules' own initializers are redrawn below
            self.stem = make_stem(macro, stem)
            self.cells = nn.ModuleList(self._cell(shape) for shape in shapes)
            self.classifier = nn.Linear(macro.steps * shapes[-1].C, macro.num_classes)
        self.reductions = tuple(shape.reduction for shape in shapes)
        for module, rows in self._modules_in_reference_order():
            _default_init(module, rows, generator)
        k = num_edges(macro.n_inputs, macro.steps)
        self.alpha_normal = _init_alpha(k, len(self.ops), generator, alpha_device)
        self.alpha_reduce = _init_alpha(k, len(self.ops), generator, alpha_device)

    def _cell(self, shape: CellShape) -> nn.Module:
        cell = SearchCell(
            self.macro.n_inputs, self.macro.steps, shape.C, self.ops, reduction=shape.reduction, resolve=self.resolve
        )
        cell.preprocess = nn.ModuleList(preprocess(ch, shape.C, before, affine=False) for ch, before in shape.inputs)
        return cell

    def _modules_in_reference_order(self) -> list[tuple[nn.Module, slice | None]]:
        """Every conv / linear layer (with its edge's rows of a fused conv) in the reference build order."""
        n_inputs, steps = self.macro.n_inputs, self.macro.steps
        order: list[tuple[nn.Module, slice | None]] = []

        def layers(module: nn.Module) -> None:
            order.extend((m, None) for m in module.modules() if isinstance(m, nn.Conv2d | nn.Linear))

        layers(self.stem)
        for cell in self.cells:
            layers(cell.preprocess)
            for node in range(steps):
                for src in range(n_inputs + node):
                    first_target = max(0, src - n_inputs + 1)  # fan `src` feeds nodes first_target..steps-1
                    for name in self.ops:
                        order.extend(cell.fans[src].edge_op_modules(node - first_target, name))
        layers(self.classifier)
        return order

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w_normal, w_reduce = self.mixing(self.alpha_normal), self.mixing(self.alpha_reduce)
        states = [self.stem(x).contiguous(memory_format=CHANNELS_LAST)] * self.macro.n_inputs
        for cell, reduction in zip(self.cells, self.reductions, strict=True):
            inputs = [pre(s) for pre, s in zip(cell.preprocess, states[-self.macro.n_inputs :], strict=True)]
            states.append(cell(inputs, w_reduce if reduction else w_normal, self.one_path()))
        return self.classifier(states[-1].mean(dim=(2, 3)))

    def derive(self) -> Genotype:
        w = self.alpha_weights()
        return derive_genotype(w["alpha_normal"], w["alpha_reduce"], self.ops, self.macro.n_inputs, self.macro.steps)

    def discrete(self, genotype: Genotype, C: int | None = None) -> DartsNetwork:
        """The discrete network of ``genotype`` on this supernet's macro (optionally another width ``C``)."""
        genotype.check_space(self.space)
        return DartsNetwork(genotype, self.macro if C is None else self.macro.with_(C=C))


class NB201Supernet(Supernet):
    """NB201's macro (stem, 3 stages of N cells, ResNet reductions) with a MixedOp on each of the 6 cell edges."""

    def __init__(self, C: int, N: int, num_classes: int, in_channels: int, generator: torch.Generator) -> None:
        super().__init__()
        self.space, self.ops, self.alpha_names = "nb201", NB201_OPS, ("alpha",)
        self.stem = nn.Sequential(nn.Conv2d(in_channels, C, 3, padding=1, bias=False), nn.BatchNorm2d(C))
        cells: list[nn.Module] = []
        for stage, width in enumerate((C, 2 * C, 4 * C)):
            if stage:
                cells.append(ResNetBasicblock(width // 2, width))
            cells.extend(SearchCell(1, 3, width, NB201_OPS, resolve=nb201_search_op, output="last") for _ in range(N))
        self.cells = nn.ModuleList(cells)
        self.lastact = nn.Sequential(nn.BatchNorm2d(4 * C), nn.ReLU())
        self.classifier = nn.Linear(4 * C, num_classes)
        self.alpha = _init_alpha(6, len(NB201_OPS), generator)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weights = self.mixing(self.alpha)
        # The image in NHWC before the stem: its conv and BatchNorm are faster so than converting after them.
        x = self.stem(x.contiguous(memory_format=CHANNELS_LAST))
        for cell in self.cells:
            x = cell([x], weights, self.one_path(), self.partial) if isinstance(cell, SearchCell) else cell(x)
        return self.classifier(self.lastact(x).mean(dim=(2, 3)))

    def widen(self, old_k: int, new_k: int, generator: torch.Generator, optimizer: torch.optim.Optimizer) -> None:
        """DrNAS' ``wider`` at a progressive stage boundary: every cell's partial-channel convs go from C/``old_k``
        to C/``new_k`` channels by Net2Wider's copies (:meth:`MixedEdges.widen`), with their BatchNorm statistics
        and the momentum buffers of ``optimizer`` (SGD)."""

        def momentum(weight: torch.Tensor) -> torch.Tensor | None:
            return optimizer.state.get(weight, {}).get("momentum_buffer")

        for cell in self.cells:
            if isinstance(cell, SearchCell):
                for fan in cell.fans:
                    fan.widen(cell.C // old_k, cell.C // new_k, generator, momentum)

    def derive(self) -> NB201Arch:
        """The argmax op of every edge (``none`` included, as NB201's DARTS baseline derives it); for the
        selecting methods the last selected cell."""
        if self.selected is not None:
            return self.selected
        alpha = self.alpha.detach()
        if self.op_mask is not None:  # a pruned op is never derived
            alpha = alpha.masked_fill(~self.op_mask, -math.inf)
        return NB201Arch(tuple(NB201_OPS[int(i)] for i in alpha.argmax(dim=-1)))


# --- building from the registry (nasforge.spaces.registry) ---------------------------------------------------


def darts_macro(
    space: str, dataset: str, C: int | None = None, layers: int | None = None, stem_multiplier: int | None = None
) -> Macro:
    """The macro of a DARTS-style space on ``dataset`` (``layers`` only applies to the ``darts`` space).

    ``stem_multiplier``: the stem's channels in units of ``C``; 0 = no stem; ``None`` = the space's default
    (darts-mnist: none, as the sheet; darts: 3, as DARTS).
    """
    spec, info = dataset_spec(dataset), oneshot_view(space)
    C = info.default_C if C is None else C
    stem = info.protocol["stem_multiplier"] if stem_multiplier is None else stem_multiplier
    if space == "darts-mnist":
        return Macro((True, False, True), 1, 2, C, stem, spec.channels, spec.num_classes)
    if space == "darts":
        n = info.default_layers if layers is None else layers
        reductions = tuple(k in (n // 3, 2 * n // 3) for k in range(n))
        return Macro(reductions, 2, 4, C, stem, spec.channels, spec.num_classes)
    raise ConfigError(f"space {space!r} is not a DARTS cell space; DARTS cell spaces: darts-mnist, darts")


def build_supernet(
    space: str,
    dataset: str,
    *,
    C: int | None = None,
    layers: int | None = None,
    seed: int = 0,
    stem_multiplier: int | None = None,
) -> Supernet:
    """The supernet of ``space`` for ``dataset``; weights and α initialized from ``seed`` (global RNG untouched)."""
    info, spec = oneshot_view(space), dataset_spec(dataset)
    generator = torch.Generator().manual_seed(seed)
    with seeded(seed):  # nn.Module initializers draw from the global RNG; keep that draw local
        if space == "nb201":
            C = info.default_C if C is None else C
            N = info.default_layers if layers is None else layers
            if C < 1 or N < 1:
                raise ConfigError(f"nb201 supernet needs C >= 1 and N >= 1, got C={C}, N={N}")
            return NB201Supernet(C, N, spec.num_classes, spec.channels, generator)
        macro = darts_macro(space, dataset, C, layers, stem_multiplier)
        return DartsSupernet(space, get_space(space).ops, macro, generator)
