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


def _groups(p: Problem) -> list[tuple[str, list[int]]]:
    """The lines a tornado moves: each line, or over periods each line in all its periods."""
    lay = p.layout
    if lay is None:
        return [(name, [i]) for i, name in enumerate(p.names)]
    return [(name, [int(i) for i in np.flatnonzero(lay.line_of == k)])
            for k, name in enumerate(lay.lines)]


def _rows(items: list[tuple[str, list[int], str]], p: Problem, base: Solution, delta: float,
          tol: float) -> list[dict]:
    rows = []
    for name, group, factor in items:
        if factor == "response":
            sides = {"low": {"outcome": 1 - delta}, "high": {"outcome": 1 + delta}}
        else:  # a dearer unit cost is the bad side: 'low' is +delta cost
            sides = {"low": {"cost": 1 + delta}, "high": {"cost": 1 - delta}}
        i = group[0]
        row = {"line": name, "stage": p.stages[i], "platform": p.platforms[i],
               "factor": factor}
        for side, change in sides.items():
            q = p.with_curves({j: scaled(p.curve(j), **change) for j in group})
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
    items = [(name, group, factor) for name, group in _groups(p)
             for factor in ("response", "unit cost")]
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
