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
from .pool import Job, solve_seconds, start

__all__ = ["Tornado", "tornado", "start_tornado"]

CHUNK = 4  # (line, factor) items per task, two solves each


@dataclass
class Tornado:
    table: pd.DataFrame  # line, factor, low/high objective re-optimised and held fixed
    base_objective: float
    delta: float
    currency: str
    goal: str


def _rows(items: list[tuple[int, str]], p: Problem, base: Solution, delta: float,
          tol: float) -> list[dict]:
    rows = []
    for i, factor in items:
        curve = p.curve(i)
        if factor == "response":
            variants = {"low": scaled(curve, outcome=1 - delta),
                        "high": scaled(curve, outcome=1 + delta)}
        else:  # a dearer unit cost is the bad side: 'low' is +delta cost
            variants = {"low": scaled(curve, cost=1 + delta),
                        "high": scaled(curve, cost=1 - delta)}
        row = {"line": p.names[i], "stage": p.stages[i], "platform": p.platforms[i],
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
    return rows


def start_tornado(p: Problem, base: Solution, *, delta: float = 0.2,
                  tol: float = 1e-3) -> Job:
    """Queue the tornado's solves on the executor (see `pool`); `.result()` is the Tornado."""
    items = [(i, factor) for i in range(p.n) for factor in ("response", "unit cost")]
    return start(_rows, items, p, base, delta, tol, chunk=CHUNK, parallel=not p.is_simple,
                 work=2 * len(items) * solve_seconds(p, base),
                 finish=lambda rows: _tornado(rows, base, delta, p))


def tornado(p: Problem, base: Solution, *, delta: float = 0.2, tol: float = 1e-3,
            progress: Callable[[int], None] | None = None) -> Tornado:
    """Each line's response and unit cost moved by +-delta: re-optimised (warm-started from
    the base plan) and held fixed; solves spread over the executor's workers."""
    return start_tornado(p, base, delta=delta, tol=tol).result(progress)


def _tornado(rows: list[dict], base: Solution, delta: float, p: Problem) -> Tornado:
    table = pd.DataFrame(rows)
    table["swing"] = (table["high_reoptimised"] - table["low_reoptimised"]).abs()
    table = table.sort_values("swing", ascending=False, ignore_index=True)
    return Tornado(table, base.objective, delta, p.currency, p.goal)
