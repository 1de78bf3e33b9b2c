"""All analyses of one plan, as the report and `allocator sweep` run them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..scenario import Scenario
from .frontier import budget_frontier
from .guideline import guideline_price
from .tornado import tornado
from .uncertainty import monte_carlo

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


def line_ranges(sc: Scenario, default: float) -> tuple[np.ndarray, np.ndarray]:
    """Each line's plausible response factors: its low/high (a fit's bootstrap), else
    1 +- its spread, else 1 +- `default`."""
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
                 progress: Callable[[str, int, int], None] | None = None) -> dict:
    """Run the chosen analyses on a solved plan; `progress(kind, done, total)` reports."""
    o = options or SweepOptions()
    p = plan.solution.problem or plan.problem
    base_p = plan.problem
    out: dict = {}

    def tick(kind: str, total: int):
        return (lambda done: progress(kind, done, total)) if progress else None

    if "frontier" in kinds:
        out["frontier"] = budget_frontier(base_p, low=o.low, high=o.high, points=o.points,
                                          progress=tick("frontier", o.points + 1))
    if "guideline" in kinds:
        if o.stage in p.stages:
            band = sc.guideline_bands().get(o.stage, (0.7, 0.8))
            out["guideline"] = guideline_price(p, stage=o.stage, band=band,
                                               progress=tick("guideline", 21))
        else:
            out["guideline"] = None
    if "tornado" in kinds:
        out["tornado"] = tornado(p, plan.solution, delta=o.delta,
                                 progress=tick("tornado", 2 * p.n))
    if "uncertainty" in kinds:
        out["uncertainty"] = monte_carlo(p, plan.solution.x, *line_ranges(sc, o.spread),
                                         draws=o.draws, seed=o.seed,
                                         kpis={s: st.kpi for s, st in sc.stages.items()})
    return out
