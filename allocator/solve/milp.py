"""The MILP over piecewise-linear curves (PuLP; HiGHS through highspy, CBC otherwise).

Each line's spend is the sum of its segment fills d_k in [0, L_k]; its outcome is the
chord sum m_k d_k (plus, in `band` mode, a term t in [-under, +over] that covers the
chord's error, which makes the model a relaxation and its optimum an upper bound).
Fill order binaries are only added where the chord is not concave or where a larger
outcome could hurt (retargeting pools, outcome ceilings): elsewhere the LP fills the
steepest segments first by itself. `min_if_active` and `max_active` use an on/off binary.
"""

from __future__ import annotations

import functools
import itertools
import math
import os
import sys
from dataclasses import dataclass, field

import numpy as np
import pulp

from ..errors import SolverError
from ..problem import Problem
from .pwl import Segments

__all__ = ["MilpResult", "solve_milp", "available_backends"]

_ids = itertools.count()


@functools.cache
def _silence_highs_banner() -> None:
    """HiGHS prints a banner to the process's stdout on its first model, whatever the
    options: create that first model with stdout pointed at /dev/null."""
    try:
        import highspy
    except ImportError:
        return
    sys.stdout.flush()
    saved, devnull = os.dup(1), os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    try:
        highspy.Highs()
    finally:
        os.dup2(saved, 1)
        os.close(saved)
        os.close(devnull)


class _HiGHSWithStart(pulp.HiGHS):
    """PuLP's HiGHS, handing the solver a start: values for some variables (the binaries of
    a known plan); HiGHS completes the rest by an LP and starts from that incumbent."""

    start: dict[pulp.LpVariable, float] | None = None  # set per solve

    def callSolver(self, lp):
        if self.start:
            index = np.array([v.index for v in self.start], dtype=np.int32)
            values = np.array(list(self.start.values()), dtype=float)
            lp.solverModel.setSolution(len(index), index, values)
        lp.solverModel.run()


def available_backends() -> list[str]:
    names = pulp.listSolvers(onlyAvailable=True)
    return [b for b in ("HiGHS", "COIN_CMD", "PULP_CBC_CMD") if b in names]


def _backend(name: str | None, time_limit: float, gap: float):
    names = available_backends()
    if not names:
        raise SolverError("no MILP solver is available: install highspy (pip install highspy)")
    name = name or names[0]
    if name == "HiGHS":
        _silence_highs_banner()
    if name not in names:
        raise SolverError(f"MILP backend '{name}' is not available; available: "
                          f"{', '.join(names)}")
    if name != "HiGHS":
        return pulp.getSolver(name, msg=False, timeLimit=time_limit, gapRel=gap)
    solver = _HiGHSWithStart(msg=False, timeLimit=time_limit, gapRel=gap)
    # measured on the 5 x 8 benchmark: presolve off cuts the median solve 2.27 -> 1.92 s
    # and the worst 5.9 -> 4.7 s (these models are small and already tight)
    solver.optionsDict["presolve"] = "off"
    # our own plans (warm start, polish, the chord model) are the incumbents; HiGHS's
    # primal heuristics only repeat that work. Measured on four 5 x 8 problems (cold
    # solve + 3 what-ifs each): 22.4 s in all with them, 12.7 s without
    solver.optionsDict.update({"mip_heuristic_run_feasibility_jump": False,
                               "mip_heuristic_run_rins": False,
                               "mip_heuristic_run_rens": False,
                               "mip_heuristic_run_root_reduced_cost": False})
    return solver


def _error_band(prob: pulp.LpProblem, seg: Segments, ds: list, add, tag: str):
    """Per segment k a term t_k with chord + t_k covering f on the filled part:
    t_k <= over_k, and near either end no more than the tangents there allow, so an
    empty or full segment contributes no error at all."""
    over_l, over_r, under_l, under_r = seg.error_slopes()
    terms = []
    tiny = 1e-12 * (1.0 + abs(float(seg.values[-1])))
    for k, d in enumerate(ds):
        L = float(seg.lengths[k])
        up, down = float(seg.over[k]), float(seg.under[k])
        if L <= 0 or (up <= tiny and down <= tiny):
            continue
        t = prob.add_variable(f"t{tag}_{k}", -down, up)
        theta = d * (1.0 / L)

        def useful(slope: float, cap: float, L: float = L) -> bool:
            # a tangent cut binds only while theta < cap / slope; one that binds on a sliver
            # of the segment, or whose coefficient HiGHS would refuse (>= 1e15), is left out:
            # leaving a cut out of a relaxation keeps it a relaxation
            return bool(np.isfinite(slope)) and slope <= 1e6 * cap and slope / L < 1e12

        if up > tiny:
            if useful(over_l[k], up):
                add(t <= float(over_l[k]) * (1 + 1e-9) * theta + tiny)
            if useful(over_r[k], up):
                add(t <= float(over_r[k]) * (1 + 1e-9) * (1 - theta) + tiny)
        if down > tiny:
            if useful(under_l[k], down):
                add(-t <= float(under_l[k]) * (1 + 1e-9) * theta + tiny)
            if useful(under_r[k], down):
                add(-t <= float(under_r[k]) * (1 + 1e-9) * (1 - theta) + tiny)
        terms.append(t)
    return pulp.lpSum(terms)


def _single_hump(slopes: np.ndarray) -> int | None:
    """Index of the steepest segment if slopes rise to it and fall after it (an S-curve),
    else None (then every segment needs its fill-order binary)."""
    peak = int(np.argmax(slopes))
    tol = 1e-12 * (1.0 + float(np.max(np.abs(slopes))))
    if np.all(np.diff(slopes[: peak + 1]) >= -tol) and np.all(np.diff(slopes[peak:]) <= tol):
        return peak
    return None


def _run(prob: pulp.LpProblem, solver) -> str:
    try:
        prob.solve(solver)
    except pulp.PulpSolverError as exc:
        raise SolverError(f"the MILP solver failed: {exc}") from None
    except (IndexError, ValueError, OverflowError):
        # PuLP's HiGHS reader fails on a model HiGHS could not load (numbers out of range)
        return "Not Solved"
    return pulp.LpStatus[prob.status]


@dataclass
class MilpResult:
    status: str  # optimal | infeasible | unbounded | failed
    x: np.ndarray | None = None
    value: float = math.nan  # the model's objective
    bound: float = math.nan  # the model's proven bound on its own optimum
    active: np.ndarray | None = None
    band_use: dict[str, float] = field(default_factory=dict)


def solve_milp(
    p: Problem,
    segs: list[Segments],
    *,
    band: bool,
    backend: str | None = None,
    time_limit: float = 60.0,
    gap: float = 1e-6,
    drop: frozenset[str] = frozenset(),
    feasibility: bool = False,
    cutoff: float | None = None,
    start: np.ndarray | None = None,
    relaxed: bool = False,
    grid: bool = False,
) -> MilpResult:
    """Build and solve the MILP. `drop` removes named constraints (infeasibility diagnosis);
    `feasibility` drops the objective. `cutoff`: only plans worth more than this matter
    (a plan of that value is known), so branch-and-bound may prune below it; with HiGHS,
    a model with nothing above the cutoff comes back "cutoff". `start`: a plan's spend per
    line, whose on/off and fill pattern seeds HiGHS with an incumbent. `relaxed`: every
    binary continuous in [0, 1], an LP whose optimum bounds the MILP's (and, with `band`,
    every plan's on the exact curves): segments may fill in any order, thresholds and counts
    hold on average only. `grid` (with band=False): each line's curve at one of its
    breakpoints, where the chord is the curve: the model's plans hold on the exact curves
    (a last resort for a plan where the chords' plans all break a row)."""
    prob = pulp.LpProblem(f"allocator_{next(_ids)}", pulp.LpMaximize)

    def add(con: pulp.LpConstraint, name: str | None = None) -> None:
        # `name` is the business name, kept at the call for the reader; PuLP gets a safe one
        prob.addConstraint(con, f"c{prob.numConstraints()}")

    n = p.n
    negative = np.zeros(n, dtype=bool)
    for r in p.rows:
        if r.name not in drop:
            hurts = r.uses_outcome_negatively
            # carryover after saturation: a curve hurts where its response lands in such a row
            negative |= hurts if p.land is None else (abs(p.land).T @ hurts) > 0
    limited = np.zeros(n, dtype=bool)
    for lim in p.active_limits:
        if lim.name not in drop:
            limited[lim.index] = True

    kind = {"cat": "Continuous", "lowBound": 0, "upBound": 1} if relaxed else {"cat": "Binary"}
    x_expr, y_expr, binaries = [], [], []
    seed: dict[pulp.LpVariable, float] = {}  # binary -> its value at `start`
    on: list[pulp.LpVariable | None] = [None] * n
    # with carryover the curves take the effective spend e = C x + h: the segments fill e,
    # and the spend x is a variable of its own, tied to e by one row per curve
    carry = p.carry is not None
    spend = [prob.add_variable(f"x{i}", 0) for i in range(n)] if carry else []
    at = p.effective(start) if carry and start is not None else start
    e_expr = []
    for i, seg in enumerate(segs):
        lengths, slopes = seg.lengths, seg.slopes
        ds = [prob.add_variable(f"d{i}_{k}", 0, float(L)) for k, L in enumerate(lengths)]
        x_i = spend[i] if carry else pulp.lpSum(ds)
        if carry:
            e_expr.append(pulp.lpSum(ds))
        # f(0) may be above 0 (a points curve through (0, 105)): a line at 0 still counts it
        y_i = pulp.lpSum(float(m) * d for m, d in zip(slopes, ds, strict=True)) + \
            float(seg.values[0])
        if grid:  # whole segments, in order: the spend sits on a breakpoint
            g = [prob.add_variable(f"g{i}_{k}", cat="Binary") for k in range(len(ds))]
            binaries.extend(g)
            for k, (d, L) in enumerate(zip(ds, lengths, strict=True)):
                add(d == float(L) * g[k])
                if k:
                    add(g[k] <= g[k - 1])
        elif (negative[i] or not seg.concave) and len(ds) > 1:
            peak = _single_hump(slopes) if not negative[i] else None
            chain = range(len(ds) - 1) if peak is None else range(peak)
            for k in chain:  # segment k+1 only once segment k is full
                z = prob.add_variable(f"z{i}_{k}", **kind)
                binaries.append(z)
                if at is not None:
                    seed[z] = float(at[i] >= seg.points[k + 1] * (1 - 1e-12))
                add(ds[k] >= float(lengths[k]) * z)
                add(ds[k + 1] <= float(lengths[k + 1]) * z)
            if peak is not None and peak < len(ds) - 1:
                # past the hump slopes fall, so the LP fills those segments in order by
                # itself; one binary keeps them shut until the hump is climbed
                past = prob.add_variable(f"w{i}", **kind)
                binaries.append(past)
                if at is not None:
                    seed[past] = float(at[i] >= seg.points[peak + 1] * (1 - 1e-12))
                add(ds[peak] >= float(lengths[peak]) * past)
                for k in range(peak + 1, len(ds)):
                    add(ds[k] <= float(lengths[k]) * past)
        thr = 0.0 if f"line:{p.names[i]}.min_if_active" in drop else float(p.threshold[i])
        if thr > 0 or limited[i]:
            a = prob.add_variable(f"a{i}", **kind)
            binaries.append(a)
            if start is not None:
                seed[a] = float(start[i] > 0)
            on[i] = a
            top = float(p.hi[i]) if carry else float(seg.points[-1])
            add(x_i <= top * a)
            if thr > 0:
                add(x_i >= thr * a, f"line:{p.names[i]}.min_if_active")
        if p.lo[i] > 0 and f"line:{p.names[i]}.min" not in drop:
            add(x_i >= float(p.lo[i]), f"line:{p.names[i]}.min")
        unit = "budget" if p.hi_reason[i] == "budget" else f"line:{p.names[i]}.max"
        if (carry or p.hi[i] < seg.points[-1]) and unit not in drop:
            add(x_i <= float(p.hi[i]), f"line:{p.names[i]}.max")
        if band:
            y_i = y_i + _error_band(prob, seg, ds, add, f"{i}")
        if on[i] is not None and not carry:
            # the outcome is tied to the on/off binary too, not only the spend: HiGHS takes
            # a binary within 1e-6 of 0 as off, which leaves a line 'off' top * 1e-6 of
            # spend (0.036 of 35,833), and a curve that is vertical at 0 earns most of its
            # outcome there (200628: 370 outcome for 0.002 from a line whose min_if_active
            # is 35,833). Valid for every plan: an off line earns f(0), an on one no more
            # (no less) than the curve's (the band's) highest (lowest) value above f(0)
            f0 = float(seg.values[0])
            rise = float(np.max(seg.values)) + (float(np.max(seg.over)) if band else 0.0) - f0
            fall = float(np.min(seg.values)) - (float(np.max(seg.under)) if band else 0.0) - f0
            if rise > 0:
                add(y_i - f0 <= rise * (1 + 1e-9) * on[i])
            if fall < 0 and negative[i]:
                add(y_i - f0 >= fall * (1 + 1e-9) * on[i])
        x_expr.append(x_i)
        y_expr.append(y_i)

    if relaxed:  # an LP: no branch-and-bound bound to read, no incumbent to seed
        binaries, seed = [], {}
    if carry:
        C = p.carry.tocsr()
        for i in range(n):
            lo_, hi_ = C.indptr[i], C.indptr[i + 1]
            add(e_expr[i] == pulp.lpSum(float(v) * spend[j] for j, v in
                                        zip(C.indices[lo_:hi_], C.data[lo_:hi_], strict=True))
                + float(p.carry0[i]))
    if p.land is not None:  # outcomes: the curves' responses landing over the periods
        Lm = p.land.tocsr()
        y_expr = [pulp.lpSum(float(v) * y_expr[j] for j, v in
                             zip(Lm.indices[Lm.indptr[i]:Lm.indptr[i + 1]],
                                 Lm.data[Lm.indptr[i]:Lm.indptr[i + 1]], strict=True))
                  + float(p.land0[i]) for i in range(n)]

    penalties = []
    for r in p.rows:
        if r.name in drop or (r.penalty is not None and feasibility):
            continue  # a soft row can always be broken at its price: it conflicts with nothing
        expr = pulp.lpSum(float(r.a[i]) * x_expr[i] for i in np.flatnonzero(r.a)) + \
            pulp.lpSum(float(r.b[i]) * y_expr[i] for i in np.flatnonzero(r.b))
        if r.penalty is not None and not feasibility:
            s = prob.add_variable(f"s_{len(penalties)}", 0)
            penalties.append(r.penalty * s)
            expr = expr + s if r.sense == ">=" else expr - s
        if r.sense == "==":
            add(expr == r.rhs, r.name)
        else:
            add((expr <= r.rhs) if r.sense == "<=" else (expr >= r.rhs), r.name)
    for lim in p.active_limits:
        if lim.name not in drop:
            add(pulp.lpSum(on[i] for i in lim.index) <= lim.k, lim.name)

    if feasibility:
        prob += pulp.lpSum([])
    elif p.minimize_spend:
        prob += -pulp.lpSum(x_expr) - pulp.lpSum(penalties)
    else:
        prob += (pulp.lpSum(float(p.weight[i]) * y_expr[i] for i in np.flatnonzero(p.weight))
                 - p.spend_cost * pulp.lpSum(x_expr) - pulp.lpSum(penalties))

    solver = _backend(backend, time_limit, gap)
    use_cutoff = cutoff is not None and math.isfinite(cutoff) and binaries and \
        solver.name == "HiGHS" and not feasibility
    # PuLP hands HiGHS the objective without its constant (the f(0) of the lines): HiGHS's
    # own numbers (cutoff, dual bound) are on that shifted scale
    const = float(prob.objective.constant) if prob.objective is not None else 0.0
    if use_cutoff:  # HiGHS minimises the negated objective: the cutoff is an upper limit
        solver.optionsDict["objective_bound"] = -(float(cutoff) - const)
    if isinstance(solver, _HiGHSWithStart) and seed and not feasibility:
        solver.start = seed
    status = _run(prob, solver)
    if use_cutoff and getattr(prob, "solverModel", None) is not None:
        import highspy

        if prob.solverModel.getModelStatus() == highspy.HighsModelStatus.kInfeasible:
            # HiGHS says 'nothing above the cutoff' as 'infeasible', and says it too on a badly
            # scaled model with plans far above the cutoff (209960: cut off at 5.06e6, optimal
            # at 1.73e7 without it): the model without the cutoff decides which it was
            del solver.optionsDict["objective_bound"]
            use_cutoff = False
            status = _run(prob, solver)
    failed = status not in ("Optimal", "Infeasible", "Unbounded") or (
        status == "Optimal" and prob.sol_status not in (1, 2))
    if (status == "Infeasible" or failed) and solver.name == "HiGHS" and not use_cutoff:
        # HiGHS rejects plans a hair (1e-6) outside a row on badly scaled models and may call
        # a feasible model infeasible, or its own optimum a 'solve error' (200283: 'claims
        # optimality, but with primal infeasibilities' of 1.4e-6): one more try, scaled and
        # with looser tolerances
        solver.optionsDict.update({"presolve": "on", "primal_feasibility_tolerance": 1e-6,
                                   "mip_feasibility_tolerance": 1e-5})
        status = _run(prob, solver)
        if status != "Optimal" and status != "Unbounded":
            # and some it solves only with presolve on at its own tolerances (a curve rising
            # by 7e4 within 6e-4 of spend, 206165): a third try that way
            for key in ("primal_feasibility_tolerance", "mip_feasibility_tolerance"):
                solver.optionsDict.pop(key, None)
            status = _run(prob, solver)
    if use_cutoff:
        import highspy

        reason = prob.solverModel.getModelStatus()
        if reason in (highspy.HighsModelStatus.kInfeasible,
                      highspy.HighsModelStatus.kObjectiveBound):
            return MilpResult("cutoff")  # no plan above the cutoff (PuLP's status misleads)
    if status == "Infeasible":
        return MilpResult("infeasible")
    if status == "Unbounded":
        return MilpResult("unbounded")
    if status != "Optimal" or prob.sol_status not in (1, 2):
        return MilpResult("failed")

    x = np.array([float(pulp.value(e) or 0.0) for e in x_expr])
    value = float(pulp.value(prob.objective) or 0.0)
    bound = value
    model = getattr(prob, "solverModel", None)
    if binaries and model is not None and hasattr(model, "getInfo"):
        info = model.getInfo()
        # PuLP hands HiGHS the negated objective of a maximisation: turn its bound back
        shifted = value - const
        sign = -1.0 if abs(info.objective_function_value + shifted) < \
            abs(info.objective_function_value - shifted) else 1.0
        dual_bound = sign * info.mip_dual_bound + const
        if math.isfinite(dual_bound):
            bound = max(value, dual_bound)
    elif binaries:  # CBC: trust the requested relative gap
        bound = value + gap * max(abs(value), 1.0)
    active = np.array([x_i > 1e-9 for x_i in x])
    result = MilpResult("optimal", x, value, bound, active)
    if band:  # where the error terms are used: the segments worth refining
        result.band_use = {name: float(v.varValue or 0.0) for name, v in
                           prob.variablesDict().items() if name.startswith("t")}
    return result
