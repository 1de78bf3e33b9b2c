"""All analyses of one plan, as the report and `allocator sweep` run them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..scenario import Scenario
from .frontier import start_frontier
from .guideline import start_guideline
from .pool import executor, solve_seconds
from .tornado import start_tornado
from .uncertainty import monte_carlo, start_reoptimised

__all__ = ["KINDS", "SweepOptions", "run_analyses", "line_ranges"]

KINDS = ("frontier", "guideline", "tornado", "uncertainty")


@dataclass
class SweepOptions:
    points: int = 21
    low: float = 0.5
    high: float = 2.0
    delta: float = 0.2
    draws: int = 2000
    spread: float = 0.2  # for lines whose curve states none
    seed: int = 0
    stage: str = "awareness"
    reoptimise: bool = False  # uncertainty: re-solve the plan on each draw's curves


def line_ranges(sc: Scenario, default: float) -> tuple[np.ndarray, np.ndarray]:
    """Each line's plausible response factors: its low/high (a fit's bootstrap), else
    1 +- its spread, else 1 +- `default`."""
    if sc.periods is not None:  # one range per line x period, the line's own
        from ..periods import flatten

        sc = flatten(sc)[0]
    lo, hi = [], []
    for line in sc.lines:
        c = line.curve
        if c.low is not None:
            lo.append(c.low)
            hi.append(c.high)
        else:
            spread = default if c.spread is None else c.spread
            lo.append(1.0 - spread)
            hi.append(1.0 + spread)
    return np.array(lo), np.array(hi)


def run_analyses(sc: Scenario, plan, kinds: tuple[str, ...] = KINDS,
                 options: SweepOptions | None = None,
                 progress: Callable[[str, int, int], None] | None = None,
                 scheduler=None) -> dict:
    """Run the chosen analyses on a solved plan; `progress(kind, done, total)` reports.

    Their solves are queued together on one executor (`pool.executor`: `scheduler`, else
    ALLOCATOR_SCHEDULER, else in-process for little work and a LocalCluster for much), so
    the workers start once and stay busy; the results do not depend on where they ran."""
    o = options or SweepOptions()
    p = plan.solution.problem or plan.problem
    base_p = plan.problem
    sol = plan.solution
    out: dict = {}
    kpis = {s: st.kpi for s, st in sc.stages.items()}
    guideline = "guideline" in kinds and o.stage in p.stages
    solves = (("frontier" in kinds) * (o.points + 1) + guideline * 23
              + ("tornado" in kinds) * 4 * (p.n if p.layout is None else len(p.layout.lines))
              + ("uncertainty" in kinds and o.reoptimise) * o.draws)
    with executor(scheduler, work=solves * solve_seconds(p, sol)):
        jobs = {}
        if "frontier" in kinds:
            jobs["frontier"] = start_frontier(base_p, low=o.low, high=o.high, points=o.points,
                                              base=sol)
        if "guideline" in kinds:
            if guideline:
                band = sc.guideline_bands().get(o.stage, (0.7, 0.8))
                jobs["guideline"] = start_guideline(p, stage=o.stage, band=band, base=sol)
            else:
                out["guideline"] = None
        if "tornado" in kinds:
            jobs["tornado"] = start_tornado(p, sol, delta=o.delta)
        if "uncertainty" in kinds:
            low, high = line_ranges(sc, o.spread)
            if o.reoptimise:
                jobs["uncertainty"] = start_reoptimised(p, sol, low, high, draws=o.draws,
                                                        seed=o.seed, kpis=kpis)
            else:
                if progress:
                    progress("uncertainty", 0, 1)
                out["uncertainty"] = monte_carlo(p, sol.x, low, high, draws=o.draws,
                                                 seed=o.seed, kpis=kpis)
                if progress:
                    progress("uncertainty", 1, 1)
        for kind, job in jobs.items():
            total = sum(len(c) for c in job.chunks)
            if progress:  # the kind's step starts when its results are waited for
                progress(kind, 0, total)
            out[kind] = job.result((lambda k, t: lambda done: progress(k, done, t))(kind, total)
                                   if progress else None)
    return {k: out[k] for k in kinds if k in out}
