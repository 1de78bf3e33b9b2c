"""Tornado: each line's response scale and unit cost moved by +-delta; the plan re-optimised
and also held fixed; ranked by impact on the objective."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..curves import scaled
from ..errors import InfeasibleError
from ..problem import Problem
from ..solve import Solution, solve

__all__ = ["Tornado", "tornado"]


@dataclass
class Tornado:
    table: pd.DataFrame  # line, factor, low/high objective re-optimised and held fixed
    base_objective: float
    delta: float
    currency: str
    goal: str


def tornado(p: Problem, base: Solution, *, delta: float = 0.2, tol: float = 1e-3,
            progress: Callable[[int], None] | None = None) -> Tornado:
    rows = []
    done = 0
    for i, name in enumerate(p.names):
        curve = p.curve(i)
        for factor, variants in (
            ("response", {"low": scaled(curve, outcome=1 - delta),
                          "high": scaled(curve, outcome=1 + delta)}),
            # a dearer unit cost is the bad side: 'low' is +delta cost
            ("unit cost", {"low": scaled(curve, cost=1 + delta),
                           "high": scaled(curve, cost=1 - delta)}),
        ):
            row = {"line": name, "stage": p.stages[i], "platform": p.platforms[i],
                   "factor": factor}
            for side, moved in variants.items():
                q = p.with_curve(i, moved)
                row[f"{side}_fixed"] = q.objective(base.x)
                try:
                    row[f"{side}_reoptimised"] = solve(q, tol=tol, warm=base, diagnose=False,
                                                       prices=False).objective
                except InfeasibleError:
                    row[f"{side}_reoptimised"] = np.nan
            rows.append(row)
            done += 1
            if progress:
                progress(done)
    table = pd.DataFrame(rows)
    table["swing"] = (table["high_reoptimised"] - table["low_reoptimised"]).abs()
    table = table.sort_values("swing", ascending=False, ignore_index=True)
    return Tornado(table, base.objective, delta, p.currency, p.goal)
