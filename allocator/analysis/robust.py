"""A plan robust to the curves' uncertainty: the mean and the CVaR of the objective over S
sampled curve sets, maximised together and certified like any plan.

Sample s scales line i's response by F[s, i] (uniform in the line's [low, high], drawn
from draw s's own stream as in the Monte Carlo), so the plan's objective on sample s is

    O_s(x) = sum_i F[s, i] w_i f_i(x_i) - c sum_i x_i        (- the soft penalties)

and the robust plan solves

    max_x  (1 - risk) mean_s O_s(x) + risk CVaR_alpha(O_1(x), ..., O_S(x))

under every constraint of the scenario, on its stated curves. CVaR_alpha is the mean of the
worst alpha share of the samples (Rockafellar and Uryasev): CVaR = max over eta of
eta - 1/(alpha S) sum_s max(0, eta - O_s). The mean and the CVaR couple the samples, but
every O_s is linear in the lines' outcomes y_i = f_i(x_i) (a sample only scales them). So
the problem is the scenario's own Problem with S + 1 more lines on straight curves (eta,
and a shortfall u_s >= eta - O_s per sample) and S more linear rows: an MILP over the
scenario with S copies of the objective, solved by the same certified solver (S-curves,
thresholds, every constraint kind, the bound and its gap, the polish on exact curves).
risk = 0 is the plan for the mean curves; risk = 1 maximises the CVaR alone.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from ..curves import CurveBank, Linear
from ..problem import Problem, Row
from ..solve import Solution, solve
from .pool import Job, solve_seconds, start
from .uncertainty import draw_factors

__all__ = ["RobustPlan", "robust_plan", "robust_frontier", "robust_problem", "cvar",
           "sample_factors"]


@dataclass
class RobustPlan:
    x: np.ndarray  # spend per line
    objective: float  # (1 - risk) mean + risk CVaR over the samples, exact curves
    bound: float  # proven: no plan does better on these samples
    mean: float
    cvar: float
    samples: int
    alpha: float
    risk: float
    seed: int
    table: pd.DataFrame  # the robust plan against the nominal one: in and out of sample
    spend: pd.DataFrame  # per line: nominal and robust spend
    solution: Solution  # the solve of the extended problem (its certificate)
    notes: list[str]
    tol: float = 1e-3

    @property
    def status(self) -> str:
        return "optimal" if self.gap <= self.tol else "feasible"

    @property
    def gap(self) -> float:
        if not math.isfinite(self.bound):
            return math.inf
        return max(0.0, self.bound - self.objective) / max(abs(self.bound), 1.0)


def sample_factors(low: np.ndarray, high: np.ndarray, samples: int, seed: int) -> np.ndarray:
    """(samples, lines) response factors: sample s is Monte Carlo draw s of this seed."""
    return np.array([draw_factors(seed, s, low, high) for s in range(samples)])


def cvar(values: np.ndarray, alpha: float, axis: int = -1) -> np.ndarray:
    """Mean of the worst alpha share of equally likely values (fractional at the edge),
    the exact value of max_eta eta - mean(max(0, eta - v)) / alpha."""
    v = np.sort(np.asarray(values, dtype=float), axis=axis)
    s = v.shape[axis]
    k = alpha * s
    weights = np.clip(k - np.arange(s), 0.0, 1.0) / k  # 1/k each, the edge sample partly
    shape = [1] * v.ndim
    shape[axis] = s
    return np.sum(v * weights.reshape(shape), axis=axis)


def _sample_values(p: Problem, x: np.ndarray, factors: np.ndarray) -> np.ndarray:
    """O_s(x) for each sample (soft penalties, the same in every sample, included)."""
    y = p.outcomes(x)
    spend = float(np.sum(x))
    return factors @ (p.weight * y) - p.spend_cost * spend - p.penalty(x, y)


def robust_problem(p: Problem, factors: np.ndarray, *, alpha: float = 0.1,
                   risk: float = 0.5) -> tuple[Problem, float]:
    """The extended problem (lines: the scenario's, then eta, then one shortfall per
    sample) and the constant L0 with robust objective = its objective + risk * L0."""
    n, S = p.n, len(factors)
    w, c = p.weight, p.spend_cost
    f0, fhi = p.outcomes(np.zeros(n)), p.outcomes(p.hi)
    # O_s lies in [L0, U0] for every plan within the lines' bounds: eta and the shortfalls
    # are shifted by L0 to be spends (>= 0) and capped by U0 - L0
    terms = factors * w
    lo_terms = np.minimum(terms * f0, terms * fhi).sum(axis=1)
    hi_terms = np.maximum(terms * f0, terms * fhi).sum(axis=1)
    top_spend = min(float(np.sum(p.hi)), p.budget_hi)
    L0 = float(np.min(lo_terms)) - c * top_spend
    U0 = float(np.max(hi_terms)) - c * float(np.sum(p.lo))
    width = max(U0 - L0, 1.0)
    m = 1 + S
    pad = np.zeros(m)

    def padded(r: Row) -> Row:
        return replace(r, a=np.r_[r.a, pad], b=np.r_[r.b, pad],
                       group=None if r.group is None else np.r_[r.group, pad])

    rows = [padded(r) for r in p.rows]
    if p.target is not None and all(r.name != p.target.name for r in p.rows):
        rows.append(padded(p.target))  # target efficiency: the target holds as a row
    for s in range(S):  # u_s - (eta - L0) + O_s(x) >= L0
        a = np.r_[np.full(n, -c), -1.0, np.zeros(S)]
        a[n + 1 + s] = 1.0
        rows.append(Row(f"robust cvar[{s}]", "robust", a, np.r_[factors[s] * w, pad], ">=",
                        L0, f"shortfall of sample {s} below eta"))
    spend_cost = (1.0 - risk) * c
    weight = np.r_[(1.0 - risk) * factors.mean(axis=0) * w, risk + spend_cost,
                   np.full(S, spend_cost - risk / (alpha * S))]
    curves = [p.curve(i) for i in range(n)] + [Linear(1.0)] * m
    extra_hi = np.full(m, width)
    q = replace(
        p, names=[*p.names, "robust:eta", *[f"robust:shortfall[{s}]" for s in range(S)]],
        stages=[*p.stages, *["robust"] * m], platforms=[*p.platforms, *["robust"] * m],
        bank=CurveBank.from_curves(curves), lo=np.r_[p.lo, pad], hi=np.r_[p.hi, extra_hi],
        line_max=np.r_[p.hi, extra_hi],
        # ceilings the base solve proved are kept as they are (see notes)
        hi_reason=[("max" if r == "reach" else r) for r in p.hi_reason] + ["max"] * m,
        threshold=np.r_[p.threshold, pad], weight=weight, spend_cost=spend_cost, rows=rows,
        value_per_outcome=np.r_[p.value_per_outcome, pad],
        revenue_per_outcome=np.r_[p.revenue_per_outcome, pad], baseline=None,
        mroas=None if p.mroas is None else np.r_[p.mroas, pad], target=None,
        point_from_plan=False)
    return q, L0


def _start_point(p: Problem, x: np.ndarray, factors: np.ndarray, alpha: float, L0: float
                 ) -> np.ndarray:
    """A plan's extended form: eta at its VaR, each shortfall max(0, eta - O_s)."""
    v = _sample_values(p, x, factors) + p.penalty(x, p.outcomes(x))  # penalties apart
    eta = float(np.quantile(v, alpha, method="inverted_cdf"))
    return np.r_[x, eta - L0, np.maximum(0.0, eta - v)]


def robust_plan(p: Problem, base: Solution, low: np.ndarray, high: np.ndarray, *,
                samples: int = 100, alpha: float = 0.1, risk: float = 0.5, seed: int = 0,
                tol: float = 1e-3, check_draws: int = 2000, time_limit: float = 300.0
                ) -> RobustPlan:
    """Maximise (1 - risk) * mean + risk * CVaR_alpha of the objective over `samples`
    sampled curve sets (seeded), every constraint holding on the stated curves; certified
    to `tol` like a plan. `base`: the nominal plan's solution (its problem is the one
    solved, target and priced guidelines included; it starts the search). The table
    compares the robust and the nominal plan on the samples and on `check_draws` fresh
    draws (seed + 1), held fixed."""
    if not 0 < alpha <= 1 or not 0 <= risk <= 1:
        raise ValueError("alpha must be in (0, 1] and risk in [0, 1]")
    p = base.problem if isinstance(base.problem, Problem) else p
    low, high = np.asarray(low, dtype=float), np.asarray(high, dtype=float)
    factors = sample_factors(low, high, samples, seed)
    notes: list[str] = []
    if p.minimize_spend:
        x = base.x
        sol = base
        notes.append("the goal is the least spend, which the curves' uncertainty does not "
                     "move: the robust plan is the plan")
        value = bound = _robust_value(p, x, factors, alpha, risk)
    else:
        q, L0 = robust_problem(p, factors, alpha=alpha, risk=risk)
        start_x = _start_point(p, base.x, factors, alpha, L0)
        warm = Solution(start_x, q.objective(start_x), math.inf, "start")
        # the solver certifies the shifted objective (robust - risk L0): its tolerance is
        # scaled so that the robust objective's own gap is within `tol`
        r0 = _robust_value(p, base.x, factors, alpha, risk)
        inner = tol * max(abs(r0), 1.0) / max(abs(r0 - risk * L0), abs(r0), 1.0)
        sol = solve(q, tol=max(inner, 1e-7), warm=warm, diagnose=False, prices=False,
                    time_limit=time_limit)
        x = sol.x[:p.n]
        value = _robust_value(p, x, factors, alpha, risk)
        bound = sol.bound + risk * L0
        if any(r == "reach" for r in p.hi_reason):
            notes.append("lines without a max keep the ceiling the plan's solve proved")
        notes += sol.notes
    fresh = sample_factors(low, high, check_draws, seed + 1) if check_draws else None
    rows = []
    for name, plan_x in (("nominal", base.x), ("robust", x)):
        v = _sample_values(p, plan_x, factors)
        row = {"plan": name, "objective (stated curves)": p.objective(plan_x),
               "mean": v.mean(), f"CVaR {alpha:.0%}": float(cvar(v, alpha)),
               "P10": float(np.quantile(v, 0.1)),
               "robust objective": (1 - risk) * v.mean() + risk * float(cvar(v, alpha))}
        if fresh is not None:
            u = _sample_values(p, plan_x, fresh)
            row.update({"fresh mean": u.mean(), f"fresh CVaR {alpha:.0%}":
                        float(cvar(u, alpha)), "fresh P10": float(np.quantile(u, 0.1))})
        rows.append(row)
    spend = pd.DataFrame({"line": p.names, "stage": p.stages, "platform": p.platforms,
                          "nominal": base.x, "robust": x, "change": x - base.x})
    v = _sample_values(p, x, factors)
    return RobustPlan(x, value, max(bound, value), float(v.mean()), float(cvar(v, alpha)),
                      samples, alpha, risk, seed, pd.DataFrame(rows), spend, sol, notes, tol)


def _robust_value(p: Problem, x: np.ndarray, factors: np.ndarray, alpha: float,
                  risk: float) -> float:
    v = _sample_values(p, x, factors)
    return float((1 - risk) * v.mean() + risk * cvar(v, alpha))


def _robust_chunk(risks: list[float], p: Problem, base: Solution, low, high, kw: dict
                  ) -> list[RobustPlan]:
    return [robust_plan(p, base, low, high, risk=r, check_draws=0, **kw) for r in risks]


def start_robust_frontier(p: Problem, base: Solution, low: np.ndarray, high: np.ndarray, *,
                          risks: tuple[float, ...] = (0.0, 0.25, 0.5, 0.75, 1.0),
                          **kw) -> Job:
    """Queue one robust plan per risk weight on the executor (see `pool`); `.result()` is
    the list of RobustPlans."""
    samples = kw.get("samples", 100)
    return start(_robust_chunk, list(risks), p, base, np.asarray(low, dtype=float),
                 np.asarray(high, dtype=float), kw, chunk=1,
                 work=len(risks) * solve_seconds(p, base) * (5 + samples / 10))


def robust_frontier(p: Problem, base: Solution, low: np.ndarray, high: np.ndarray, *,
                    risks: tuple[float, ...] = (0.0, 0.25, 0.5, 0.75, 1.0),
                    progress: Callable[[int], None] | None = None, **kw) -> list[RobustPlan]:
    """Robust plans from the mean (risk 0) to the CVaR alone (risk 1): what protecting
    the bad outcomes costs in expectation. Each one a task on the executor."""
    return start_robust_frontier(p, base, low, high, risks=risks, **kw).result(progress)
