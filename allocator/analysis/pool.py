"""Spread independent chains of solves over the machine's cores.

The numeric core is pure (Problem in, Solution out), so a sweep splits into chunks that run
in worker processes; each chunk warm-starts its own solves in order. Small sweeps, or a
machine with one core, run in this process.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

__all__ = ["map_chunks"]


def _workers() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not on Linux
        return max(1, os.cpu_count() or 1)


def map_chunks(fn: Callable[..., list], items: Sequence, *args: Any, chunk: int = 6,
               parallel: bool = True, progress: Callable[[int], None] | None = None) -> list:
    """fn(items[a:b], *args) -> list of results, over chunks of `chunk` items; the results
    come back in order. `fn` must be a module-level function (it is pickled). `parallel`
    False keeps it in this process (solves so fast that starting workers would cost more)."""
    chunks = [list(items[k:k + chunk]) for k in range(0, len(items), chunk)]
    workers = min(_workers(), len(chunks)) if parallel else 1
    out: list = []
    if workers <= 1 or len(items) <= chunk:
        for c in chunks:
            out.extend(fn(c, *args))
            if progress:
                progress(len(out))
        return out
    # spawn, not fork: a forked child can inherit a solver thread's held lock and hang
    context = multiprocessing.get_context("spawn")
    try:
        with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
            futures = [pool.submit(fn, c, *args) for c in chunks]
            for f in futures:
                out.extend(f.result())
                if progress:
                    progress(len(out))
    except BrokenProcessPool:  # workers could not start here (e.g. a __main__ from stdin)
        out = []
        for c in chunks:
            out.extend(fn(c, *args))
            if progress:
                progress(len(out))
    return out
