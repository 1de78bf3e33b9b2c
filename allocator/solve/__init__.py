"""Solvers: Problem -> Solution with a certificate of how close to optimal it is.

`solve(problem)` picks the method: exact water-filling for concave curves under a budget
and per-line bounds; otherwise the MILP over piecewise-linear curves, polished on the exact
curves, with breakpoints refined until the certified gap is under `tol`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import replace

import numpy as np

from ..errors import InfeasibleError, SolverError
from ..problem import Problem, violations
from .diagnose import conflict, explain
from .milp import available_backends, solve_milp
from .polish import polish
from .prices import shadow_prices
from .pwl import adapt, initial_breakpoints, refine, segments
from .result import Solution
from .waterfill import waterfill

__all__ = ["solve", "Solution", "SOLVERS", "available_backends"]

DEFAULT_TOL = 1e-3
INITIAL_SEGMENTS = 12  # per line; refinement adds breakpoints only where the bound needs them


def _snap(p: Problem, x: np.ndarray) -> np.ndarray:
    """Clip to bounds and zero out dust below a cent that rounding left behind."""
    x = np.clip(x, 0.0, p.hi)
    return np.where((x < 1e-6 * np.maximum(p.hi, 1.0)) & (p.lo <= 0), 0.0, x)


def _feasible(p: Problem, x: np.ndarray | None) -> bool:
    return x is not None and not violations(p, x)


def _refine(p: Problem, segs: list, outer, best_x: np.ndarray | None, gap_abs: float) -> bool:
    """Split the segments that keep the bound loose (where the relaxation used its error
    band) and those the best plan sits in; True if anything changed."""
    weight = np.where(p.weight > 0, p.weight, 0.0)
    if p.minimize_spend or not np.any(weight):
        weight = np.ones(p.n)
    loose: dict[int, set[int]] = {}
    share = gap_abs / (4.0 * max(1, p.n))
    for name, t in outer.band_use.items():
        i, k = map(int, name[1:].split("_"))
        if abs(t) * max(weight[i], 1e-12) > share or abs(t) > 1e-6 * abs(segs[i].values[-1]):
            loose.setdefault(i, set()).add(k)
    for i in range(p.n):
        for x in (best_x, outer.x):
            if x is None or x[i] <= 0:
                continue
            k = int(np.clip(np.searchsorted(segs[i].points, x[i]) - 1, 0,
                            len(segs[i].lengths) - 1))
            err = max(segs[i].over[k], segs[i].under[k])
            if err * max(weight[i], 1e-12) > share:
                loose.setdefault(i, set()).add(k)
    for i, ks in loose.items():
        segs[i] = refine(segs[i], p.curve(i), np.array(sorted(ks)))
    return bool(loose)


def _milp(p: Problem, *, tol: float, backend: str | None, time_limit: float,
          warm: Solution | None = None, diagnose: bool = True, prices: bool = True,
          max_rounds: int = 14) -> Solution:
    start = time.perf_counter()
    extras = [(float(p.lo[i]), float(p.threshold[i])) for i in range(p.n)]
    if warm is not None and warm.segments is not None and len(warm.segments) == p.n:
        segs = [adapt(warm.segments[i], p.curve(i), float(p.hi[i]), extras[i],
                      near=float(warm.x[i]), k=INITIAL_SEGMENTS) for i in range(p.n)]
    else:
        segs = [segments(p.curve(i), initial_breakpoints(
            p.curve(i), float(p.hi[i]), k=INITIAL_SEGMENTS, extra=extras[i]))
            for i in range(p.n)]
    best_x, best = None, -math.inf
    bound = math.inf
    notes: list[str] = []

    def consider(x: np.ndarray | None) -> None:
        nonlocal best_x, best
        if x is None:
            return
        x = _snap(p, x)
        if _feasible(p, x):
            val = p.objective(x)
            if val > best:
                best_x, best = x, val

    if p.baseline is not None and _feasible(p, p.baseline):
        consider(p.baseline)  # never return a plan worse than what runs today
        consider(polish(p, p.baseline, p.baseline > 0))
    if warm is not None and len(warm.x) == p.n:  # the last plan, as it is and polished
        consider(warm.x)
        consider(polish(p, warm.x, warm.x > 0))

    rounds = 0
    for rounds in range(1, max_rounds + 1):  # noqa: B007 - rounds is reported
        left = max(1.0, time_limit - (time.perf_counter() - start))
        # the MILP's own proven bound enters the certificate, so it need not be solved
        # tighter than a fraction of the tolerance
        # a known plan lets branch-and-bound prune: the relaxation's optimum is above it
        known = best - 1e-4 * tol * max(abs(best), 1.0) if best_x is not None else None
        outer = solve_milp(p, segs, band=True, backend=backend, time_limit=left, gap=tol / 4,
                           cutoff=known, start=best_x)
        if outer.status == "cutoff":  # nothing above our plan: it is optimal
            bound = min(bound, best)
            break
        if outer.status == "infeasible":
            if not diagnose:
                raise InfeasibleError("no plan satisfies the scenario")
            raise InfeasibleError(explain(p, conflict(p, backend=backend)))
        if outer.status != "optimal":
            raise SolverError(f"the MILP solver returned '{outer.status}' on the relaxation; "
                              "try --solver milp with another backend or a longer time limit")
        bound = min(bound, outer.bound)
        found = best
        consider(outer.x)
        consider(polish(p, outer.x, outer.active))
        if best <= found or bound - best > tol * max(abs(bound), 1.0):
            # the relaxation's plan did not settle it: the chord model's own plan may
            inner = solve_milp(p, segs, band=False, backend=backend, time_limit=left,
                               gap=tol / 4, cutoff=best if best_x is not None else None,
                               start=best_x)
            if inner.x is not None:
                consider(inner.x)
                consider(polish(p, inner.x, inner.active))
        gap_abs = tol * max(abs(bound), 1.0)
        if best_x is not None and bound - best <= gap_abs:
            break
        if time.perf_counter() - start > time_limit:
            notes.append(f"stopped at the time limit of {time_limit:.0f} s")
            break
        if not _refine(p, segs, outer, best_x, gap_abs):
            break
    if best_x is None:
        raise InfeasibleError(
            "no plan found that meets every constraint on the exact curves, although the "
            "piecewise-linear relaxation has one: the scenario is at the edge of feasibility; "
            "loosen the tightest constraint a little")
    sol = Solution(best_x, best, max(bound, best), "milp", time.perf_counter() - start,
                   rounds=rounds, notes=notes, segments=segs)
    if prices:
        sol.shadow_prices = shadow_prices(p, best_x)
    if sol.gap > tol:
        sol.status = "feasible"
        notes.append(f"certified gap {sol.gap:.3%} is above the tolerance {tol:.3%}")
    sol.seconds = time.perf_counter() - start
    return sol


def _waterfill(p: Problem, *, tol: float, backend: str | None, time_limit: float,
               warm: Solution | None = None, diagnose: bool = True,
               prices: bool = True) -> Solution:
    if not p.is_simple:
        raise SolverError("the waterfill solver handles concave curves under a budget and "
                          "per-line bounds only; this scenario needs --solver milp (or auto)")
    sol = waterfill(p)
    sol.x = _snap(p, sol.x)
    # a line held at its ceiling would take more at the common marginal value mu:
    # its price is its own marginal value above mu (KKT), no re-solve needed
    (name, price), = sol.shadow_prices.items()
    mu = p.spend_cost - price if name == "budget.min" else p.spend_cost + price
    with np.errstate(invalid="ignore"):
        marginal = p.weight * p.marginals(sol.x)
    at_cap = (sol.x >= p.hi * (1 - 1e-9)) & np.array(
        [r not in ("budget", "reach") for r in p.hi_reason])
    for i in np.flatnonzero(at_cap & (marginal > mu)):
        sol.shadow_prices[f"line:{p.names[i]}.max"] = float(marginal[i] - mu)
    if p.baseline is not None and _feasible(p, p.baseline) and p.objective(p.baseline) > \
            sol.objective:  # pragma: no cover - the exact optimum cannot lose; kept as a guard
        sol = replace(sol, x=p.baseline, objective=p.objective(p.baseline))
    return sol


SOLVERS: dict[str, Callable[..., Solution]] = {"waterfill": _waterfill, "milp": _milp}


def _fixed(p: Problem, method: str, **kw) -> Solution:
    if method == "auto":
        method = "waterfill" if p.is_simple else "milp"
    if method not in SOLVERS:
        raise SolverError(f"unknown solver '{method}'; choose one of: auto, "
                          f"{', '.join(SOLVERS)}")
    return SOLVERS[method](p, **kw)


def _target_efficiency(p: Problem, method: str, **kw) -> Solution:
    """The largest total spend (up to the budget) whose plan still meets the target."""
    assert p.target is not None
    with_target = p.with_rows([p.target])
    top = p.budget_hi

    def attempt(budget: float) -> Solution | None:
        at_budget = with_target.with_budget(budget, budget)
        try:
            sol = _fixed(at_budget, method, **kw)
        except InfeasibleError:
            return None
        sol.problem = at_budget
        return sol

    best = attempt(top)
    if best is not None:
        best.notes.append(f"the target holds at the full budget of {top:,.0f}")
        return best
    lo_b, hi_b = None, top
    for frac in np.linspace(0.9, 0.0, 10)[:-1]:
        sol = attempt(top * frac)
        if sol is not None:
            lo_b, best = top * frac, sol
            break
        hi_b = top * frac
    if best is None:
        raise InfeasibleError(f"no spend up to {top:,.0f} meets the target "
                              f"({p.target.text}); loosen the target or the constraints")
    while hi_b - lo_b > kw.get("tol", DEFAULT_TOL) * top:
        mid = 0.5 * (lo_b + hi_b)
        sol = attempt(mid)
        if sol is None:
            hi_b = mid
        else:
            lo_b, best = mid, sol
    best.notes.append(f"largest spend meeting the target ({p.target.text}): "
                      f"{lo_b:,.0f} of at most {top:,.0f}")
    return best


def solve(p: Problem, *, method: str = "auto", tol: float = DEFAULT_TOL,
          backend: str | None = None, time_limit: float = 120.0,
          warm: Solution | None = None, diagnose: bool = True,
          prices: bool = True) -> Solution:
    """Solve a problem to a certified optimum (gap <= tol) or raise InfeasibleError.

    `warm`: a solution of a nearby problem (same lines): its refined curves and plan are
    the starting point, which makes sweeps and what-ifs cheap. It never changes the answer.
    `diagnose=False` skips the search for the conflicting constraints of an infeasible
    problem and `prices=False` the shadow prices: sweeps need neither.
    """
    start = time.perf_counter()
    kw = {"tol": tol, "backend": backend, "time_limit": time_limit, "warm": warm,
          "diagnose": diagnose, "prices": prices}
    sol = _target_efficiency(p, method, **kw) if p.target is not None else _fixed(p, method, **kw)
    sol.problem = sol.problem or p
    sol.seconds = time.perf_counter() - start
    return sol
