"""Guideline price: what the prospecting (awareness) share rule costs or gains."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import InfeasibleError
from ..problem import Problem, Row
from ..solve import Solution, solve
from .pool import Job, solve_seconds, start

__all__ = ["GuidelinePrice", "guideline_price", "start_guideline"]

CHAIN = 6  # items per warm-started chain: fixed, so that chunks never move the numbers


@dataclass
class GuidelinePrice:
    table: pd.DataFrame  # share -> objective with that share fixed, the rest re-optimised
    stage: str
    band: tuple[float, float]
    free_share: float  # the stage's share in the free optimum
    free_objective: float
    banded_objective: float
    currency: str
    goal: str

    @property
    def cost(self) -> float:
        """Objective given up by keeping the stage inside the band (0 if the free optimum
        lies inside it)."""
        return max(0.0, self.free_objective - self.banded_objective)

    @property
    def cost_pct(self) -> float:
        return self.cost / abs(self.free_objective) if self.free_objective else 0.0


def _share_row(p: Problem, stage: str, sense: str, share: float, name: str) -> Row:
    m = p.mask(stage)
    return Row(name, "share", m - share * np.ones(p.n), np.zeros(p.n), sense, 0.0,
               f"{stage} {sense} {share:.0%} of total spend")


def start_guideline(p: Problem, *, stage: str = "awareness",
                    band: tuple[float, float] = (0.7, 0.8), shares: list[float] | None = None,
                    tol: float = 1e-3, base: Solution | None = None) -> Job:
    """Solve the free optimum here, then queue the banded optimum and chains of fixed
    shares on the executor (see `pool`); `.result()` is the GuidelinePrice."""
    own = {r.name for r in p.rows if r.name.startswith(f"guideline share[stage={stage}]")
           or (r.kind == "share" and r.name.startswith(f"share[stage={stage}]"))}
    free_p = p.without_rows(own)
    free = solve(free_p, tol=tol, diagnose=False, prices=False)
    total = max(float(free.x.sum()), 1e-12)
    free_share = float(free.x @ p.mask(stage)) / total
    if shares is None:  # the articles' range (50-95 %), widened to show the band's sides
        lo = max(0.02, min(0.5, band[0] - 0.2))
        hi = min(0.98, max(0.95, band[1] + 0.15))
        shares = list(np.round(np.linspace(lo, hi, 19), 4))
    shares = sorted(set(shares) | set(band))
    items = [("band", band)] + [("share", s) for s in shares]

    def finish(found: list) -> GuidelinePrice:
        (_, banded), *solved = found
        rows = [{"share": share, "objective": np.nan if sol is None else sol[0],
                 "gap": np.nan if sol is None else sol[1],
                 "in_band": band[0] - 1e-9 <= share <= band[1] + 1e-9}
                for share, sol in solved]
        return GuidelinePrice(pd.DataFrame(rows), stage, band, free_share, free.objective,
                              np.nan if banded is None else banded[0], p.currency, p.goal)

    return start(_chain, items, free_p, stage, free, tol, chunk=CHAIN,
                 parallel=not p.is_simple, work=len(items) * solve_seconds(p, base or free),
                 finish=finish)


def guideline_price(p: Problem, *, stage: str = "awareness", band: tuple[float, float] = (0.7, 0.8),
                    shares: list[float] | None = None, tol: float = 1e-3,
                    base: Solution | None = None,
                    progress: Callable[[int], None] | None = None) -> GuidelinePrice:
    """The objective with the stage's share fixed at each point of `shares`; the free
    optimum (no band on the stage) and the optimum inside the band (hard)."""
    return start_guideline(p, stage=stage, band=band, shares=shares, tol=tol,
                           base=base).result(progress)


def _chain(items: list[tuple], free_p: Problem, stage: str, free: Solution, tol: float
           ) -> list[tuple]:
    """Solve a run of items in order: the band, or a fixed share warm-started from the
    share before it (the chain starts from the free optimum). -> (item, (objective, gap))
    with None where infeasible."""
    out, warm = [], free
    # every line on the stage and a budget that must be spent: the share is 100 % in any
    # plan, so no solve is needed to know that a lower one is infeasible
    whole = bool(np.all(free_p.mask(stage) > 0)) and free_p.budget_lo > 0
    for kind, what in items:
        if whole and (what[1] if kind == "band" else what) < 1.0:
            sol = None
        elif kind == "band":
            rows = [_share_row(free_p, stage, ">=", what[0], "band.min"),
                    _share_row(free_p, stage, "<=", what[1], "band.max")]
            sol = _try(free_p.with_rows(rows), tol, free)
        else:
            sol = _try(free_p.with_rows([_share_row(free_p, stage, "==", what, "fixed share")]),
                       tol, warm)
            warm = sol or warm
        out.append((what, None if sol is None else (sol.objective, sol.gap)))
    return out


def _try(p: Problem, tol: float, warm: Solution | None) -> Solution | None:
    try:
        return solve(p, tol=tol, warm=warm, diagnose=False, prices=False)
    except InfeasibleError:
        return None
