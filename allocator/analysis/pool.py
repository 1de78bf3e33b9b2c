"""Where independent work runs: in this process, in worker processes, or on dask.distributed.

The numeric core is pure (Problem in, Solution out), so a budget sweep, a variant set or a
Monte Carlo run splits into tasks: a module-level function applied to one chunk of items,
with pure data as its arguments. Chunks are cut from the work alone, never from the number
of workers, and a chunk is computed the same way wherever it runs: every executor gives the
same numbers, to the last bit.

This module alone decides where the tasks run (`executor`, `start`):

- a dask scheduler's address (`--scheduler tcp://host:8786`, or the environment variable
  ALLOCATOR_SCHEDULER), or a scheduler file (`scheduler.json`): that cluster;
- `local`: a dask LocalCluster on this machine, one single-threaded worker per core;
- `processes`: worker processes without dask; `in-process`: this process only;
- unset (`auto`): this process when the work is estimated below `AUTO_MIN_SECONDS` (starting
  workers would cost more than they save) or the machine has one core; worker processes
  up to `AUTO_CLUSTER_SECONDS` (they start faster); a LocalCluster beyond (where dask is
  installed), for large work such as thousands of Monte Carlo draws.

One executor serves a whole command (`with executor(...)`): its workers start once, and
all the command's analyses queue their tasks on it together.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from ..errors import AllocatorError

__all__ = ["SCHEDULER_ENV", "AUTO_MIN_SECONDS", "AUTO_CLUSTER_SECONDS", "executor", "start",
           "map_chunks", "Job", "solve_seconds", "cores", "describe"]

SCHEDULER_ENV = "ALLOCATOR_SCHEDULER"
# measured on a 2-core machine shared with other jobs (load 4): 2 spawned worker processes
# take 5.4-6.3 s to import the solver and close, a 2-worker LocalCluster 8-9 s (3-4 s and
# 4-5 s when the machine is idle). Below AUTO_MIN_SECONDS of solving, workers do not pay
# for themselves; up to AUTO_CLUSTER_SECONDS the cheaper processes do better
AUTO_MIN_SECONDS = 15.0
AUTO_CLUSTER_SECONDS = 120.0
_IN_PROCESS = {"in-process", "inprocess", "sync", "serial", "none", "off"}


def cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not on Linux
        return max(1, os.cpu_count() or 1)


def solve_seconds(p, sol=None) -> float:
    """A guess of one warm-started re-solve's time: the base solve's own, else by kind."""
    if sol is not None and getattr(sol, "seconds", 0) > 0:
        return float(sol.seconds)
    return 0.002 if p.is_simple else 0.3


# --- runners: where a task goes -------------------------------------------------------------


class _Deferred:
    """A task of the in-process runner: computed when its result is first asked for, so
    that several analyses can queue their work first and report progress as it is done."""

    def __init__(self, fn: Callable, args: tuple):
        self.fn, self.args, self.done, self.value = fn, args, False, None

    def result(self):
        if not self.done:
            self.value, self.done = self.fn(*self.args), True
            self.fn = self.args = None
        return self.value


class _InProcess:
    name = "in-process"
    pooled = False

    def submit(self, fn: Callable, *args):
        return _Deferred(fn, args)

    def share(self, obj):
        return obj

    def close(self) -> None:
        pass


class _Processes:
    pooled = True

    def __init__(self, workers: int):
        # spawn, not fork: a forked child can inherit a solver thread's held lock and hang
        self.pool = ProcessPoolExecutor(max_workers=workers,
                                        mp_context=multiprocessing.get_context("spawn"))
        self.name = f"{workers} worker processes"

    def submit(self, fn: Callable, *args):
        return self.pool.submit(fn, *args)

    def share(self, obj):
        return obj

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)


class _Dask:
    pooled = True

    def __init__(self, client, cluster=None, own: bool = True):
        self.client, self.cluster, self.own = client, cluster, own
        self.name = f"dask {getattr(client.scheduler, 'address', client)}"

    @classmethod
    def local(cls, workers: int) -> _Dask:
        from distributed import Client, LocalCluster

        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                               dashboard_address=":0", silence_logs=logging.ERROR)
        return cls(Client(cluster), cluster)

    @classmethod
    def connect(cls, address: str) -> _Dask:
        from distributed import Client

        try:
            if address.endswith(".json") and os.path.isfile(address):
                return cls(Client(scheduler_file=address, timeout="10s"))
            return cls(Client(address, timeout="10s"))
        except (OSError, TimeoutError) as exc:
            raise AllocatorError(f"cannot reach the dask scheduler at {address}: {exc}; "
                                 "start one with `dask scheduler` (and workers with "
                                 f"`dask worker {address}`) or unset {SCHEDULER_ENV}") \
                from None

    def submit(self, fn: Callable, *args):
        return self.client.submit(fn, *args, pure=False)

    def share(self, obj):
        # sent once; the tasks that take it as an argument fetch it on their worker
        return self.client.scatter(obj, hash=False)

    def close(self) -> None:
        if self.own:
            self.client.close()
            if self.cluster is not None:
                self.cluster.close()


def _dask_available() -> bool:
    try:
        import distributed  # noqa: F401
    except ImportError:
        return False
    return True


def _need_dask(what: str) -> None:
    if not _dask_available():
        raise AllocatorError(f"{what} needs dask.distributed: pip install 'allocator[scale]'")


# --- the session: one executor per command --------------------------------------------------


class _Session:
    def __init__(self, spec: Any, hint: float = 0.0):
        self.spec = spec  # "auto", "in-process", "processes", "local", an address, a Client
        self.hint = hint  # the whole command's work in seconds, when a caller knows it
        self._runner = None
        self._in_process = _InProcess()

    @property
    def forced(self) -> bool:
        return self.spec != "auto"

    def runner(self, work: float):
        """The runner for a job of `work` estimated seconds."""
        if self._runner is not None:
            return self._runner if (self.forced or work >= 0.5) else self._in_process
        if not self.forced and (max(work, self.hint) < AUTO_MIN_SECONDS or cores() < 2):
            return self._in_process
        self._runner = self._open(max(work, self.hint))
        return self._runner

    def _open(self, work: float):
        spec, n = self.spec, cores()
        if spec == "in-process":
            return self._in_process
        if spec == "processes":
            return _Processes(n)
        if spec == "local":
            _need_dask("--scheduler local")
            return _Dask.local(n)
        if spec == "auto":
            big = work >= AUTO_CLUSTER_SECONDS and _dask_available()
            return _Dask.local(n) if big else _Processes(n)
        if not isinstance(spec, str):  # a dask Client handed in (tests, notebooks)
            return _Dask(spec, own=False)
        _need_dask(f"the scheduler {spec}")
        return _Dask.connect(spec)

    @property
    def name(self) -> str:
        return self._runner.name if self._runner is not None else "in-process"

    def close(self) -> None:
        if self._runner is not None:
            runner, self._runner = self._runner, None
            runner.close()


_session: ContextVar[_Session | None] = ContextVar("allocator_executor", default=None)


def _spec(scheduler: Any) -> Any:
    if scheduler is None:
        scheduler = os.environ.get(SCHEDULER_ENV, "").strip() or "auto"
    if not isinstance(scheduler, str):
        return scheduler
    low = scheduler.strip().lower()
    if low in _IN_PROCESS:
        return "in-process"
    if low in ("auto", "local", "processes"):
        return low
    return scheduler.strip()


@contextmanager
def executor(scheduler: Any = None, *, work: float | None = None) -> Iterator[_Session]:
    """Where the work inside the block runs: `scheduler` is an address, `local`,
    `processes`, `in-process`, `auto` or a dask Client (default: ALLOCATOR_SCHEDULER, else
    `auto`). `work`: the block's estimated solving in seconds (it lets `auto` open workers
    once for many small jobs). A block inside another without a scheduler of its own uses
    the outer one. Workers the block started are stopped when it ends."""
    outer = _session.get()
    if outer is not None and scheduler is None:
        old = outer.hint
        outer.hint = max(old, work or 0.0)
        try:
            yield outer
        finally:
            outer.hint = old
        return
    session = _Session(_spec(scheduler), work or 0.0)
    token = _session.set(session)
    try:
        with _one_blas_thread():  # this process's solves meanwhile, as the tasks'
            yield session
    finally:
        _session.reset(token)
        session.close()


def describe() -> str:
    """Where work runs now (for messages and benchmarks)."""
    s = _session.get()
    return s.name if s is not None else "in-process"


# --- jobs: chunks of one analysis ----------------------------------------------------------


_pin_lock = threading.Lock()
_pin_count = 0
_pin_limits = None


@contextmanager
def _one_blas_thread() -> Iterator[None]:
    """BLAS on one thread while any holder is inside. The solver's last bits depend on
    BLAS's thread count (measured: 3e-10 apart on d2c_ecommerce) and dask starts its
    workers with one (OPENBLAS_NUM_THREADS=1), so every task, and the main process for
    the length of an executor block, runs with one: the same numbers wherever they run.
    The limit is process-wide, so it is counted: tasks in threads of one process (a
    threaded LocalCluster) overlap, and only the last to leave restores it."""
    global _pin_count, _pin_limits
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - installed with allocator[scale]
        yield
        return
    with _pin_lock:
        if _pin_count == 0:
            _pin_limits = threadpool_limits(1, user_api="blas")
        _pin_count += 1
    try:
        yield
    finally:
        with _pin_lock:
            _pin_count -= 1
            if _pin_count == 0:
                _pin_limits.restore_original_limits()
                _pin_limits = None


def _task(fn: Callable, chunk: list, *args: Any) -> list:
    """One chunk, computed with one BLAS thread wherever it runs (see _one_blas_thread)."""
    with _one_blas_thread():
        return fn(chunk, *args)


_PLAIN = (int, float, str, bool, type(None))


class Job:
    """The chunks of one piece of work, queued on a runner; `result()` waits for them in
    order (calling `progress(items done)`) and returns `finish(results in item order)`."""

    def __init__(self, fn: Callable, chunks: list[list], args: tuple, runner, session,
                 finish: Callable[[list], Any] | None, own: _Session | None):
        self.fn, self.chunks, self.args, self.finish, self.own = fn, chunks, args, finish, own
        # a Problem or Solution goes to the cluster once, not with every chunk (containers
        # travel inside the tasks: dask would scatter a dict's values under its keys)
        shipped = tuple(a if isinstance(a, _PLAIN + (dict, list, tuple, set)) else
                        runner.share(a) for a in args) if runner.pooled and len(chunks) > 1 \
            else args
        self.futures = [runner.submit(_task, fn, c, *shipped) for c in chunks]
        self.runner = runner

    def result(self, progress: Callable[[int], None] | None = None) -> Any:
        out: list = []
        try:
            for chunk, future in zip(self.chunks, self.futures, strict=True):
                try:
                    part = future.result()
                except BrokenProcessPool:  # workers could not start (a __main__ from stdin)
                    part = _task(self.fn, chunk, *self.args)
                out.extend(part)
                if progress:
                    progress(len(out))
        finally:
            self.futures = []
            if self.own is not None:
                self.own.close()
        return self.finish(out) if self.finish else out


def start(fn: Callable[..., list], items: Sequence, *args: Any, chunk: int = 6,
          work: float | None = None, parallel: bool = True,
          finish: Callable[[list], Any] | None = None) -> Job:
    """Queue fn(items[a:b], *args) -> list over chunks of `chunk` items (fn must be a
    module-level function: it is pickled). `work`: the job's estimated seconds.
    `parallel` False keeps it in this process whatever the executor (solves so fast that
    shipping them would cost more)."""
    chunks = [list(items[k:k + chunk]) for k in range(0, len(items), chunk)]
    session = _session.get()
    own = None
    if session is None:  # no executor open: one for this job alone
        session = own = _Session(_spec(None))
    if not parallel or not chunks:
        runner = session._in_process
    else:
        runner = session.runner(work if work is not None else 0.0)
    return Job(fn, chunks, args, runner, session, finish, own)


def map_chunks(fn: Callable[..., list], items: Sequence, *args: Any, chunk: int = 6,
               parallel: bool = True, work: float | None = None,
               progress: Callable[[int], None] | None = None) -> list:
    """fn(items[a:b], *args) -> list of results, over chunks of `chunk` items, in order."""
    return start(fn, items, *args, chunk=chunk, work=work, parallel=parallel).result(progress)
