"""The executor contract, run over every executor in the registry: submit, crash, retry, close, resume.

Ray's cases skip, with the reason, when Ray is not installed (it is optional). Evaluators come from
test_parallel (module-level classes, so that spawned workers and Ray workers can load them).
"""

from __future__ import annotations

import sys

import pytest
from test_parallel import ConvCount, KillsItsWorker, Sleepy, summary

from nasforge.errors import ConfigError
from nasforge.optimizers import create_optimizer
from nasforge.search.executors import EXECUTORS, PLACES, Job, create_executor
from nasforge.search.study import Study
from nasforge.spaces.nb201 import NB201Arch
from nasforge.trial import Request, TrialState

try:
    import ray
except ImportError:  # optional dependency
    ray = None
NO_RAY = pytest.mark.skipif(ray is None, reason='Ray is not installed (optional: pip install "nasforge[ray]")')


def _param(name: str):
    return pytest.param(name, marks=NO_RAY) if name == "ray" else name


ALL = [_param(name) for name in EXECUTORS]
ISOLATED = [_param(name) for name in ("process", "ray")]  # a trial runs in a worker that can die alone


@pytest.fixture(scope="module")
def started_ray():
    """A local Ray instance for the module, started only when a Ray case runs."""
    started = []

    def start() -> None:
        if started or ray is None:
            return
        from nasforge.search.executors import start_local_ray

        start_local_ray(num_cpus=2, log_to_driver=False, object_store_memory=200 * 1024**2)
        # Ray workers cannot import the test modules: send their evaluator classes by value.
        ray.cloudpickle.register_pickle_by_value(sys.modules[KillsItsWorker.__module__])
        started.append(True)

    yield start
    if started:
        ray.cloudpickle.unregister_pickle_by_value(sys.modules[KillsItsWorker.__module__])
        ray.shutdown()


@pytest.fixture
def make(started_ray):
    def make(name: str, evaluator, workers: int = 2):
        if name == "ray":
            started_ray()
        return create_executor(name, evaluator, workers=workers)

    return make


def test_the_registry_names_every_executor_once():
    assert set(EXECUTORS) == {"local", "process", "ray", "simulated"}
    assert set(PLACES) < set(EXECUTORS)
    with pytest.raises(ConfigError, match="unknown executor 'dask'; known executors: local, process, ray, simulated"):
        create_executor("dask", Sleepy(0))


@pytest.mark.parametrize("name", ALL)
def test_submitted_jobs_come_back_finished_with_their_results(make, name):
    archs = [NB201Arch.from_index(i) for i in (7, 70, 700)]
    with make(name, Sleepy(0.01)) as executor:
        assert executor.slots >= 1 and executor.simulated == (name == "simulated")
        finished = []
        for key, arch in enumerate(archs):  # one job per slot at a time, as the loop submits them
            executor.submit(Job(key, Request(arch), slot=key % executor.slots, clock=10.0 * key))
            if key % executor.slots == executor.slots - 1 or key == len(archs) - 1:
                finished += [executor.wait() for _ in range(key % executor.slots + 1)]
    assert sorted(f.job.key for f in finished) == [0, 1, 2]
    if name == "simulated":  # handed back in order of clock + cost: 0.01, 10.01, 20.01
        assert [f.job.key for f in finished] == [0, 1, 2]
    for f in finished:
        # Sleepy scores an arch by its official index / 100 and charges its sleep.
        assert f.result.ok and f.result.objective == archs[f.job.key].index / 100 and f.result.cost == 0.01
        assert f.crash is None and f.error is None and f.started_at <= f.finished_at



@pytest.mark.parametrize("name", ALL)
def test_an_evaluator_exception_is_a_fail_result_not_a_crash(make, name):
    arch = NB201Arch.parse("|avg_pool_3x3~0|+|none~0|none~1|+|none~0|none~1|none~2|")  # ConvCount raises on it
    with make(name, ConvCount(), workers=1) as executor:
        executor.submit(Job(0, Request(arch)))
        finished = executor.wait()
    assert finished.crash is None and finished.result.state is TrialState.FAIL
    assert finished.result.error == "RuntimeError: simulated crash" and finished.result.cost == 10.0  # predicted


@pytest.mark.parametrize("name", ALL)
def test_close_abandons_running_jobs_and_can_be_called_twice(make, name):
    executor = make(name, Sleepy(0.5 if name in ("process", "ray") else 0.0))
    executor.submit(Job(0, Request(NB201Arch.from_index(1))))
    executor.close()
    executor.close()
    if name == "process":
        assert not [p for p in __import__("multiprocessing").active_children() if p.name.startswith("nasforge-worker")]


@pytest.mark.parametrize("name", ALL)
def test_an_interrupted_search_resumes_to_the_uninterrupted_trials(make, name, tmp_path):
    def stop_after_4(record, study):
        if record.number == 3:
            raise KeyboardInterrupt

    evaluator = ConvCount()  # a simulated clock wherever it runs: the trial sequence is exact
    with make(name, evaluator, workers=1) as executor:
        clean = Study.in_memory({}).optimize(create_optimizer("rea", 5), evaluator, n_iter=12, workers=3,
                                             executor=executor)  # fmt: skip
    with Study.create(tmp_path / "run", {}) as study, make(name, evaluator, workers=1) as executor:
        with pytest.raises(KeyboardInterrupt):
            study.optimize(create_optimizer("rea", 5), evaluator, n_iter=12, workers=3, executor=executor,
                           callback=stop_after_4)  # fmt: skip
    with Study.resume(tmp_path / "run", {}) as study, make(name, evaluator, workers=1) as executor:
        assert len(study.trials) == 4 and len(study.unfinished()) == 2  # the other two workers' trials
        outcome = study.optimize(create_optimizer("rea", 5), evaluator, n_iter=12, workers=3, executor=executor)
    assert summary(outcome.trials) == summary(clean.trials)


# --- workers that die: process and Ray, one suite -----------------------------------------------------------------


@pytest.mark.parametrize("name", ISOLATED)
def test_a_worker_killed_mid_trial_is_restarted_and_its_trial_retried(make, name, tmp_path):
    evaluator = KillsItsWorker(tmp_path / "killed", tmp_path / "attempts.log", seconds=0.2)
    study = Study.create(tmp_path / "run", {})
    with study, make(name, evaluator) as executor:
        outcome = study.optimize(create_optimizer("rs", 0), evaluator, n_iter=6, workers=2, executor=executor)
    killed = int((tmp_path / "killed").read_text())
    attempts = [int(line) for line in (tmp_path / "attempts.log").read_text().split()]
    assert sorted(attempts) == sorted([t.arch.index for t in outcome.trials] + [killed])  # 7 starts, 6 trials
    (retried,) = [t for t in outcome.trials if t.attempts > 1]
    assert retried.arch.index == killed and retried.attempts == 2 and retried.result.ok
    assert all(t.result.ok for t in outcome.trials)
    local = Study.in_memory({}).optimize(create_optimizer("rs", 0), Sleepy(0), n_iter=6)
    assert {t.arch for t in outcome.trials} == {t.arch for t in local.trials}  # nothing lost or counted twice
    with Study.open(tmp_path / "run") as stored:
        assert len(stored.trials) == 6 and len(stored.storage.asks()) == 6
        assert [t.attempts for t in stored.trials].count(2) == 1


@pytest.mark.parametrize("name", ISOLATED)
def test_a_trial_whose_worker_always_dies_is_a_fail_after_max_retries(make, name, tmp_path):
    doomed = create_optimizer("rs", 0).ask().arch  # the first arch random search asks with seed 0
    evaluator = KillsItsWorker(tmp_path / "unused", tmp_path / "attempts.log", always=doomed.index)
    with make(name, evaluator) as executor:
        outcome = Study.in_memory({}).optimize(
            create_optimizer("rs", 0), evaluator, n_iter=4, workers=2, executor=executor, max_retries=1
        )
    (fail,) = [t for t in outcome.trials if not t.result.ok]
    assert fail.arch == doomed and fail.attempts == 2 and fail.result.state is TrialState.FAIL
    assert "died" in fail.result.error and "gave up after 2 attempts" in fail.result.error
    assert (tmp_path / "attempts.log").read_text().split().count(str(doomed.index)) == 2
    assert len(outcome.trials) == 4 and sum(t.result.ok for t in outcome.trials) == 3
