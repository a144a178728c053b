"""Contract tests over every registered optimizer, plus hand-checked behaviour of each one."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest
from _optimizer_names import NEEDS_OPTUNA, optimizer_params

from nasforge.errors import ConfigError, StudyError
from nasforge.optimizers import OPTIMIZERS, create_optimizer, list_optimizers
from nasforge.optimizers.hyperband import Hyperband
from nasforge.spaces.nb201 import OPS, NB201Arch
from nasforge.trial import Request, Result

# A separable objective with a unique optimum (every edge avg_pool_3x3, op index 4): no local optima
# besides the global one, and a fidelity bonus so the high fidelity is distinguishable.
WEIGHTS = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])


def objective(arch: NB201Arch, fidelity: int | None = None) -> float:
    return float(WEIGHTS @ np.array(arch.op_indices)) + (0.5 if fidelity == 200 else 0.0)


OPTIMUM = NB201Arch(("avg_pool_3x3",) * 6)


def run(opt, n: int, *, fail_every: int = 0) -> list[tuple[Request, Result]]:
    for i in range(n):
        request = opt.ask()
        if fail_every and i % fail_every == fail_every - 1:
            opt.tell(request, Result.fail("boom"))
        else:
            opt.tell(request, Result.complete(objective(request.arch, request.fidelity), cost=1.0))
    return opt.history


def fidelities_ok(cls, request: Request) -> bool:
    if cls.multi_fidelity:
        return request.fidelity in (12, 200)
    return request.fidelity is None


# --- the contract --------------------------------------------------------------------------------------------


def test_registry_lists_every_optimizer_by_its_name():
    assert list_optimizers() == sorted(OPTIMIZERS)
    assert {"rs", "rea", "ls", "hb", "tpe", "optuna-tpe", "optuna-nsga2", "optuna-gp", "optuna-random"} <= set(
        list_optimizers()
    )
    for name, cls in OPTIMIZERS.items():
        assert cls.name == name


def test_unknown_optimizer_names_the_valid_ones():
    known = "known optimizers: bananas, hb, ls, mols, morea, nsga2, optuna-gp, optuna-nsga2, optuna-random, "
    known += "optuna-tpe, parego, rea, rs"
    with pytest.raises(ConfigError, match=known):
        create_optimizer("bogus", seed=0)


@pytest.mark.parametrize("name", optimizer_params())
def test_requests_are_valid_archs_and_fidelities(name):
    cls = OPTIMIZERS[name]
    history = run(create_optimizer(name, seed=1), 80)
    assert len(history) == 80
    for request, _ in history:
        assert isinstance(request.arch, NB201Arch)
        assert all(op in OPS for op in request.arch.ops)
        assert fidelities_ok(cls, request)


@pytest.mark.parametrize("name", optimizer_params())
def test_same_seed_same_history_other_seed_other_history(name):
    a = [r for r, _ in run(create_optimizer(name, seed=7), 60)]
    b = [r for r, _ in run(create_optimizer(name, seed=7), 60)]
    c = [r for r, _ in run(create_optimizer(name, seed=8), 60)]
    assert a == b
    assert a != c


@pytest.mark.parametrize("name", optimizer_params())
def test_a_generator_seed_works_like_an_int_seed(name):
    a = [r for r, _ in run(create_optimizer(name, seed=np.random.default_rng(3)), 20)]
    b = [r for r, _ in run(create_optimizer(name, seed=3), 20)]
    assert a == b


@pytest.mark.parametrize("name", [p for p in optimizer_params() if not OPTIMIZERS[p.values[0]].allows_repeats])
def test_no_repeated_evaluation(name):
    requests = [r for r, _ in run(create_optimizer(name, seed=2), 300)]
    assert len(set(requests)) == len(requests)


@pytest.mark.parametrize("name", optimizer_params())
def test_fail_results_are_survived_and_never_win(name):
    # The failing trials are the most tempting ones: every arch that would score in the top of the objective
    # fails, with metrics that claim a perfect accuracy. No optimizer may build on them.
    opt = create_optimizer(name, seed=4)
    threshold = 55.0  # about the top fifth of the archs under WEIGHTS (the optimum scores 84)
    for _ in range(150):
        request = opt.ask()
        if objective(request.arch) >= threshold:
            opt.tell(request, Result.fail("diverged", metrics={"valid_acc": 100.0}))
        else:
            opt.tell(request, Result.complete(objective(request.arch, request.fidelity), cost=1.0))
    failed = {r.arch for r, res in opt.history if not res.ok}
    assert failed and len(opt.history) == 150
    assert not failed & BUILT_ON[name](opt), f"{name} builds on a failed trial"


def _promoted(opt) -> set:
    """Archs asked again at a higher fidelity than one they were told at (Hyperband's promotions)."""
    seen: dict = {}
    promoted = set()
    for request, _ in opt.history:
        if any(f < request.fidelity for f in seen.get(request.arch, ())):
            promoted.add(request.arch)
        seen.setdefault(request.arch, set()).add(request.fidelity)
    return promoted


def _promoted_over_a_success(opt) -> set:
    """Failed archs that Hyperband promoted while a successful arch of the same rung stayed behind. (When fewer
    trials of a rung succeeded than it promotes, Hyperband fills the rest with failed ones, ranked last: the
    bracket keeps its shape; those are not counted here.)"""
    out = set()
    for arch in _promoted(opt):
        bracket = opt._owner[arch]
        for rung, told in enumerate(bracket.told[:-1]):
            mine = [value for value, _, a in told if a == arch]
            if mine and mine[0] == -math.inf:
                onward = {a for _, _, a in bracket.told[rung + 1]} | set(bracket.promotions)
                if any(value > -math.inf and a not in onward for value, _, a in told):
                    out.add(arch)
    return out


def _tpe_good(opt) -> set:
    """The archs TPE's "good" density is fitted to: the top gamma share of what it was told."""
    told = [(v, r.arch) for (r, _), v in zip(opt.history, opt._values, strict=True)]
    ranked = sorted(told, key=lambda vt: -vt[0])
    return {arch for v, arch in ranked[: max(1, int(np.ceil(opt.gamma * len(ranked))))] if v != -math.inf}


def _optuna_complete(opt) -> set:
    """The archs of the Optuna study's COMPLETE trials: Optuna's samplers fit to those only (a FAIL is ignored)."""
    import optuna

    from nasforge.integrations.optuna import arch_from_params

    complete = optuna.trial.TrialState.COMPLETE
    return {arch_from_params(t.params) for t in opt.optuna_study.trials if t.state == complete}


# What each optimizer builds its next asks on; every registered optimizer must say (a new one fails here first).
BUILT_ON = {
    "rs": lambda opt: set(),  # learns nothing from results
    "rea": lambda opt: {arch for arch, _ in opt.population},
    "ls": lambda opt: set() if opt._center is None else {opt._center[0]},
    "hb": _promoted_over_a_success,
    "sh": _promoted_over_a_success,
    "tpe": _tpe_good,
    **{name: _optuna_complete for name in ("optuna-tpe", "optuna-random", "optuna-nsga2", "optuna-gp")},
    "morea": lambda opt: {arch for arch, _ in opt.population},
    "nsga2": lambda opt: {arch for arch, _ in opt.parents},
    "mols": lambda opt: set(opt.archive),
    "bananas": lambda opt: opt.parents_used | {arch for arch, _ in opt.evaluated},  # mutated, and trained on
    "parego": lambda opt: BUILT_ON[opt.base](opt.inner),  # the current segment's single-objective optimizer
}


def test_every_optimizer_says_what_it_builds_on():
    assert set(BUILT_ON) == set(list_optimizers())


@pytest.mark.parametrize("name", optimizer_params())
def test_pending_requests_are_known_and_told_in_any_order(name):
    cls = OPTIMIZERS[name]
    opt = create_optimizer(name, seed=5)
    for _ in range(15):
        batch = [opt.ask() for _ in range(4)]
        assert list(opt.pending) == batch
        if not cls.allows_repeats:
            assert len(set(batch)) == 4  # nothing pending is asked for again
        for request in reversed(batch):  # completion order differs from ask order
            opt.tell(request, Result.complete(objective(request.arch, request.fidelity)))
        assert opt.pending == ()
    assert len(opt.history) == 60


@pytest.mark.parametrize("name", optimizer_params())
def test_many_pending_requests_asynchronous_workers(name):
    """16 workers: asks while 16 trials run, results told in a random order, then asked again at once."""
    cls = OPTIMIZERS[name]
    opt = create_optimizer(name, seed=6)
    rng = np.random.default_rng(0)
    running = [opt.ask() for _ in range(16)]
    for _ in range(120):
        if not cls.allows_repeats:  # nothing pending is ever asked for again
            assert len(set(running)) == len(running)
        assert all(fidelities_ok(cls, r) for r in running)
        done = running.pop(int(rng.integers(len(running))))
        opt.tell(done, Result.complete(objective(done.arch, done.fidelity)))
        new = opt.ask()
        if not cls.allows_repeats:
            assert new not in running and new not in {r for r, _ in opt.history}
        running.append(new)
        assert set(opt.pending) == set(running)
    assert len(opt.history) == 120


def test_rea_with_many_workers_mutates_only_finished_members():
    opt = create_optimizer("rea", seed=2, population_size=4, sample_size=2)
    running = [opt.ask() for _ in range(4)]  # the 4 random members, all still running
    first = running.pop(2)
    opt.tell(first, Result.complete(1.0))
    for _ in range(6):  # only one member has finished: every child is one of its neighbours
        assert opt.ask().arch in first.arch.neighbors()
    assert all(r in opt.pending for r in running)


@pytest.mark.parametrize("name", optimizer_params())
def test_telling_something_not_pending_is_an_error(name):
    opt = create_optimizer(name, seed=0)
    request = opt.ask()
    opt.tell(request.arch, Result.complete(1.0))  # an arch finds its pending request
    with pytest.raises(StudyError, match="not pending"):
        opt.tell(request, Result.complete(1.0))
    with pytest.raises(StudyError, match="no pending request"):
        opt.tell(OPTIMUM, Result.complete(1.0))


def test_optimizers_do_not_import_torch_or_benchmarks():
    code = (
        "import sys, nasforge.optimizers as o; from nasforge.trial import Result as R; "
        "o.create_optimizer('tpe', 0).ask(); "
        "b = o.create_optimizer('bananas', 0, num_init=1, epochs=2); [b.tell(b.ask(), R.complete(1.0)) "
        "for _ in range(3)]; "
        "bad = [m for m in sys.modules if m in ('torch', 'optuna') or m.startswith('nasforge.benchmarks')]; "
        "print(bad)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"  # nor Optuna, which only the optuna-* optimizers import


@NEEDS_OPTUNA
def test_optuna_tpe_imports_neither_torch_nor_benchmarks():
    code = (
        "import sys, nasforge.optimizers as o; o.create_optimizer('optuna-tpe', 0).ask(); "
        "bad = [m for m in sys.modules if m == 'torch' or m.startswith('nasforge.benchmarks')]; print(bad)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


# --- each optimizer's own behaviour ------------------------------------------------------------------------


def test_random_search_is_uniform_over_ops():
    history = run(create_optimizer("rs", seed=0), 2000)
    counts = np.zeros((6, 5))
    for request, _ in history:
        counts[np.arange(6), request.arch.op_indices] += 1
    # Each cell expects 400 draws; 5 standard deviations (sqrt(2000 * 0.2 * 0.8) = 17.9) is ~90.
    assert np.abs(counts - 400).max() < 90


def test_rea_starts_with_random_members_then_mutates_the_best_of_a_sample():
    opt = create_optimizer("rea", seed=0)
    history = run(opt, 200)
    assert len(opt.population) == 10
    # The population is the last 10 finished archs (aging), in order.
    assert [a for a, _ in opt.population] == [r.arch for r, _ in history[-10:]]
    for i in range(10, 200):
        child = history[i][0].arch
        previous_population = [r.arch for r, _ in history[i - 10 : i]]
        assert any(child in parent.neighbors() for parent in previous_population)


def test_rea_draws_its_sample_as_one_array_draw_would():
    # REA draws its k parents' positions as k scalar draws; they must be the numbers one integers(n, size=k) call
    # draws (what REA drew before, and what a hand-written NB201 REA draws), so searches stay what they were.
    one, each = np.random.default_rng(7), np.random.default_rng(7)
    for n in [1, 2, 3, 10, 11, 100, 15625] * 50:
        k = int(one.integers(1, 6))
        assert int(each.integers(1, 6)) == k
        assert one.integers(n, size=k).tolist() == [int(each.integers(n)) for _ in range(k)]


def test_rea_draws_parents_only_from_finished_trials():
    opt = create_optimizer("rea", seed=1, population_size=2, sample_size=2)
    first, second = opt.ask(), opt.ask()
    opt.tell(first, Result.complete(1.0))
    child = opt.ask()  # second is still running, so the only possible parent is first
    assert child.arch in first.arch.neighbors()
    assert second in opt.pending


def mean_late(name: str) -> float:
    """Mean objective of evaluations 40..79 over 4 seeds; random search's expectation is 2 * 21 = 42."""
    values = [res.objective for s in range(4) for _, res in run(create_optimizer(name, seed=s), 80)[40:]]
    return float(np.mean(values))


def test_rea_evaluates_better_archs_than_random_search():
    assert mean_late("rea") > mean_late("rs") + 5.0


def test_local_search_climbs_to_the_unique_optimum():
    # Separable and strictly increasing in each op index: every non-optimal arch has a better neighbour,
    # so first-improvement climbing needs at most 10 random + 6 edges x 4 moves x 24 neighbours evaluations.
    for seed in range(3):
        history = run(create_optimizer("ls", seed=seed), 10 + 6 * 4 * 24)
        assert any(r.arch == OPTIMUM for r, _ in history)


def test_local_search_restarts_from_a_random_arch_at_a_local_optimum():
    opt = create_optimizer("ls", seed=0, n_initial=1)
    start = opt.ask()
    opt.tell(start, Result.complete(100.0))
    for _ in range(24):  # every neighbour is worse: start is a local optimum
        request = opt.ask()
        assert request.arch in start.arch.neighbors()
        opt.tell(request, Result.complete(0.0))
    restart = opt.ask().arch
    assert restart not in start.arch.neighbors() and restart != start.arch


def test_hyperband_brackets_on_two_fidelities():
    opt = Hyperband(seed=0)
    history = run(opt, 10)
    fidelities = [r.fidelity for r, _ in history]
    # bracket s=1: 3 archs at 12 epochs, the best at 200; bracket s=0: 2 archs at 200; then again.
    assert fidelities == [12, 12, 12, 200, 200, 200, 12, 12, 12, 200]
    low = history[:3]
    best = max(low, key=lambda t: t[1].objective)[0].arch
    assert history[3][0].arch == best
    assert history[4][0].arch not in {r.arch for r, _ in low}


def test_successive_halving_repeats_the_full_bracket():
    history = run(create_optimizer("sh", seed=0), 8)
    assert [r.fidelity for r, _ in history] == [12, 12, 12, 200, 12, 12, 12, 200]


def test_hyperband_never_promotes_a_failed_arch():
    opt = Hyperband(seed=0)
    low = [opt.ask() for _ in range(3)]
    for request in low:
        opt.tell(request, Result.fail("diverged"))
    promoted = opt.ask()
    assert promoted.fidelity == 200 and promoted.arch == low[0].arch  # all failed: the first goes on, but
    opt.tell(promoted, Result.complete(1.0))
    opt2 = Hyperband(seed=0)
    low2 = [opt2.ask() for _ in range(3)]
    opt2.tell(low2[0], Result.fail("diverged"))
    opt2.tell(low2[1], Result.complete(1.0))
    opt2.tell(low2[2], Result.complete(0.5))
    assert opt2.ask().arch == low2[1].arch  # a finished result beats a failed one


def test_tpe_beats_random_search_on_a_separable_objective():
    assert mean_late("tpe") > mean_late("rs") + 5.0
