"""Executors run evaluations: in this process, in worker processes, as Ray tasks, or on a simulated clock.

An executor knows nothing about optimizers or studies. The search loop submits a :class:`Job` (a trial's
ask number, its request, the worker slot it runs on, the attempt and its start on the study's clock) and
collects :class:`Finished` events in completion order. A job whose worker died (killed, out of memory, node
lost) comes back with ``crash`` set and no result; :class:`Retrying` starts it again or gives up. A user error
(:class:`~nasforge.errors.NasforgeError`) raised by the evaluator comes back in ``error`` and stops the search;
any other exception is a FAIL result (:func:`run_evaluation` is that one place).

Where trials run: ``local`` (in this process), ``process`` (spawned worker processes), ``ray`` (Ray tasks).
On which clock: those three run in real time; :class:`SimulatedClockExecutor` (``simulated``) runs each job at
once on another executor and finishes it at its start + its cost on the study's clock, ``workers`` at a time
(Syne Tune's simulator backend). :data:`EXECUTORS` is the one registry; :func:`create_executor` builds by name.

>>> from nasforge.spaces.nb201 import NB201Arch
>>> class Toy:
...     default_fidelity = 12
...     def evaluate(self, request): return Result.complete(1.0, cost=2.0)
...     def predicted_cost(self, request): return 2.0
>>> with create_executor("local", Toy()) as executor:
...     executor.submit(Job(0, Request(NB201Arch.from_index(0)), slot=0))
...     executor.wait().result.objective
1.0
"""

from __future__ import annotations

import collections
import ctypes
import ctypes.util
import functools
import heapq
import logging
import multiprocessing
import multiprocessing.connection
import os
import pickle
import signal
import socket
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

from nasforge.errors import ConfigError, NasforgeError, SettingError, first_line
from nasforge.runtime import keep_freed_memory
from nasforge.trial import Request, Result

if TYPE_CHECKING:
    from nasforge.search.evaluators import Evaluator

RAY_INSTALL_HINT = 'pip install "nasforge[ray]"'
ADDRESS_TIMEOUT_S = 3.0  # how long to try reaching a Ray cluster before calling its address unreachable
_STOP_GRACE_S = 2.0  # how long an idle worker process gets to exit before it is killed
_PR_SET_PDEATHSIG = 1  # prctl option (linux/prctl.h)


# Job and Finished are NamedTuples, frozen values like a dataclass but built in a fifth of the time: the loop makes
# one of each per trial, and ``nasforge compare`` runs millions of trials.
class Job(NamedTuple):
    """One evaluation to run: ``key`` identifies the trial (its ask number), ``slot`` the worker (0..K-1)."""

    key: int
    request: Request
    slot: int = 0
    attempt: int = 1
    clock: float = 0.0  # when the trial starts on the study's clock (a simulated clock finishes it at clock + cost)


class Finished(NamedTuple):
    """A job that ended: with a ``result``, or with its worker dead (``crash``), or with a user ``error``."""

    job: Job
    result: Result | None
    started_at: float
    finished_at: float
    crash: str | None = None
    error: NasforgeError | None = None


def run_evaluation(evaluator: Evaluator, request: Request) -> tuple[Result, float, float]:
    """Evaluate ``request``: (result, start and end wall-clock timestamps).

    A :class:`~nasforge.errors.NasforgeError` (a user error) propagates; any other exception is a FAIL result
    charged what the trial would have cost when that is known (keeps a simulated clock deterministic).
    """
    started, start = time.time(), time.perf_counter()
    try:
        result = evaluator.evaluate(request)
    except NasforgeError:
        raise
    except Exception as exc:  # noqa: BLE001 - a failing trial must not end the search
        predicted = evaluator.predicted_cost(request)
        cost = time.perf_counter() - start if predicted is None else predicted
        result = Result.fail(f"{type(exc).__name__}: {exc}", cost=cost)
    wall = time.perf_counter() - start
    return result, started, started + wall


def _evaluate_job(evaluator: Evaluator, job: Job) -> Finished:
    try:
        result, started, finished = run_evaluation(evaluator, job.request)
    except NasforgeError as exc:
        now = time.time()
        return Finished(job, None, now, now, error=exc)
    return Finished(job, result, started, finished)


class Executor(Protocol):
    """Runs submitted jobs and hands them back, finished, in completion order."""

    name: str
    slots: int  # how many jobs it runs at once
    simulated: bool  # finishes jobs on the study's clock (at their clock + cost) rather than in real time
    isolated: bool  # runs jobs in workers that can die on their own (a ``crash``), so the loop retries them

    def submit(self, job: Job) -> None: ...

    def wait(self) -> Finished:
        """Block until a submitted job finishes (or its worker dies) and return it."""
        ...

    def close(self) -> None:
        """Stop every worker; jobs still running are abandoned (a resumed study re-runs them)."""
        ...

    def __enter__(self) -> Executor: ...

    def __exit__(self, *exc: object) -> None: ...


class _ContextManager:
    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        pass


class LocalExecutor(_ContextManager):
    """In this process, one job at a time, first submitted first run (today's sequential behaviour)."""

    name = "local"
    slots = 1
    simulated = False
    isolated = False  # a job runs in this very process: if it dies, so does the search

    def __init__(self, evaluator: Evaluator) -> None:
        self.evaluator = evaluator
        self._queue: collections.deque[Job] = collections.deque()

    def submit(self, job: Job) -> None:
        self._queue.append(job)

    def wait(self) -> Finished:
        if not self._queue:
            raise RuntimeError("wait() with no job submitted")
        return self.run(self._queue.popleft())

    def run(self, job: Job) -> Finished:
        """Run ``job`` now, in this process (what a simulated clock over this executor calls directly)."""
        return _evaluate_job(self.evaluator, job)


# --- worker processes ----------------------------------------------------------------------------------------


def _die_with_parent(parent_pid: int) -> None:
    """On Linux, have the kernel kill this worker when its parent dies (``kill -9`` of the search): an orphan
    would otherwise go on training for as long as its trial takes, beside the resumed search."""
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):  # no prctl: the worker exits at its next read from the closed pipe
        return
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(1)


def _worker_main(
    conn: multiprocessing.connection.Connection, payload: bytes, threads: int | None, parent_pid: int
) -> None:
    """A worker process: unpickle the evaluator once, then evaluate jobs from ``conn`` until told to stop."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle; it stops us cleanly
    _die_with_parent(parent_pid)
    if threads:
        # Before torch is imported (the training evaluator imports it lazily), so its thread pool obeys.
        for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
            os.environ[name] = str(threads)
    keep_freed_memory()  # a worker is our own process, as the nasforge command is (Ray's workers are not)
    try:
        evaluator = pickle.loads(payload)
    except Exception as exc:  # noqa: BLE001 - reported to the parent, which raises a user error
        conn.send(f"{type(exc).__name__}: {exc}")
        return
    conn.send(None)  # ready
    while True:
        try:
            job = conn.recv()
        except (EOFError, OSError):  # the parent is gone
            return
        if job is None:
            return
        finished = _evaluate_job(evaluator, job)
        try:
            conn.send(finished)
        except OSError:  # the parent died meanwhile (kill -9): its resumed study re-runs this trial
            return


@dataclass
class _Worker:
    process: Any
    conn: multiprocessing.connection.Connection
    job: Job | None = None


class ProcessExecutor(_ContextManager):
    """``workers`` worker processes on this machine (start method ``spawn``), one job each at a time.

    The evaluator is pickled once and sent to each worker when it starts. Each worker is a process of its
    own with its own pipe, so a worker that dies (``kill -9``, out of memory) takes only its own job with it:
    that job comes back as a crash and the worker is restarted on the next submit to its slot.
    ``threads_per_worker`` caps the torch/BLAS threads of each worker (default: cores // workers).
    """

    name = "process"
    simulated = False
    isolated = True

    def __init__(
        self, evaluator: Evaluator, workers: int, *, threads_per_worker: int | None = None, start_method: str = "spawn"
    ) -> None:
        if workers < 1:
            raise ConfigError(f"the process executor needs at least 1 worker, got {workers}")
        try:
            self._payload = pickle.dumps(evaluator)
        except Exception as exc:  # noqa: BLE001 - pickling can fail in many ways; all mean the same to the user
            raise SettingError("executor", f"the evaluator cannot be sent to worker processes ({_braced(exc)}); use "
                               "{executor} local", whole=True) from None  # fmt: skip
        self.slots = workers
        self.threads = threads_per_worker or max(1, (os.cpu_count() or 1) // workers)
        self._context = multiprocessing.get_context(start_method)
        self._workers: dict[int, _Worker] = {}
        try:  # all workers start together; each says when it holds the evaluator
            for worker in [self._spawn(slot) for slot in range(workers)]:
                self._handshake(worker)
        except BaseException:
            self.close()
            raise

    def _spawn(self, slot: int) -> _Worker:
        parent, child = self._context.Pipe()
        process = self._context.Process(
            target=_worker_main, args=(child, self._payload, self.threads, os.getpid()), name=f"nasforge-worker-{slot}",
            daemon=True,
        )  # fmt: skip
        process.start()
        child.close()
        worker = self._workers[slot] = _Worker(process, parent)
        return worker

    def _handshake(self, worker: _Worker) -> None:
        try:
            problem = worker.conn.recv()
        except (EOFError, OSError):
            worker.process.join(timeout=_STOP_GRACE_S)
            problem = (
                f"it exited with code {worker.process.exitcode}; a script that starts worker processes must do so "
                'under if __name__ == "__main__":'
            )
        if problem is not None:
            raise SettingError("executor", f"a worker process cannot load the evaluator ({_braced(problem)}); use "
                               "{executor} local", whole=True)  # fmt: skip

    def _worker(self, slot: int) -> _Worker:
        worker = self._workers.get(slot)
        if worker is None or not worker.process.is_alive():
            worker = self._spawn(slot)  # a replacement for a worker that died
            self._handshake(worker)
        return worker

    def submit(self, job: Job) -> None:
        if not 0 <= job.slot < self.slots:
            raise ValueError(f"slot {job.slot} outside 0..{self.slots - 1}")
        worker = self._worker(job.slot)
        if worker.job is not None:
            raise RuntimeError(f"worker {job.slot} is busy with job {worker.job.key}")
        worker.job = job
        try:
            worker.conn.send(job)
        except OSError:  # it died between the liveness check and the send; wait() reports the crash
            pass

    def wait(self) -> Finished:
        busy = {slot: w for slot, w in self._workers.items() if w.job is not None}
        if not busy:
            raise RuntimeError("wait() with no job submitted")
        handles: dict[Any, int] = {}
        for slot, worker in busy.items():
            handles[worker.conn] = slot
            handles[worker.process.sentinel] = slot
        ready = multiprocessing.connection.wait(list(handles))
        slot = min(handles[h] for h in ready)  # deterministic when several are ready at once
        worker = busy[slot]
        job, worker.job = worker.job, None
        assert job is not None
        try:
            if worker.conn.poll():
                finished = worker.conn.recv()
                return finished._replace(job=job)
        except (EOFError, OSError):
            pass
        return self._crashed(slot, worker, job)

    def _crashed(self, slot: int, worker: _Worker, job: Job) -> Finished:
        worker.process.join(timeout=_STOP_GRACE_S)
        code = worker.process.exitcode
        how = f"killed by {signal.Signals(-code).name}" if code is not None and code < 0 else f"exit code {code}"
        worker.conn.close()
        del self._workers[slot]
        now = time.time()
        return Finished(job, None, now, now, crash=f"worker process {slot} died ({how})")

    def close(self) -> None:
        for worker in self._workers.values():
            try:
                if worker.job is None:
                    worker.conn.send(None)
            except OSError:
                pass
        deadline = time.monotonic() + _STOP_GRACE_S
        for worker in self._workers.values():
            if worker.job is not None:
                worker.process.kill()  # abandon its trial: a resumed study re-runs it
            worker.process.join(timeout=max(0.0, deadline - time.monotonic()))
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join()
            worker.conn.close()
        self._workers.clear()


# --- Ray ---------------------------------------------------------------------------------------------------------


def import_ray() -> Any:
    """The ``ray`` module, or a one-line user error saying how to install it."""
    try:
        import ray
    except ImportError:
        raise SettingError("executor", f"ray needs Ray, which is not installed: {RAY_INSTALL_HINT}") from None
    return ray


def start_local_ray(**options: Any) -> Any:
    """Start a Ray instance on this machine that listens on loopback only; returns the ``ray`` module.

    Ray normally binds a local instance to the address of the machine's outward interface, so every worker
    and object transfer would be reachable from (and travel to) that address. A local instance needs none of
    that: Ray's own switch for single-machine use (``ENABLE_RAY_CLUSTER``, read when the node address is
    resolved) makes it pick 127.0.0.1. The switch is restored afterwards so a later cluster join still works.
    """
    ray = import_ray()
    from ray._private import ray_constants

    saved = ray_constants.ENABLE_RAY_CLUSTER
    ray_constants.ENABLE_RAY_CLUSTER = False
    try:
        ray.init(include_dashboard=False, **options)
    finally:
        ray_constants.ENABLE_RAY_CLUSTER = saved
    return ray


def check_address(address: str, timeout: float = ADDRESS_TIMEOUT_S) -> tuple[str, int]:
    """``HOST:PORT`` parsed, after checking that something listens there (within ``timeout`` seconds)."""
    host, sep, port_text = address.rpartition(":")
    if not sep or not host or not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise SettingError("address", f"{_braced(repr(address))} is not HOST:PORT (e.g. 10.0.0.5:6379, the head node's "
                                      "GCS port)")  # fmt: skip
    port = int(port_text)
    try:
        with socket.create_connection((host.strip("[]"), port), timeout=timeout):
            pass
    except OSError as exc:
        raise SettingError("address", f"cannot reach a Ray cluster at {_braced(address)} "
                                      f"({_braced(exc.strerror or exc)}); start one there with 'ray start --head' or "
                                      "drop {address} to start a local Ray instance", whole=True) from None  # fmt: skip
    return host, port


def _braced(value: object) -> str:
    """Text quoted inside a SettingError's detail, its braces doubled (the detail's ``{name}`` are setting names)."""
    text = value if isinstance(value, str) else (f"{type(value).__name__}: {value}" if isinstance(value, BaseException)
                                                 else str(value))  # fmt: skip
    return text.replace("{", "{{").replace("}", "}}")


def _ray_evaluate(evaluator: Evaluator, job: Job) -> Finished:
    return _evaluate_job(evaluator, job)


class RayExecutor(_ContextManager):
    """Each job is a Ray task asking for ``cpus_per_trial`` CPUs and ``gpus_per_trial`` GPUs.

    Without ``address`` a local Ray instance is started (and shut down on :meth:`close`); with it the
    cluster at ``HOST:PORT`` is joined. If Ray is already initialized in this process it is used as is.
    Ray's own retries are off (``max_retries=0``): a task whose worker or node died comes back as a crash
    and the search loop retries it, so retries are counted in one place.
    """

    name = "ray"
    simulated = False
    isolated = True

    def __init__(
        self,
        evaluator: Evaluator,
        workers: int,
        *,
        address: str | None = None,
        cpus_per_trial: float = 1.0,
        gpus_per_trial: float = 0.0,
    ) -> None:
        if address is not None:
            check_address(address)
        ray = import_ray()
        self._ray = ray
        self.slots = workers
        self._owns_ray = False
        if not ray.is_initialized():
            if address is None:
                start_local_ray(logging_level=logging.ERROR, log_to_driver=False)
            else:
                ray.init(address=address, include_dashboard=False, logging_level=logging.ERROR, log_to_driver=False)
            self._owns_ray = True
        self._evaluator = ray.put(evaluator)
        remote = ray.remote(_ray_evaluate)
        self._remote = remote.options(num_cpus=cpus_per_trial, num_gpus=gpus_per_trial, max_retries=0)
        self._running: dict[Any, Job] = {}

    def submit(self, job: Job) -> None:
        self._running[self._remote.remote(self._evaluator, job)] = job

    def wait(self) -> Finished:
        if not self._running:
            raise RuntimeError("wait() with no job submitted")
        ray = self._ray
        (ref,), _ = ray.wait(list(self._running), num_returns=1)
        job = self._running.pop(ref)
        try:
            finished = ray.get(ref)
        except ray.exceptions.RayError as exc:  # the worker, the node or the object died: not the trial's fault
            now = time.time()
            reason = first_line(exc)
            return Finished(job, None, now, now, crash=f"Ray task on worker {job.slot} died ({type(exc).__name__}"
                            f"{': ' + reason if reason else ''})")  # fmt: skip
        return finished._replace(job=job)

    def close(self) -> None:
        for ref in self._running:
            try:
                self._ray.cancel(ref, force=True)
            except Exception:  # noqa: BLE001,S110 - best effort: the task may have finished meanwhile
                pass
        self._running.clear()
        if self._owns_ray:
            self._ray.shutdown()
            self._owns_ray = False


# --- wrappers: retries and the simulated clock ------------------------------------------------------------------


class Retrying(_ContextManager):
    """Starts a job whose worker died again on ``inner`` (same slot), up to ``max_retries`` times, then hands it
    back as a FAIL result charged its predicted cost; a user error raised by the evaluator is raised here.
    ``wait`` therefore returns results only, with ``job.attempt`` the number of starts."""

    def __init__(self, inner: Executor, evaluator: Evaluator, max_retries: int) -> None:
        self.inner, self.evaluator, self.max_retries = inner, evaluator, max_retries
        self.name, self.slots, self.simulated, self.isolated = inner.name, inner.slots, inner.simulated, False
        self._first_start: dict[int, float] = {}

    def submit(self, job: Job) -> None:
        self._first_start[job.key] = time.time()
        self.inner.submit(job)

    def wait(self) -> Finished:
        while True:
            finished = self.inner.wait()
            if finished.error is not None:
                raise finished.error  # a user error (bad data directory, ...) stops the search
            job = finished.job
            if finished.result is not None:
                self._first_start.pop(job.key, None)
                return finished
            if job.attempt <= self.max_retries:
                self.inner.submit(job._replace(attempt=job.attempt + 1))
                continue
            predicted = self.evaluator.predicted_cost(job.request)
            result = Result.fail(f"{finished.crash}; gave up after {job.attempt} attempts", cost=predicted or 0.0)
            return finished._replace(result=result, started_at=self._first_start.pop(job.key, finished.started_at),
                           crash=None)  # fmt: skip

    def close(self) -> None:
        self.inner.close()


class SimulatedClockExecutor(_ContextManager):
    """``workers`` simulated workers on the study's clock, running their jobs on ``inner``.

    Each submitted job runs at once, to completion, on ``inner``'s slot 0 (lookups are quick, and one at a time
    keeps a search deterministic for a seed whichever executor runs it); it finishes at its ``clock`` + its
    result's cost, and :meth:`wait` hands jobs back in order of that finish time (ties: the lower key first).
    With one worker this is the sequential search: each trial starts when the previous one ends.
    """

    name = "simulated"
    simulated = True

    def __init__(self, inner: Executor, workers: int = 1) -> None:
        if not (isinstance(workers, int) and workers >= 1):
            raise ConfigError(f"the simulated clock needs at least 1 worker, got {workers!r}")
        self.inner, self.slots, self.isolated = inner, workers, inner.isolated
        # An in-process executor's jobs are evaluated right here (what LocalExecutor.run does, one call less).
        self._run: Callable[[Job], Finished] | None = (
            functools.partial(_evaluate_job, inner.evaluator) if isinstance(inner, LocalExecutor) else None
        )
        self._events: list[tuple[float, int, Finished]] = []

    def submit(self, job: Job) -> None:
        # Straight through, no copies: this runs once per trial of thousands of searches. The inner executor's
        # slot is 0 (the loop knows each trial's simulated worker from its own record).
        if self._run is not None:  # an in-process executor: run the job directly
            finished = self._run(job)
        else:
            self.inner.submit(job if job.slot == 0 else Job(job.key, job.request, 0, job.attempt, job.clock))
            finished = self.inner.wait()
        if finished.error is not None:
            raise finished.error
        end = job.clock + (finished.result.cost if finished.result is not None else 0.0)
        heapq.heappush(self._events, (end, job.key, finished))

    def wait(self) -> Finished:
        if not self._events:
            raise RuntimeError("wait() with no job submitted")
        return heapq.heappop(self._events)[2]

    def close(self) -> None:
        self._events.clear()
        self.inner.close()


# --- the registry --------------------------------------------------------------------------------------------------


def _local(evaluator: Evaluator, workers: int, options: dict[str, Any]) -> Executor:
    return LocalExecutor(evaluator)


def _process(evaluator: Evaluator, workers: int, options: dict[str, Any]) -> Executor:
    return ProcessExecutor(evaluator, workers, threads_per_worker=options.get("threads_per_worker"))


def _ray(evaluator: Evaluator, workers: int, options: dict[str, Any]) -> Executor:
    return RayExecutor(evaluator, workers, address=options.get("address"),
                       cpus_per_trial=options.get("cpus_per_trial", 1.0),
                       gpus_per_trial=options.get("gpus_per_trial", 0.0))  # fmt: skip


def _simulated(evaluator: Evaluator, workers: int, options: dict[str, Any]) -> Executor:
    return SimulatedClockExecutor(LocalExecutor(evaluator), workers)


EXECUTORS: Mapping[str, Callable[[Evaluator, int, dict[str, Any]], Executor]] = MappingProxyType({
    "local": _local,  # in this process, one job at a time
    "process": _process,  # spawned worker processes, one job each
    "ray": _ray,  # Ray tasks (optional dependency), locally or on a cluster
    "simulated": _simulated,  # K simulated workers on the study's clock, lookups run in this process
})  # fmt: skip
"""Every executor by name: ``name -> factory(evaluator, workers, options)``."""
PLACES = ("local", "process", "ray")
"""The executors that say where trials run in real time (``nasforge search --executor``)."""


def create_executor(
    name: str,
    evaluator: Evaluator,
    *,
    workers: int = 1,
    address: str | None = None,
    cpus_per_trial: float = 1.0,
    gpus_per_trial: float = 0.0,
    threads_per_worker: int | None = None,
) -> Executor:
    """The executor ``name`` (a key of :data:`EXECUTORS`) running ``workers`` evaluations at once (each executor
    checks its own ``workers``)."""
    factory = EXECUTORS.get(name)
    if factory is None:
        raise ConfigError(f"unknown executor {name!r}; known executors: {', '.join(EXECUTORS)}")
    if address is not None and name != "ray":
        raise ConfigError(f"address joins a Ray cluster and needs the ray executor, not {name}")
    options = {"address": address, "cpus_per_trial": cpus_per_trial, "gpus_per_trial": gpus_per_trial,
               "threads_per_worker": threads_per_worker}  # fmt: skip
    return factory(evaluator, workers, options)
