"""The asynchronous search loop: K trials in flight, results told in completion order, every start on record.

It runs on one of two clocks:

* **simulated** (benchmark lookups, whose cost is known beforehand): K simulated workers, as in Syne Tune's
  simulator. A free worker starts a trial at the simulated time T of the latest result; the trial finishes at
  T + its cost, and results are told in order of simulated finish time (ties: ask order). Lookups run one at
  a time on the executor, so a search is deterministic for a seed whichever executor runs it.
* **real** (training): K evaluations really run at once on the executor and results are told as they arrive;
  the clock is the search's elapsed wall time, continued across resumes.

Every start is written to the study (:class:`~nasforge.study.AskRecord`: after how many told results, on which
worker, at what clock time) before the trial runs, and every result in its own transaction when it is told.
Resuming replays asks and tells in that recorded interleaving into a fresh optimizer, then runs again exactly
the asks that have no result (on their worker, from their start time on a simulated clock): nothing is lost or
counted twice, and a simulated search resumes to the very trials of an uninterrupted one.

A trial whose worker died (killed, out of memory, node lost) is started again, up to ``max_retries`` times,
and then recorded as FAIL; its record counts its ``attempts``.
"""

from __future__ import annotations

import dataclasses
import heapq
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from nasforge.errors import StudyError
from nasforge.executors import Executor, Finished, Job, LocalExecutor
from nasforge.optimizers import Optimizer
from nasforge.spaces.nb201 import NB201Arch
from nasforge.trial import Request, Result, TrialRecord

if TYPE_CHECKING:
    from nasforge.evaluators import Evaluator
    from nasforge.study import AskRecord, SearchOutcome, Study


def is_simulated(evaluator: Evaluator) -> bool:
    """Whether ``evaluator`` runs on a simulated clock (its ``simulated_clock``, else: is its cost known?)."""
    declared = getattr(evaluator, "simulated_clock", None)
    if declared is not None:
        return bool(declared)
    return evaluator.predicted_cost(Request(NB201Arch.from_index(0))) is not None


def run_async(
    study: Study,
    optimizer: Optimizer,
    evaluator: Evaluator,
    *,
    executor: Executor | None,
    workers: int,
    n_iter: int | None,
    time_budget: float | None,
    callback: Callable[[TrialRecord, Study], None] | None,
    max_retries: int,
) -> SearchOutcome:
    """Run ``study``'s search with ``workers`` trials in flight (see the module docstring)."""
    own = executor is None
    loop = _Loop(study, optimizer, evaluator, executor or LocalExecutor(evaluator), workers, max_retries)
    try:
        return loop.run(n_iter, time_budget, callback)
    finally:
        if own:
            loop.executor.close()


@dataclass
class _Running:
    ask: AskRecord
    request: Request
    attempts: int = 0


class _Loop:
    def __init__(
        self,
        study: Study,
        optimizer: Optimizer,
        evaluator: Evaluator,
        executor: Executor,
        workers: int,
        max_retries: int,
    ) -> None:
        self.study, self.optimizer, self.evaluator, self.executor = study, optimizer, evaluator, executor
        self.workers, self.max_retries = workers, max_retries
        self.simulated = is_simulated(evaluator)
        self.running: dict[int, _Running] = {}
        self.free = list(range(workers))
        self.events: list[tuple[float, int, Result, float, float]] = []  # simulated finishes, earliest first
        self._base, self._t0 = study.clock, time.perf_counter()

    def now(self) -> float:
        if self.simulated:
            return self.study.clock
        return self._base + time.perf_counter() - self._t0

    # --- the loop ------------------------------------------------------------------------------------------------

    def run(
        self, n_iter: int | None, time_budget: float | None, callback: Callable[[TrialRecord, Study], None] | None
    ) -> SearchOutcome:
        from nasforge.study import AskRecord, SearchOutcome

        study, optimizer = self.study, self.optimizer
        unfinished, asked = replay(study, optimizer, self.evaluator)
        if len(unfinished) > self.workers:
            raise StudyError(f"{len(unfinished)} trials of this study were running when it stopped; resume it with "
                             f"at least {len(unfinished)} workers")  # fmt: skip
        for ask, request in unfinished:  # the trials that were running when the last session stopped
            if ask.worker not in self.free:  # run with fewer workers now: any free one
                ask = dataclasses.replace(ask, worker=self.free[0])
            self.free.remove(ask.worker)
            self._start(_Running(ask, request))
        stopped, stopping = "n_iter", False
        while True:
            while self.free and not stopping and (n_iter is None or asked < n_iter):
                t = self.now()
                if time_budget is not None and t >= time_budget:
                    stopping, stopped = True, "time_budget"
                    break
                request = optimizer.ask()
                predicted = self.evaluator.predicted_cost(request)
                if time_budget is not None and predicted is not None and t + predicted > time_budget:
                    stopping, stopped = True, "time_budget"  # it would end past the budget: not run
                    break
                fidelity = self.evaluator.default_fidelity if request.fidelity is None else request.fidelity
                ask = AskRecord(asked, request.arch, fidelity, len(study.trials), self.free.pop(0), t, time.time())
                study.storage.add_ask(ask)
                asked += 1
                self._start(_Running(ask, request))
            if not self.running:
                break
            key, result, started, finished = self._next()
            record = self._finish(key, result, started, finished)
            if callback is not None:
                callback(record, study)
        study._replayed = len(study.trials)
        study._live_optimizer = optimizer
        return SearchOutcome(tuple(study.trials), study.clock, stopped, study.incumbent)

    def _start(self, run: _Running) -> None:
        self.running[run.ask.ask_number] = run
        self._submit(run)
        if self.simulated:  # the lookup's result decides when the trial ends on the simulated clock
            while (settled := self._settle(self.executor.wait())) is None:
                pass
            key, result, started, finished = settled
            heapq.heappush(self.events, (run.ask.sim_start + result.cost, key, result, started, finished))

    def _submit(self, run: _Running) -> None:
        run.attempts += 1
        slot = run.ask.worker if not self.simulated else 0  # simulated workers share the executor's one slot
        self.executor.submit(Job(run.ask.ask_number, run.request, slot, run.attempts))

    def _next(self) -> tuple[int, Result, float, float]:
        if self.simulated:
            _, key, result, started, finished = heapq.heappop(self.events)
            return key, result, started, finished
        while (settled := self._settle(self.executor.wait())) is None:
            pass
        return settled

    def _settle(self, finished: Finished) -> tuple[int, Result, float, float] | None:
        """The job's outcome, or ``None`` when its worker died and it was started again."""
        key = finished.job.key
        if finished.error is not None:
            raise finished.error  # a user error (bad data directory, ...) stops the search
        if finished.result is not None:
            return key, finished.result, finished.started_at, finished.finished_at
        run = self.running[key]
        if run.attempts <= self.max_retries:
            self._submit(run)
            return None
        predicted = self.evaluator.predicted_cost(run.request)
        message = f"{finished.crash}; gave up after {run.attempts} attempts"
        return key, Result.fail(message, cost=predicted or 0.0), run.ask.started_at, finished.finished_at

    def _finish(self, key: int, result: Result, started: float, finished: float) -> TrialRecord:
        run = self.running.pop(key)
        ask = run.ask
        self.free.append(ask.worker)
        self.free.sort()
        sim_end = ask.sim_start + result.cost if self.simulated else max(self.now(), ask.sim_start)
        record = TrialRecord(len(self.study.trials), ask.arch, ask.fidelity, result, finished - started, started,
                             finished, ask.worker, run.attempts, ask.sim_start, sim_end, ask.ask_number)  # fmt: skip
        self.study.record(record)
        self.optimizer.tell(run.request, result)
        return record


def replay(study: Study, optimizer: Optimizer, evaluator: Evaluator) -> tuple[list[tuple[AskRecord, Request]], int]:
    """Replay ``study``'s asks and tells into ``optimizer`` in their recorded interleaving.

    Returns the asks that have no result yet (with the optimizer's request for each, still pending) and the
    number of asks made so far. Each replayed request must equal the stored one.
    """
    from nasforge.study import AskRecord, ask_as_recorded

    trials = study.trials
    if study._live_optimizer is optimizer and study._replayed == len(trials):
        return [], len(trials)  # the optimizer that ran this study's last search here: already up to date
    stored = {a.ask_number: a for a in study.storage.asks()}
    finished = {}
    for t in trials:
        finished[t.ask_number] = t
        if t.ask_number not in stored:  # written by the sequential loop: asked right after the previous result
            sim_start = t.sim_start if t.sim_start is not None else 0.0
            stored[t.ask_number] = AskRecord(t.ask_number, t.arch, t.fidelity, t.number, t.worker, sim_start,
                                             t.started_at)  # fmt: skip
    asks = [stored[k] for k in sorted(stored)]
    if [a.ask_number for a in asks] != list(range(len(asks))) or len(finished) != len(trials):
        raise StudyError(
            f"the trials in {study.run_dir} do not match their recorded starts (ask numbers); "
            "the database is corrupted: start a new run with --force"
        )
    if not asks:
        return [], 0
    if optimizer.history or optimizer.pending:
        raise StudyError("resuming needs a fresh optimizer (one that has not been asked yet)")
    requests: dict[int, Request] = {}
    told = 0
    for ask in asks:
        while told < min(ask.told_before, len(trials)):
            optimizer.tell(requests[trials[told].ask_number], trials[told].result)
            told += 1
        label = f"trial start {ask.ask_number}"
        requests[ask.ask_number] = ask_as_recorded(optimizer, evaluator, label, ask.arch, ask.fidelity)
    while told < len(trials):
        optimizer.tell(requests[trials[told].ask_number], trials[told].result)
        told += 1
    return [(a, requests[a.ask_number]) for a in asks if a.ask_number not in finished], len(asks)
