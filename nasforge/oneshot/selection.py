"""Selecting an arch over a trained supernet (SPOS, RSPS, SETN): candidates scored with inherited weights.

A candidate is a tuple of op indices, one per edge (NB201: 6 edges of 5 ops). Its score is the supernet's
accuracy (percent) on a fixed scoring set with that single path fixed and its BatchNorm statistics
recalibrated (:func:`recalibrate_bn`): the running statistics a weight-sharing supernet holds are those of
the mixture of paths it was trained on, not of any one candidate (SPOS, Guo et al. 2020, §3.3).

* :func:`random_candidates` (RSPS, Li & Talwalkar 2019): distinct candidates drawn uniformly.
* :func:`evolve` (SPOS): a random initial population, then children of the best ``k`` seen so far by
  mutation (each edge redrawn with probability 0.1) or crossover (each edge from either parent), only
  children that satisfy the constraint and were not scored before.
* :func:`template_sample` (SETN, Dong & Yang 2019): the evaluator's candidates, one op per edge drawn from
  softmax(α) of the edge, so a cell's probability is ∏_edges softmax(α_e)[o_e].

Every draw comes from the caller's ``torch.Generator``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from nasforge.spaces.nb201 import EDGES as NB201_EDGES
from nasforge.spaces.nb201 import OPS as NB201_OPS

Candidate = tuple[int, ...]
Fitness = Callable[[Candidate], float]
MUTATION_PROB = 0.1  # SPOS' per-choice mutation probability


def recalibrate_bn(model: nn.Module, batches: Iterable[torch.Tensor]) -> None:
    """Reset every BatchNorm's running statistics and refill them with the average over ``batches`` (images,
    already on the model's device) of the per-batch statistics: running mean = mean of the batch means, running
    var = mean of the unbiased batch variances (momentum 1/k at the k-th batch). Weights are not changed."""
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats]
    momenta, was_training = [m.momentum for m in norms], model.training
    for m in norms:
        m.reset_running_stats()
    model.train()
    try:
        with torch.no_grad():
            for k, x in enumerate(batches, start=1):
                for m in norms:
                    m.momentum = 1.0 / k
                model(x)
    finally:
        for m, momentum in zip(norms, momenta, strict=True):
            m.momentum = momentum
        model.train(was_training)


def one_hot(candidate: Candidate, n_ops: int) -> torch.Tensor:
    """The (edges × ops) weights of ``candidate``: one-hot rows."""
    return F.one_hot(torch.tensor(candidate), n_ops).float()


def nb201_connected(candidate: Candidate) -> bool:
    """Whether an NB201 cell (op indices in the arch-string edge order) passes its input to its output through
    ops other than ``none``: a cell that does not outputs zeros whatever its input (SPOS' constraint here)."""
    live = [NB201_OPS[i] != "none" for i in candidate]
    reached = {0}
    for (src, dst), ok in zip(NB201_EDGES, live, strict=True):  # edges come in target order
        if ok and src in reached:
            reached.add(dst)
    return 3 in reached


def _uniform(edges: int, n_ops: int, gen: torch.Generator) -> Candidate:
    return tuple(torch.randint(n_ops, (edges,), generator=gen).tolist())


def random_candidates(n: int, edges: int, n_ops: int, gen: torch.Generator) -> list[Candidate]:
    """``n`` distinct candidates drawn uniformly (all of them when the space has fewer than ``n``)."""
    n = min(n, n_ops**edges)
    seen: dict[Candidate, None] = {}
    while len(seen) < n:
        seen.setdefault(_uniform(edges, n_ops, gen))
    return list(seen)


def template_sample(probs: torch.Tensor, gen: torch.Generator) -> Candidate:
    """One candidate from the evaluator: row ``e`` of ``probs`` (edges × ops, rows summing to 1) picks edge e's op."""
    return tuple(torch.multinomial(probs.detach().float().cpu(), 1, generator=gen)[:, 0].tolist())


def template_candidates(probs: torch.Tensor, n: int, gen: torch.Generator, tries: int = 50) -> list[Candidate]:
    """Up to ``n`` distinct candidates from :func:`template_sample` (fewer when the evaluator is so peaked that
    ``tries * n`` draws do not find ``n`` distinct cells)."""
    seen: dict[Candidate, None] = {}
    for _ in range(tries * n):
        seen.setdefault(template_sample(probs, gen))
        if len(seen) == n:
            break
    return list(seen)


def evolve(
    fitness: Fitness,
    budget: int,
    edges: int,
    n_ops: int,
    gen: torch.Generator,
    valid: Callable[[Candidate], bool] = lambda c: True,
) -> dict[Candidate, float]:
    """SPOS' evolutionary search: ``budget`` distinct candidates satisfying ``valid``, scored by ``fitness``
    (higher is better); returns every candidate scored with its score, in the order scored.

    Population ``P = clamp(budget // 4, 2, 50)`` random valid candidates first; then each child comes from the
    top ``k = max(1, P // 2)`` seen so far, by mutation or crossover with equal probability. Raises ValueError
    when ``valid`` rejects every one of ``1000 * budget`` draws.
    """
    scored: dict[Candidate, float] = {}
    population = max(2, min(50, budget // 4))
    attempts = 0

    def offer(child: Candidate) -> None:
        nonlocal attempts
        attempts += 1
        if attempts > 1000 * budget:
            raise ValueError(f"no valid new candidate in {attempts - 1} draws; loosen the constraint")
        if child not in scored and valid(child):
            scored[child] = fitness(child)

    while len(scored) < min(population, budget):
        offer(_uniform(edges, n_ops, gen))
    while len(scored) < budget:
        parents = sorted(scored, key=scored.__getitem__, reverse=True)[: max(1, population // 2)]
        a = parents[int(torch.randint(len(parents), (1,), generator=gen))]
        if float(torch.rand((), generator=gen)) < 0.5:
            redraw = (torch.rand(edges, generator=gen) < MUTATION_PROB).tolist()
            fresh = _uniform(edges, n_ops, gen)
            child = tuple(f if r else o for o, f, r in zip(a, fresh, redraw, strict=True))
        else:
            b = parents[int(torch.randint(len(parents), (1,), generator=gen))]
            take_b = (torch.rand(edges, generator=gen) < 0.5).tolist()
            child = tuple(y if t else x for x, y, t in zip(a, b, take_b, strict=True))
        offer(child)
    return scored


def best(scores: dict[Candidate, float]) -> tuple[Candidate, float]:
    """The highest-scoring candidate (the first scored among ties)."""
    winner = max(scores, key=scores.__getitem__)
    return winner, scores[winner]


def candidates_for(
    kind: str, fitness: Fitness, budget: int, probs: torch.Tensor, gen: torch.Generator
) -> dict[Candidate, float]:
    """Score ``budget`` candidates of an NB201 cell the way ``kind`` (a method's ``selection``) picks them."""
    edges, n_ops = probs.shape
    if kind == "evolution":
        return evolve(fitness, budget, edges, n_ops, gen, nb201_connected)
    pool: Sequence[Candidate]
    if kind == "random":
        pool = random_candidates(budget, edges, n_ops, gen)
    elif kind == "template":
        pool = template_candidates(probs, budget, gen)
    else:
        raise ValueError(f"unknown selection {kind!r}; valid: evolution, random, template")
    return {c: fitness(c) for c in pool}
