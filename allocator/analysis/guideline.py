"""Guideline price: what the prospecting (awareness) share rule costs or gains."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import InfeasibleError
from ..problem import Problem, Row
from ..solve import Solution, solve

__all__ = ["GuidelinePrice", "guideline_price"]


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


def guideline_price(p: Problem, *, stage: str = "awareness", band: tuple[float, float] = (0.7, 0.8),
                    shares: list[float] | None = None, tol: float = 1e-3,
                    progress: Callable[[int], None] | None = None) -> GuidelinePrice:
    """The objective with the stage's share fixed at each point of `shares`; the free
    optimum (no band on the stage) and the optimum inside the band (hard)."""
    own = {r.name for r in p.rows if r.name.startswith(f"guideline share[stage={stage}]")
           or (r.kind == "share" and r.name.startswith(f"share[stage={stage}]"))}
    free_p = p.without_rows(own)
    free = solve(free_p, tol=tol, diagnose=False, prices=False)
    total = max(float(free.x.sum()), 1e-12)
    free_share = float(free.x @ p.mask(stage)) / total
    banded_p = free_p.with_rows([_share_row(p, stage, ">=", band[0], "band.min"),
                                 _share_row(p, stage, "<=", band[1], "band.max")])
    banded = _try(banded_p, tol, free)
    if shares is None:  # the articles' range (50-95 %), widened to show the band's sides
        lo = max(0.02, min(0.5, band[0] - 0.2))
        hi = min(0.98, max(0.95, band[1] + 0.15))
        shares = list(np.round(np.linspace(lo, hi, 19), 4))
    shares = sorted(set(shares) | set(band))
    rows, warm = [], free
    for k, share in enumerate(shares):
        sol = _try(free_p.with_rows([_share_row(p, stage, "==", share, "fixed share")]), tol,
                   warm)
        rows.append({"share": share, "objective": np.nan if sol is None else sol.objective,
                     "gap": np.nan if sol is None else sol.gap,
                     "in_band": band[0] - 1e-9 <= share <= band[1] + 1e-9})
        warm = sol or warm
        if progress:
            progress(k + 1)
    return GuidelinePrice(pd.DataFrame(rows), stage, band, free_share, free.objective,
                          np.nan if banded is None else banded.objective, p.currency, p.goal)


def _try(p: Problem, tol: float, warm: Solution | None) -> Solution | None:
    try:
        return solve(p, tol=tol, warm=warm, diagnose=False, prices=False)
    except InfeasibleError:
        return None
