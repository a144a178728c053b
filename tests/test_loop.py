"""The search loop's sequential road (one simulated worker, trials run in this process) against its general one."""

from __future__ import annotations

import pytest
from test_parallel import ConvCount

from nasforge.errors import ConfigError
from nasforge.optimizers import create_optimizer
from nasforge.search.executors import LocalExecutor, SimulatedClockExecutor
from nasforge.search.loop import RunLimits, _in_process, run
from nasforge.search.study import Study
from nasforge.trial import Request, TrialState


class Forwarding:
    """Forwards to a LocalExecutor: a simulated clock over it is not 'in process' to the loop, so the loop takes
    its general road (job queue, trials in flight, free workers) for the very same search."""

    name, slots, simulated, isolated = "forwarding", 1, False, False

    def __init__(self, evaluator) -> None:
        self.inner = LocalExecutor(evaluator)

    def submit(self, job) -> None:
        self.inner.submit(job)

    def wait(self):
        return self.inner.wait()

    def close(self) -> None:
        self.inner.close()


def fields(study: Study) -> tuple[list, list]:
    """Every recorded field of the trials and starts but the wall-clock ones (those differ between any two runs)."""
    trials = [(t.number, t.ask_number, t.arch, t.fidelity, t.result, t.worker, t.attempts, t.sim_start, t.sim_end)
              for t in study.trials]  # fmt: skip
    asks = [a._replace(started_at=0.0) for a in study.storage.asks()]
    return trials, asks


def test_only_a_one_worker_simulated_clock_over_a_local_executor_runs_in_process():
    evaluator = ConvCount()
    assert _in_process(SimulatedClockExecutor(LocalExecutor(evaluator), 1)) is evaluator
    assert _in_process(SimulatedClockExecutor(LocalExecutor(evaluator), 2)) is None
    assert _in_process(SimulatedClockExecutor(Forwarding(evaluator), 1)) is None
    assert _in_process(LocalExecutor(evaluator)) is None


@pytest.mark.parametrize("limits", [RunLimits(time_budget=8000.0), RunLimits(n_iter=40), RunLimits(30, 4000.0)])
@pytest.mark.parametrize("optimizer", ["rea", "rs", "hb"])
def test_the_sequential_road_records_what_the_general_road_records(limits, optimizer):
    # ConvCount fails on avg_pool_3x3 at edge 0 (a FAIL result, charged its predicted cost), so failures are in too.
    evaluator = ConvCount()
    runs = []
    for executor in (None, SimulatedClockExecutor(Forwarding(evaluator), 1)):
        study = Study.in_memory({})
        outcome = run(study, create_optimizer(optimizer, 3), evaluator, limits, executor=executor)
        runs.append((fields(study), outcome.stopped, outcome.clock, outcome.incumbent.number))
    assert runs[0] == runs[1]
    (trials, asks), stopped = runs[0][:2]
    assert len(trials) == len(asks) >= 8 and any(t[4].state is TrialState.FAIL for t in trials)
    assert stopped == ("n_iter" if limits.n_iter is not None and len(trials) == limits.n_iter else "time_budget")


def test_a_user_error_stops_either_road_after_the_same_starts():
    class BadFidelity(ConvCount):
        def evaluate(self, request: Request):
            if request.arch.ops.count("none") == 0:
                raise ConfigError("no such fidelity")  # a user error: stops the search
            return super().evaluate(request)

    evaluator = BadFidelity()
    asks = []
    for executor in (None, SimulatedClockExecutor(Forwarding(evaluator), 1)):
        study = Study.in_memory({})
        with pytest.raises(ConfigError, match="no such fidelity"):
            run(study, create_optimizer("rs", 0), evaluator, RunLimits(n_iter=500), executor=executor)
        asks.append(fields(study))
    assert asks[0] == asks[1] and len(asks[0][1]) == len(asks[0][0]) + 1  # the failing start is recorded
