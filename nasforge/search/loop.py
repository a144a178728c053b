"""The one search loop: K trials in flight (K = 1 is the sequential search), results told in completion order.

Where trials run and on which clock is the executor's business (:mod:`nasforge.search.executors`): on a
simulated-clock executor a trial started at clock time T finishes at T + its cost (benchmark lookups, and the
sequential search, whose clock is the sum of its trials' costs); on a real executor trials really run at once and
the clock is the search's elapsed wall time, continued across resumes. The loop itself has no clock of its own.

Every start is written to the study (:class:`~nasforge.search.storage.AskRecord`: after how many told results, on
which worker, at what clock time) before the trial runs, and every result in its own transaction when it is told
(on a simulated clock a start is committed with the next result: what a kill leaves is still a prefix of the run).
Resuming replays asks and tells in that recorded interleaving into a fresh optimizer, then runs again exactly the
asks that have no result (on their worker, from their start time on a simulated clock): nothing is lost or counted
twice, and a search resumes to the very trials of an uninterrupted one. A trial whose worker died is started again
up to ``max_retries`` times and then recorded as FAIL (:class:`~nasforge.search.executors.Retrying`).

With one worker on a simulated clock whose trials run in this process (every sequential search: benchmark lookups,
and training one arch at a time) the loop takes its sequential road (``_Loop._sequential``): each trial is evaluated
as it starts, so the job queue, the trials in flight and the free workers are left out, and the records are the
general road's, field for field (tests/test_loop.py runs both roads on the same searches).

This module imports no study: it works on anything with the :class:`StudyState` surface.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from nasforge.errors import SettingError, StudyError
from nasforge.optimizers import Optimizer
from nasforge.search.executors import Executor, Job, LocalExecutor, Retrying, SimulatedClockExecutor, run_evaluation
from nasforge.search.storage import AskRecord, Storage
from nasforge.spaces.nb201 import NB201Arch
from nasforge.trial import Request, TrialRecord

if TYPE_CHECKING:
    from nasforge.search.evaluators import Evaluator

Callback = Callable[[TrialRecord, "StudyState"], None]


@dataclass(frozen=True)
class RunLimits:
    """When a search stops and how it runs: at ``n_iter`` trials or ``time_budget`` clock seconds (whichever
    comes first; at least one is needed), with ``workers`` trials in flight, a trial whose worker died started
    again up to ``max_retries`` times. Checked once, here."""

    n_iter: int | None = None
    time_budget: float | None = None
    workers: int = 1
    max_retries: int = 2

    def __post_init__(self) -> None:
        if self.n_iter is None and self.time_budget is None:
            raise SettingError("n_iter", "or time_budget is needed: a search needs a stopping rule")
        if self.n_iter is not None and not (_whole(self.n_iter) and self.n_iter >= 1):
            raise SettingError("n_iter", f"must be a whole number >= 1, got {self.n_iter!r}")
        if self.time_budget is not None and not (math.isfinite(self.time_budget) and self.time_budget > 0):
            raise SettingError("time_budget", f"must be a positive number of seconds, got {self.time_budget!r}")
        if not (_whole(self.workers) and self.workers >= 1):
            raise SettingError("workers", f"must be a whole number >= 1, got {self.workers!r}")
        if not (_whole(self.max_retries) and self.max_retries >= 0):
            raise SettingError("max_retries", f"must be a whole number >= 0, got {self.max_retries!r}")


def _whole(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True)
class SearchOutcome:
    """How a search ended: its trials, the simulated (or measured) clock, why it stopped, its incumbent."""

    trials: tuple[TrialRecord, ...]
    clock: float
    stopped: str
    incumbent: TrialRecord | None


class StudyState(Protocol):
    """What the loop reads and writes of a study (:class:`nasforge.search.study.Study` is one)."""

    storage: Storage
    trials: list[TrialRecord]
    clock: float
    incumbent: TrialRecord | None

    def record(self, record: TrialRecord) -> None: ...


def run(
    study: StudyState,
    optimizer: Optimizer,
    evaluator: Evaluator,
    limits: RunLimits,
    *,
    executor: Executor | None = None,
    callback: Callback | None = None,
    replayed: bool = False,
) -> SearchOutcome:
    """Run ``study``'s search under ``limits`` (module docstring) on ``executor`` (default: a
    :class:`~nasforge.search.executors.LocalExecutor`, which with one worker is the sequential search).
    ``replayed``: ``optimizer`` has already been told every stored trial (it ran this study's previous search in
    this process), so no replay is needed."""
    own = executor is None
    where = LocalExecutor(evaluator) if executor is None else executor
    try:
        return _Loop(study, optimizer, evaluator, _stack(where, evaluator, limits, own), limits).run(callback, replayed)
    finally:
        if own:
            where.close()


def _stack(executor: Executor, evaluator: Evaluator, limits: RunLimits, own: bool) -> Executor:
    """The executor the loop talks to: retries around one whose workers can die, and a simulated clock over
    that for lookups with known costs and for the sequential search (one local worker: its clock is the sum
    of its trials' costs, as a simulated clock with one worker is)."""
    # Only an executor whose workers can die needs retries (a local job that dies takes the search with it).
    stack = Retrying(executor, evaluator, limits.max_retries) if executor.isolated else executor
    if executor.simulated:
        return stack
    if is_simulated(evaluator) or (own and limits.workers == 1):
        # Retries inside: a crashed lookup is run again at once, before the simulated clock moves on.
        stack = SimulatedClockExecutor(stack, limits.workers)
    return stack


class _Loop:
    def __init__(
        self, study: StudyState, optimizer: Optimizer, evaluator: Evaluator, executor: Executor, limits: RunLimits
    ) -> None:
        self.executor = executor
        self.study, self.optimizer, self.evaluator, self.limits = study, optimizer, evaluator, limits
        self.running: dict[int, tuple[AskRecord, Request]] = {}  # ask number -> the trial in flight
        self.free = list(range(limits.workers))
        # The clock is the executor's: on a simulated one "now" is the latest finish and a trial ends at its start +
        # its cost; on a real one both are the search's elapsed wall time (continued from the stored clock).
        self.simulated = executor.simulated
        base, t0 = study.clock, time.perf_counter()
        self.now: Callable[[], float] = (
            (lambda: study.clock) if executor.simulated else (lambda: base + time.perf_counter() - t0)
        )

    def run(self, callback: Callback | None, replayed: bool) -> SearchOutcome:
        study, optimizer, limits = self.study, self.optimizer, self.limits
        n_iter, time_budget = limits.n_iter, limits.time_budget
        unfinished, asked = ([], len(study.trials)) if replayed else replay(study, optimizer, self.evaluator)
        if len(unfinished) > limits.workers:
            raise StudyError(f"{len(unfinished)} trials of this study were running when it stopped; resume it with "
                             f"at least {len(unfinished)} workers")  # fmt: skip
        if not unfinished and limits.workers == 1 and _in_process(self.executor) is not None:
            return self._sequential(callback, asked)
        for ask, request in unfinished:  # the trials that were running when the last session stopped
            if ask.worker not in self.free:  # run with fewer workers now: any free one
                ask = ask._replace(worker=self.free[0])
            self.free.remove(ask.worker)
            self._start(ask, request)
        stopped, stopping = "n_iter", False
        # Bound once, and the finish of a trial written out below rather than called: this loop runs once per trial
        # of millions in ``nasforge compare``.
        free, now, add_ask, trials, simulated = self.free, self.now, study.storage.add_ask, study.trials, self.simulated
        ask_next, tell, record_trial = optimizer.ask, optimizer.tell, study.record
        predicted_cost, default_fidelity = self.evaluator.predicted_cost, self.evaluator.default_fidelity
        running, submit, wait = self.running, self.executor.submit, self.executor.wait
        while True:
            while free and not stopping and (n_iter is None or asked < n_iter):
                t = now()
                if time_budget is not None and t >= time_budget:
                    stopping, stopped = True, "time_budget"
                    break
                request = ask_next()
                if time_budget is not None:
                    predicted = predicted_cost(request)
                    if predicted is not None and t + predicted > time_budget:
                        stopping, stopped = True, "time_budget"  # it would end past the budget: not run
                        break
                fidelity = default_fidelity if request.fidelity is None else request.fidelity
                ask = AskRecord(asked, request.arch, fidelity, len(trials), free.pop(0), t, time.time())
                add_ask(ask, commit=not simulated)  # Storage.add_ask: why a simulated start may wait
                running[asked] = ask, request
                submit(Job(asked, request, ask.worker, 1, t))
                asked += 1
            if not running:
                break
            finished = wait()
            if finished.error is not None:
                raise finished.error  # a user error (bad data directory, ...) stops the search
            job, result = finished.job, finished.result
            ask, request = running.pop(job.key)
            assert result is not None  # only isolated executors crash, and Retrying turns a crash into a result
            free.append(ask.worker)
            if len(free) > 1:  # the lowest free worker takes the next trial
                free.sort()
            sim_end = ask.sim_start + result.cost if simulated else max(now(), ask.sim_start)
            record = TrialRecord(len(trials), ask.arch, ask.fidelity, result,
                                 finished.finished_at - finished.started_at, finished.started_at, finished.finished_at,
                                 ask.worker, job.attempt, ask.sim_start, sim_end, ask.ask_number)  # fmt: skip
            record_trial(record)
            tell(request, result)
            if callback is not None:
                callback(record, study)
        return SearchOutcome(tuple(study.trials), study.clock, stopped, study.incumbent)

    def _sequential(self, callback: Callback | None, asked: int) -> SearchOutcome:
        """:meth:`run` with one simulated worker whose trials run in this process: every sequential search (lookups,
        and training one arch at a time on the summed clock). Each trial is evaluated as it starts and told at once,
        so the job queue, the trials in flight and the free workers are left out; the records, the clock, the
        errors and where the search stops are :meth:`run`'s, trial for trial (tests/test_loop.py checks both)."""
        study, optimizer, evaluator = self.study, self.optimizer, _in_process(self.executor)
        assert evaluator is not None  # run() comes here only then
        n_iter = math.inf if self.limits.n_iter is None else self.limits.n_iter
        time_budget = self.limits.time_budget
        add_ask, trials, record_trial = study.storage.add_ask, study.trials, study.record
        ask_next, tell = optimizer.ask, optimizer.tell
        predicted_cost, default_fidelity = evaluator.predicted_cost, evaluator.default_fidelity
        stopped = "n_iter"
        while asked < n_iter:
            t = study.clock
            if time_budget is not None and t >= time_budget:
                stopped = "time_budget"
                break
            request = ask_next()
            if time_budget is not None:
                predicted = predicted_cost(request)
                if predicted is not None and t + predicted > time_budget:
                    stopped = "time_budget"  # it would end past the budget: not run
                    break
            fidelity = default_fidelity if request.fidelity is None else request.fidelity
            add_ask(AskRecord(asked, request.arch, fidelity, len(trials), 0, t, time.time()), commit=False)
            result, started, finished = run_evaluation(evaluator, request)  # a user error stops the search here
            record = TrialRecord(len(trials), request.arch, fidelity, result, finished - started, started, finished,
                                 0, 1, t, t + result.cost, asked)  # fmt: skip
            asked += 1
            record_trial(record)
            tell(request, result)
            if callback is not None:
                callback(record, study)
        return SearchOutcome(tuple(trials), study.clock, stopped, study.incumbent)

    def _start(self, ask: AskRecord, request: Request) -> None:
        self.running[ask.ask_number] = ask, request
        self.executor.submit(Job(ask.ask_number, request, ask.worker, clock=ask.sim_start))


def _in_process(executor: Executor) -> Evaluator | None:
    """The evaluator of a one-worker simulated clock that runs its trials in this process (what :func:`_stack`
    builds for every sequential search), else ``None``."""
    inner = getattr(executor, "inner", None)
    if isinstance(executor, SimulatedClockExecutor) and executor.slots == 1 and isinstance(inner, LocalExecutor):
        return inner.evaluator
    return None


def is_simulated(evaluator: Evaluator) -> bool:
    """Whether ``evaluator`` runs on a simulated clock (its ``simulated_clock``, else: is its cost known?)."""
    declared = getattr(evaluator, "simulated_clock", None)
    if declared is not None:
        return bool(declared)
    return evaluator.predicted_cost(Request(NB201Arch.from_index(0))) is not None


def replay(
    study: StudyState, optimizer: Optimizer, evaluator: Evaluator
) -> tuple[list[tuple[AskRecord, Request]], int]:
    """Replay ``study``'s asks and tells into ``optimizer`` in their recorded interleaving.

    Returns the asks that have no result yet (with the optimizer's request for each, still pending) and the
    number of asks made so far. Each replayed request must equal the stored one.
    """
    trials = study.trials
    stored = {a.ask_number: a for a in study.storage.asks()}
    finished = {}
    for t in trials:
        finished[t.ask_number] = t
        if t.ask_number not in stored:  # written by a release whose sequential loop recorded no starts
            sim_start = t.sim_start if t.sim_start is not None else 0.0
            stored[t.ask_number] = AskRecord(t.ask_number, t.arch, t.fidelity, t.number, t.worker, sim_start,
                                             t.started_at)  # fmt: skip
    asks = [stored[k] for k in sorted(stored)]
    if [a.ask_number for a in asks] != list(range(len(asks))) or len(finished) != len(trials):
        raise StudyError(
            "the trials of this study do not match their recorded starts (ask numbers); "
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
        label = f"trial {ask.ask_number}"
        requests[ask.ask_number] = _ask_as_recorded(optimizer, evaluator, label, ask.arch, ask.fidelity)
    while told < len(trials):
        optimizer.tell(requests[trials[told].ask_number], trials[told].result)
        told += 1
    return [(a, requests[a.ask_number]) for a in asks if a.ask_number not in finished], len(asks)


def _ask_as_recorded(
    optimizer: Optimizer, evaluator: Evaluator, label: str, arch: NB201Arch, fidelity: int | None
) -> Request:
    """Ask ``optimizer`` during a replay and check it asks for what the study recorded (``label`` names it)."""
    request = optimizer.ask()
    asked = evaluator.default_fidelity if request.fidelity is None else request.fidelity
    if request.arch != arch or asked != fidelity:
        raise StudyError(
            f"stored {label} ({arch}, {fidelity} epochs) is not what the optimizer asks when replayed "
            f"({request.arch}, {asked} epochs): the study was written by another nasforge version or "
            "configuration; start a new run with --force"
        )
    return request
