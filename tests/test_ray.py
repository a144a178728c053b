"""The Ray executor on a real local Ray instance (``ray.init(num_cpus=2)``), not a mock. Its crash and retry cases
are in the executor contract suite (test_executors.py), beside the process executor's.

Skipped as a whole, with the reason, when Ray is not installed (it is optional: ``pip install "nasforge[ray]"``).
"""

from __future__ import annotations

import sys

import pytest

from nasforge.benchmarks.blackbox import BenchmarkEvaluator
from nasforge.optimizers import create_optimizer
from nasforge.search.executors import RayExecutor, start_local_ray
from nasforge.search.study import Study

ray = pytest.importorskip("ray", reason='Ray is not installed (optional: pip install "nasforge[ray]")')

from test_parallel import KillsItsWorker, Rendezvous  # noqa: E402 - only once Ray is known to be there


@pytest.fixture(scope="module")
def local_ray():
    start_local_ray(num_cpus=2, log_to_driver=False, object_store_memory=200 * 1024**2)
    # Everything of the local instance stays on loopback.
    assert all(node["NodeManagerAddress"] == "127.0.0.1" for node in ray.nodes())
    # Ray workers cannot import the test modules: send their evaluator classes by value.
    ray.cloudpickle.register_pickle_by_value(sys.modules[KillsItsWorker.__module__])
    yield ray
    ray.cloudpickle.unregister_pickle_by_value(sys.modules[KillsItsWorker.__module__])
    ray.shutdown()


def summary(trials) -> list[tuple]:
    return [(t.number, t.arch, t.fidelity, t.result.state, t.result.objective, t.result.cost) for t in trials]


def test_ray_gives_the_local_trials_on_the_benchmark(local_ray, real_data_dir):
    from nasforge.benchmarks import load_nb201

    evaluator = BenchmarkEvaluator(load_nb201(real_data_dir), "cifar10")
    local = Study.in_memory({}).optimize(create_optimizer("rea", 4), evaluator, n_iter=25)
    with RayExecutor(evaluator, 1) as executor:
        remote = Study.in_memory({}).optimize(create_optimizer("rea", 4), evaluator, n_iter=25, executor=executor)
    assert summary(remote.trials) == summary(local.trials)
    assert local_ray.is_initialized()  # an instance the executor did not start is left running


def test_ray_tasks_run_two_trials_at_once(local_ray, tmp_path):
    evaluator = Rendezvous(tmp_path)  # the first trial returns only once a second one has started
    with RayExecutor(evaluator, 2) as executor:
        outcome = Study.in_memory({}).optimize(create_optimizer("rs", 0), evaluator, n_iter=4, workers=2,
                                               executor=executor)  # fmt: skip
    assert sorted(t.ask_number for t in outcome.trials) == [0, 1, 2, 3]
    assert all(t.result.metrics["met"] for t in outcome.trials)
    first = {t.worker: t for t in reversed(outcome.trials)}
    assert first[0].started_at < first[1].finished_at and first[1].started_at < first[0].finished_at
