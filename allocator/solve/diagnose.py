"""Infeasibility diagnosis: the smallest set of constraints that cannot hold together.

A deletion filter over named constraints (rows, budget, line bounds, thresholds, counts):
drop one; if what is left is still infeasible the dropped one is not needed to explain the
conflict, otherwise it is part of it. Feasibility is checked on the relaxation (chords
widened by their error bands), so 'infeasible' here is a proof, not an approximation.
"""

from __future__ import annotations

import math

import numpy as np

from ..problem import REACH_LIMIT, Problem
from .milp import solve_milp
from .pwl import Segments, initial_breakpoints, segments

__all__ = ["conflict", "explain"]


def _units(p: Problem) -> list[tuple[str, str]]:
    """(name, words) of every constraint that could be dropped to explain a conflict."""
    out = [(r.name, r.text) for r in p.rows if not r.penalty]
    out += [(lim.name, lim.text) for lim in p.active_limits]
    for i, name in enumerate(p.names):
        if p.lo[i] > 0:
            out.append((f"line:{name}.min", f"line {name} spend >= {p.lo[i]:,.0f}"))
        if p.threshold[i] > 0:
            out.append((f"line:{name}.min_if_active",
                        f"line {name} spend is 0 or >= {p.threshold[i]:,.0f} (min_if_active)"))
        after = p.layout is not None and not p.layout.in_plan()[i]
        if p.hi_reason[i] not in ("budget", "reach") and not after:  # after the plan: no spend
            why = "" if p.hi_reason[i] == "max" else f" ({p.hi_reason[i]})"
            out.append((f"line:{name}.max", f"line {name} spend <= {p.hi[i]:,.0f}{why}"))
    return out


def _wide_segments(p: Problem) -> list[Segments]:
    """Curves far beyond the budget, so that dropping a line's max, or the budget, really
    frees the line (the model keeps each ceiling as a row until its unit is dropped)."""
    top = 10.0 * max(p.budget_hi if math.isfinite(p.budget_hi) else 0.0, float(np.max(p.hi)))
    top = min(top, REACH_LIMIT)
    return [segments(p.curve(i), initial_breakpoints(p.curve(i), max(p.hi[i], top), k=16,
                                                     extra=(float(p.lo[i]), p.threshold[i])))
            for i in range(p.n)]


def conflict(p: Problem, *, backend: str | None = None) -> list[tuple[str, str]]:
    """A minimal set of constraints that has no plan (empty if the relaxation is feasible)."""
    segs = _wide_segments(p)
    units = _units(p)
    names = [u[0] for u in units]

    def feasible(keep: set[str]) -> bool:
        drop = frozenset(n for n in names if n not in keep)
        res = solve_milp(p, segs, band=True, feasibility=True, drop=drop, backend=backend,
                         time_limit=20)
        return res.status == "optimal"

    keep = set(names)
    if feasible(keep):
        return []
    for name in names:
        keep.discard(name)
        if feasible(keep):
            keep.add(name)  # needed for the conflict
    return [u for u in units if u[0] in keep]


def explain(p: Problem, found: list[tuple[str, str]]) -> str:
    if not found:
        return ("no plan satisfies the scenario on the exact curves, although the "
                "piecewise-linear relaxation has one; loosen the tightest constraints")
    lines = "\n".join(f"  - {text}  [{name}]" for name, text in found)
    budget = ""
    if math.isfinite(p.budget_hi):
        budget = f" (budget {p.currency} {p.budget_hi:,.0f})"
    return (f"no plan satisfies the scenario{budget}. These constraints cannot all hold; "
            f"loosen or drop one of them:\n{lines}")
