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
from ..problem import REACH_LIMIT, Problem, violations
from .decompose import decompose, recommended
from .diagnose import conflict, explain
from .milp import available_backends, solve_milp
from .polish import polish
from .prices import shadow_prices
from .pwl import adapt, initial_breakpoints, refine, segments
from .result import Solution
from .waterfill import waterfill

__all__ = ["solve", "Solution", "SOLVERS", "available_backends"]

DEFAULT_TOL = 1e-3
RELAX_FIRST = 200  # curves over periods from which the MILP starts from its LP relaxation
INITIAL_SEGMENTS = 12  # per line; refinement adds breakpoints only where the bound needs them


def _snap(p: Problem, x: np.ndarray) -> np.ndarray:
    """Clip to bounds and zero out dust below a cent that rounding left behind."""
    x = np.clip(x, 0.0, p.hi)
    return np.where((x < 1e-6 * np.maximum(p.hi, 1.0)) & (p.lo <= 0), 0.0, x)


def _feasible(p: Problem, x: np.ndarray | None) -> bool:
    return x is not None and not violations(p, x)


def _refine(p: Problem, segs: list, outer, best_x: np.ndarray | None, gap_abs: float,
            plans: tuple = ()) -> bool:
    """Split the segments that keep the bound loose (where the relaxation used its error
    band) and those the best plan sits in; True if anything changed.

    `plans`: the MILP's plans that break a row on the exact curves (the relaxation's, the
    chord model's): the segments they sit in on a line whose outcome enters a row are split
    wherever the chord is off the curve, whatever the line's weight in the objective (a line
    without value, in a CPA or outcome row, is never split by the objective's measure, and
    its chord error alone can keep every plan of the model off the exact curves)."""
    weight = np.where(p.curve_weight > 0, p.curve_weight, 0.0)
    if p.minimize_spend or not np.any(weight):
        weight = np.ones(p.n)
    loose: dict[int, set[int]] = {}
    share = gap_abs / (4.0 * max(1, p.n))
    for name, t in outer.band_use.items():
        i, k = map(int, name[1:].split("_"))
        if abs(t) * max(weight[i], 1e-12) > share or abs(t) > 1e-6 * abs(segs[i].values[-1]):
            loose.setdefault(i, set()).add(k)
    seen = [p.effective(x) for x in (best_x, outer.x) if x is not None]
    for i in range(p.n):
        for x in seen:
            if x[i] <= 0:
                continue
            k = int(np.clip(np.searchsorted(segs[i].points, x[i]) - 1, 0,
                            len(segs[i].lengths) - 1))
            err = max(segs[i].over[k], segs[i].under[k])
            if err * max(weight[i], 1e-12) > share:
                loose.setdefault(i, set()).add(k)
    in_rows = np.zeros(p.n, dtype=bool)
    for r in p.rows:
        if not r.penalty:
            in_rows |= (r.b != 0) if p.land is None else (abs(p.land).T @ (r.b != 0)) > 0
    for x in plans:
        if x is None or not violations(p, _snap(p, x)):
            continue
        e = p.effective(x)  # the curves' own spend (carried over)
        for i in np.flatnonzero(in_rows & (e > 0)):
            k = int(np.clip(np.searchsorted(segs[i].points, e[i]) - 1, 0,
                            len(segs[i].lengths) - 1))
            err = max(segs[i].over[k], segs[i].under[k])
            if err > 1e-9 * max(abs(float(segs[i].values[-1])), 1e-300):
                loose.setdefault(i, set()).add(k)
    changed = False
    for i, ks in loose.items():
        before = len(segs[i].points)
        segs[i] = refine(segs[i], p.curve(i), np.array(sorted(ks)))
        # a segment already at the least length is not split (refine): nothing new to solve
        changed |= len(segs[i].points) != before
    return changed


def _milp(p: Problem, *, tol: float, backend: str | None, time_limit: float,
          warm: Solution | None = None, diagnose: bool = True, prices: bool = True,
          max_rounds: int = 14) -> Solution:
    start = time.perf_counter()
    extras = [(float(p.lo[i]), float(p.threshold[i])) for i in range(p.n)]
    top = p.curve_hi  # each curve's range: its spend ceiling, or its carried-over spend's
    if warm is not None and warm.segments is not None and len(warm.segments) == p.n:
        near = p.effective(warm.x)
        segs = [adapt(warm.segments[i], p.curve(i), float(top[i]), extras[i],
                      near=float(near[i]), k=INITIAL_SEGMENTS) for i in range(p.n)]
    else:
        segs = [segments(p.curve(i), initial_breakpoints(
            p.curve(i), float(top[i]), k=INITIAL_SEGMENTS, extra=extras[i]))
            for i in range(p.n)]
    best_x, best = None, -math.inf
    bound = math.inf
    notes: list[str] = []

    def consider(x: np.ndarray | None) -> None:
        nonlocal best_x, best
        if x is None:
            return
        # snapped (dust zeroed) and as clipped only: the dust may be the plan (curves whose
        # whole range lies below a cent, or that rise vertically from 0: 202359, where
        # 2.8e-6 of spend earns 80 outcome); the snapped one where they are worth the same
        for y in (_snap(p, x), np.clip(x, 0.0, p.hi)):
            if _feasible(p, y):
                val = p.objective(y)
                if val > best + 1e-12 * max(abs(best), 1.0) if best_x is not None \
                        else val > best:
                    best_x, best = y, val

    if p.baseline is not None and _feasible(p, p.baseline):
        consider(p.baseline)  # never return a plan worse than what runs today
        consider(polish(p, p.baseline, p.baseline > 0, deadline=start + time_limit))
    if warm is not None and len(warm.x) == p.n:  # the last plan, as it is and polished
        consider(warm.x)
        consider(polish(p, warm.x, warm.x > 0, deadline=start + time_limit))

    def left() -> float:  # each MILP solve gets what is left of the limit when it starts
        return max(1.0, time_limit - (time.perf_counter() - start))

    def late() -> bool:
        return time.perf_counter() - start > time_limit

    def last_resort(chords: bool = True) -> None:
        """No plan yet: the chord model's plan (unless `chords`: the loop just solved it),
        and then the plan with every curve on one of its breakpoints (where the chord is the
        curve, so its plans hold on the exact curves when the chords' do not: 209960, a curve
        rising by 1e9 within 300 of spend). Not past the time limit."""
        for grid in ((False, True) if chords else (True,)):
            if best_x is not None or late():
                return
            r = solve_milp(p, segs, band=False, grid=grid, backend=backend,
                           time_limit=left())
            if r.x is not None:
                consider(r.x)
                consider(polish(p, r.x, r.active, deadline=start + time_limit))

    proven = math.inf  # a bound known before the MILP (its LP relaxation's)
    if p.carry is not None and p.n >= RELAX_FIRST:
        # many line x periods: the MILP may not end in time. Its LP relaxation (segments in
        # any order, thresholds on average) bounds every plan in a few seconds, and its plan,
        # off where it sits below a threshold and polished, is a first incumbent
        lp = solve_milp(p, segs, band=True, backend=backend, time_limit=left(), relaxed=True)
        if lp.status == "optimal" and lp.x is not None:
            proven = bound = lp.value
            x = np.where(lp.x < p.threshold * (1 - 1e-9), 0.0, lp.x)
            consider(x)
            consider(polish(p, x, x > 1e-9 * np.maximum(p.hi, 1.0),
                            deadline=start + time_limit))
            if best_x is not None and proven < best - 1e-9 * max(abs(best), 1.0):
                proven = bound = math.inf  # the LP's optimum below a plan: not trusted

    rounds, round_start, pieces = 0, start, sum(len(s.lengths) for s in segs)
    for rounds in range(1, max_rounds + 1):  # noqa: B007 - rounds is reported
        # the MILP's own proven bound enters the certificate, so it need not be solved
        # tighter than a fraction of the tolerance
        # a known plan lets branch-and-bound prune: the relaxation's optimum is above it
        known = best - 1e-4 * tol * max(abs(best), 1.0) if best_x is not None else None
        outer = solve_milp(p, segs, band=True, backend=backend, time_limit=left(), gap=tol / 4,
                           cutoff=known, start=best_x)
        if outer.status == "cutoff":  # nothing above our plan: it is optimal
            bound = min(bound, best)
            break
        if outer.status == "infeasible" and best_x is None:
            # the relaxation holds every plan; a plan of the chord model proves it wrong
            inner = solve_milp(p, segs, band=False, backend=backend, time_limit=left())
            if inner.x is not None:
                consider(inner.x)
                consider(polish(p, inner.x, inner.active, deadline=start + time_limit))
        if outer.status == "infeasible" and best_x is not None:
            notes.append("the relaxation that proves the bound failed numerically on this "
                         "scenario: the plan is the best found"
                         + (", with the LP relaxation's bound" if math.isfinite(proven)
                            else ", without a proven bound"))
            bound = proven
            break
        if outer.status == "infeasible":
            if not diagnose:
                raise InfeasibleError("no plan satisfies the scenario")
            raise InfeasibleError(explain(p, conflict(p, backend=backend)))
        if outer.status != "optimal" and best_x is not None:
            notes.append(f"the MILP solver returned '{outer.status}' on the relaxation that "
                         "proves the bound: the plan is the best found"
                         + (", with the LP relaxation's bound" if math.isfinite(proven)
                            else ", without a proven bound"))
            bound = proven
            break
        if outer.status != "optimal":
            # no bound; a plan may still come from the chord model or the breakpoints' (200283:
            # HiGHS 'failed' on the first relaxation of a scenario with feasible plans)
            last_resort()
            if best_x is None:
                raise SolverError(f"the MILP solver returned '{outer.status}' on the "
                                  "relaxation; try --solver milp with another backend or a "
                                  "longer time limit")
            notes.append(f"the MILP solver returned '{outer.status}' on the relaxation that "
                         "proves the bound: the plan is the best found, without a proven bound")
            bound = math.inf
            break
        bound = min(bound, outer.bound)
        found = best
        consider(outer.x)
        consider(polish(p, outer.x, outer.active, deadline=start + time_limit))
        if best > bound + tol * max(abs(bound), 1.0):
            # a plan on the exact curves above a proven optimum of the relaxation: the MILP
            # solver's claim was wrong on this model (HiGHS on badly scaled ones): no bound,
            # rather than a 'certificate' lifted to the plan
            notes.append("the MILP solver's proven optimum of the relaxation lies below a plan "
                         "found (numerically difficult scenario): the plan is the best found, "
                         "without a proven bound")
            bound = math.inf
            break
        inner = None
        if (best <= found or bound - best > tol * max(abs(bound), 1.0)) and \
                not (late() and best_x is not None):
            # the relaxation's plan did not settle it: the chord model's own plan may
            inner = solve_milp(p, segs, band=False, backend=backend, time_limit=left(),
                               gap=tol / 4, cutoff=best if best_x is not None else None,
                               start=best_x)
            if inner.x is not None:
                consider(inner.x)
                consider(polish(p, inner.x, inner.active, deadline=start + time_limit))
        gap_abs = tol * max(abs(bound), 1.0)
        if best_x is not None and bound - best <= gap_abs:
            break
        if late():
            notes.append(f"stopped at the time limit of {time_limit:.0f} s")
            break
        if not _refine(p, segs, outer, best_x, gap_abs,
                       plans=(outer.x, inner.x if inner is not None else None)):
            break
        # building a model costs in proportion to its pieces, and only the solve itself
        # keeps to the limit: a round that would not fit what is left is not started
        now, grown = time.perf_counter(), sum(len(s.lengths) for s in segs)
        if best_x is not None and \
                (now - round_start) * grown / max(pieces, 1) > time_limit - (now - start):
            notes.append(f"stopped before the time limit of {time_limit:.0f} s: the next "
                         "refinement would not fit in it")
            break
        round_start, pieces = now, grown
    if best_x is None:
        last_resort(chords=False)  # the loop solved the chord model in each round
    if best_x is None:
        raise InfeasibleError(
            "no plan found that meets every constraint on the exact curves, although the "
            "piecewise-linear relaxation has one: the scenario is at the edge of feasibility; "
            "loosen the tightest constraint a little")
    at = p.effective(best_x)
    if math.isfinite(bound) and not all(segs[i].covers(p.curve(i), float(at[i]))
                                        for i in range(p.n)):
        notes.append("the error band of a piecewise-linear curve failed its spot check at "
                     "the plan: the bound is not proven")
        bound = math.inf
    sol = Solution(best_x, best, max(bound, best), "milp", time.perf_counter() - start,
                   rounds=rounds, notes=notes, segments=segs)
    if prices:
        sol.shadow_prices = shadow_prices(p, best_x)
    if sol.gap > tol:
        sol.status = "feasible"
        if math.isfinite(sol.gap):
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
    # dust zeroed where it is worth nothing; kept where it is (a curve vertical at 0:
    # 204210, 0.1 of outcome from dust), and the objective is the returned plan's own
    x = np.clip(sol.x, 0.0, p.hi)
    snapped = _snap(p, x)
    sol.x = snapped if p.objective(snapped) >= p.objective(x) else x
    sol.objective = p.objective(sol.x)
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
    return sol  # (a feasible baseline better than this is kept by _fixed, for every method)


SOLVERS: dict[str, Callable[..., Solution]] = {"waterfill": _waterfill, "milp": _milp,
                                                "decompose": decompose}
_MILP_FALLBACK = 150  # up to this many lines an uncertified decomposition is retried by MILP


def _auto(p: Problem, **kw) -> Solution:
    """Water-filling where it applies; else the decomposition where the Lagrangian bound is
    tight (many lines per coupling row, or a convex problem), the MILP where it is not or
    where the decomposition could not certify its plan (then warm from that plan)."""
    if p.is_simple:
        return _waterfill(p, **kw)
    choice, why = recommended(p)
    if choice == "milp":
        sol = _milp(p, **kw)
        sol.notes.append(f"solver milp: {why}")
        return sol
    try:
        sol = decompose(p, **kw, repair=choice == "decompose")
    except InfeasibleError:
        if p.n > _MILP_FALLBACK:
            raise
        sol = None  # the MILP proves it, or finds the plan, with its own diagnosis
    if sol is not None and (sol.status == "optimal" or p.n > _MILP_FALLBACK):
        sol.notes.append(f"solver decompose: {why}")
        return sol
    milp = _milp(p, **{**kw, "warm": sol or kw.get("warm")})
    milp.notes.append(f"solver milp: the decomposition did not certify its plan ({why})")
    return milp if sol is None or milp.objective >= sol.objective else sol


def _fixed(p: Problem, method: str, **kw) -> Solution:
    if method not in SOLVERS and method != "auto":
        raise SolverError(f"unknown solver '{method}'; choose one of: auto, "
                          f"{', '.join(SOLVERS)}")
    sol = _auto(p, **kw) if method == "auto" else SOLVERS[method](p, **kw)
    if p.baseline is not None and _feasible(p, p.baseline) and \
            p.objective(p.baseline) > sol.objective:
        # never a plan worse than what runs today (a certified plan may sit within its gap)
        sol.x, sol.objective = p.baseline.copy(), p.objective(p.baseline)
        sol.bound = max(sol.bound, sol.objective)
        sol.notes.append("today's spend is at least as good as the plan found: kept")
    return sol


def _target_efficiency(p: Problem, method: str, **kw) -> Solution:
    """The best objective whose plan meets the target, spending at most the budget's max.

    One solve of the problem with the target as one more row and the budget as a ceiling
    (its floor kept when it has one below the max): certified like any other plan.
    """
    assert p.target is not None
    floor = p.budget_lo if p.budget_lo < p.budget_hi else 0.0
    q = p.with_rows([p.target]).with_budget(floor, p.budget_hi)
    try:
        sol = _fixed(q, method, **kw)
    except InfeasibleError as exc:
        raise InfeasibleError(f"no spend up to {p.currency} {p.budget_hi:,.0f} meets the "
                              f"target ({p.target.text}): {exc}") from None
    sol.problem = sol.problem or q
    spent = float(np.sum(sol.x))
    sol.notes.append(f"target efficiency: the best {p.goal} whose {p.target.text} holds, "
                     f"spending at most {p.currency} {p.budget_hi:,.0f}; the plan spends "
                     f"{p.currency} {spent:,.0f}")
    return sol


def _best_share(p: Problem) -> np.ndarray:
    """Per line, an upper bound on what it can add to the objective, w f(x) - c x, over
    its allowed spends (inf where that is unbounded)."""
    open_, w, c = _open(p), p.weight, p.spend_cost
    sat = np.array([p.curve(i).saturation for i in range(p.n)], dtype=float)
    out = np.where(open_, w * sat, w * p.outcomes(p.hi))
    grows = open_ & ~np.isfinite(sat) & (w > 0)
    if c > 0 and grows.any():  # concave without saturation (power, log): w f' = c at best
        with np.errstate(divide="ignore"):
            x = p.bank.marginal_inverse(np.where(w > 0, c / np.where(w > 0, w, 1.0), np.inf))
        best = w * p.outcomes(np.where(np.isfinite(x), x, 0.0)) - c * x
        concave = np.array(p.bank.concave, dtype=bool)
        out = np.where(grows, np.where(concave & np.isfinite(x), best, np.inf), out)
    return np.where(w > 0, out, 0.0)


def _open(p: Problem) -> np.ndarray:
    return np.array([r == "reach" for r in p.hi_reason], dtype=bool)


def _open_ceiling(p: Problem, value: float) -> np.ndarray | None:
    """Per line without a ceiling in the scenario, a spend it cannot exceed in any plan
    worth more than `value` (None where no such bound follows from the objective)."""
    open_ = _open(p)
    if p.minimize_spend:  # objective = -(spend + penalties): a better plan spends less
        return np.where(open_, max(-value, 0.0), p.hi)
    if p.spend_cost <= 0:
        return None
    best = _best_share(p)
    if not np.all(np.isfinite(best)):
        return None
    out = p.hi.copy()
    for i in np.flatnonzero(open_):
        # w_i f_i(x) - c x >= value - (what the other lines can add at most)
        need = value - (float(best.sum()) - best[i])
        curve, w = p.curve(i), p.weight[i]
        if np.isfinite(curve.saturation):
            out[i] = max((w * curve.saturation - need) / p.spend_cost, 0.0)
        else:
            grid = np.geomspace(1.0, REACH_LIMIT, 2000)
            ok = w * curve.value(grid) - p.spend_cost * grid >= need
            out[i] = float(grid[np.flatnonzero(ok)[-1] + 1]) if ok.any() and not ok[-1] \
                else (REACH_LIMIT if ok.any() else 1.0)
    return out


def _with_open_lines(p: Problem, run: Callable[..., Solution], **kw) -> Solution:
    """Solve with the first-guess ceilings of lines the scenario leaves open, then widen
    them until they provably hold every plan that could beat the one found."""
    open_ = _open(p)
    if not open_.any():
        return run(p, **kw)
    q, sol = p, None
    shrink = 2  # rounds that may narrow a far too wide first guess
    start = time.perf_counter()
    for _ in range(12):
        at_limit = bool(np.all(q.hi[open_] >= REACH_LIMIT))
        left = max(1.0, kw["time_limit"] - (time.perf_counter() - start))
        try:
            sol = run(q, **{**kw, "diagnose": kw["diagnose"] and at_limit,
                            "warm": sol or kw["warm"], "time_limit": left})
        except InfeasibleError:
            if at_limit:
                raise
            q = replace(q, hi=np.where(open_, np.minimum(q.hi * 16.0, REACH_LIMIT), q.hi))
            continue
        need = _open_ceiling(p, sol.objective)
        if need is None:
            sol.notes.append(
                "lines without a max in the scenario were allowed up to "
                f"{p.currency} {float(np.max(q.hi[open_])):,.0f}; the bound covers plans "
                "within that")
            break
        # never below one unit of money: finer pieces only trouble the MILP solver
        need = np.minimum(np.maximum(need, np.maximum(np.maximum(p.lo, p.threshold), 1.0)),
                          REACH_LIMIT)
        wide = q.hi[open_] > 4.0 * need[open_] + 1.0
        if np.all(q.hi[open_] >= need[open_] * (1 - 1e-9)) and not (wide.any() and shrink):
            break
        # the ceiling every better plan keeps to: wider ones only blur the curves' pieces
        shrink -= bool(wide.any())
        q = replace(q, hi=np.where(open_, need, q.hi))
    assert sol is not None
    sol.problem = sol.problem or q
    return sol


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
    def run(q: Problem, **kw) -> Solution:
        sol = _target_efficiency(q, method, **kw) if q.target is not None else \
            _fixed(q, method, **kw)
        sol.problem = sol.problem or q
        return sol

    note = None
    if p.point_from_plan:  # price a point of guideline share first: 1 % of the bare cost
        bare = p.without_rows({r.name for r in p.rows if r.kind == "guideline"})
        first = _with_open_lines(replace(bare, point_from_plan=False), run,
                                 **{**kw, "prices": False})
        total = float(np.sum(first.x))
        p = p.priced_points(total)
        kw["warm"] = kw["warm"] or first
        note = (f"no budget: a point of guideline share is priced as 1 % of "
                f"{p.currency} {total:,.0f}, what the goal costs without the guidelines")
    sol = _with_open_lines(p, run, **kw)
    if note:
        sol.notes.append(note)
    _final_check(sol)
    sol.seconds = time.perf_counter() - start
    return sol


def _final_check(sol: Solution) -> None:
    """Every constraint on the exact curves, once more, before a plan leaves the solver:
    a broken one is our error, never a plan."""
    p = sol.problem
    assert isinstance(p, Problem)
    broken = violations(p, sol.x)
    if broken or not np.all(np.isfinite(sol.x)):
        raise SolverError("internal error: the solver's plan breaks "
                          + ("; ".join(broken[:3]) or "finiteness")
                          + ". This is a bug in allocator; please report it with the scenario")
    if not math.isfinite(sol.bound):  # no proven bound (nan included): never "optimal"
        sol.bound = math.inf
        if sol.status == "optimal":
            sol.status = "feasible"
    elif sol.bound < sol.objective - 1e-9 * max(abs(sol.objective), 1.0):
        sol.bound = sol.objective  # rounding: a bound never reads below its own plan
