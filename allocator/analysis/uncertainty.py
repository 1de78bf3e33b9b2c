"""Monte Carlo over the curves' uncertainty: P10 / P50 / P90 of the plan's KPIs.

`monte_carlo` holds the plan fixed and re-scores it on each draw's curves (vectorised, no
solve). `monte_carlo_reoptimised` re-solves the plan on each draw's curves (warm-started
from the base plan): the distribution of the optimal objective and of each line's spend.
Each draw k has its own random stream, `SeedSequence(seed, spawn_key=(k,))` (the k-th child
of `SeedSequence(seed).spawn`), so draws can run anywhere, in any grouping, and give the
same numbers as one process.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from ..curves import CurveBank, scaled
from ..errors import InfeasibleError
from ..problem import Problem
from ..solve import Solution, solve
from .pool import Job, solve_seconds, start

__all__ = ["Uncertainty", "monte_carlo", "monte_carlo_reoptimised", "start_reoptimised",
           "draw_factors", "scaled_problem"]


@dataclass
class Uncertainty:
    table: pd.DataFrame  # one row per KPI: P10, P50, P90, and the plan's point value
    draws: int
    seed: int
    spreads: np.ndarray
    samples: pd.DataFrame  # every draw, for the chart
    goal: str = "value"
    currency: str = "EUR"
    labels: dict = None  # kpi key -> words, e.g. "outcome:awareness" -> "awareness (impressions)"
    reoptimised: bool = False  # True: each draw's plan re-solved; False: the plan held fixed
    spend: pd.DataFrame | None = None  # re-optimised: each line's spend, plan and P10-P90
    infeasible: int = 0  # re-optimised: draws whose curves admit no plan (left out)


def monte_carlo(p: Problem, x: np.ndarray, low: np.ndarray, high: np.ndarray, *,
                draws: int = 2000, seed: int = 0, kpis: dict[str, str] | None = None
                ) -> Uncertainty:
    """Each line's response scaled by an independent factor, uniform in [low, high] per
    line (seeded), for a fixed plan x. Scaling the response keeps the spend, so only
    outcomes move: no re-solve."""
    rng = np.random.default_rng(seed)
    y0 = p.outcomes(x)
    factors = low + rng.uniform(0.0, 1.0, (draws, p.n)) * (high - low)
    spreads = (np.asarray(high) - np.asarray(low)) / 2
    y = factors * y0
    spend = float(x.sum())
    data: dict[str, np.ndarray] = {}
    if p.minimize_spend:
        data["objective"] = np.full(draws, -spend)
    else:
        data["objective"] = y @ p.weight - p.spend_cost * spend - p.penalty(x, y0)
    data["value"] = y @ p.value_per_outcome
    data["revenue"] = y @ p.revenue_per_outcome
    for s in dict.fromkeys(p.stages):
        m = p.mask(s) > 0
        if y0[m].sum() > 0:
            data[f"outcome:{s}"] = y[:, m].sum(axis=1)
    samples = pd.DataFrame(data)
    point = {"objective": p.objective(x, y0), "value": float(p.value_per_outcome @ y0),
             "revenue": float(p.revenue_per_outcome @ y0)}
    point.update({c: float(y0[p.mask(c.split(':', 1)[1]) > 0].sum())
                  for c in samples.columns if c.startswith("outcome:")})
    rows = [{"kpi": c, "p10": samples[c].quantile(0.1), "p50": samples[c].quantile(0.5),
             "p90": samples[c].quantile(0.9), "plan": point[c]} for c in samples.columns]
    labels = {"objective": f"objective ({p.goal})", "value": "value", "revenue": "revenue"}
    labels.update({f"outcome:{s}": f"{s} ({(kpis or {}).get(s, 'outcome')})"
                   for s in dict.fromkeys(p.stages)})
    return Uncertainty(pd.DataFrame(rows), draws, seed, spreads, samples, p.goal, p.currency,
                       labels)


# --- re-optimised draws -----------------------------------------------------------------------


def draw_factors(seed: int, k: int, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """Draw k's response factor per line, uniform in [low, high], from draw k's own stream."""
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(k,)))
    low, high = np.asarray(low, dtype=float), np.asarray(high, dtype=float)
    return low + rng.uniform(0.0, 1.0, len(low)) * (high - low)


def scaled_problem(p: Problem, factors: np.ndarray) -> Problem:
    """The problem with each line's response multiplied by its factor."""
    return replace(p, bank=CurveBank.from_curves(
        [scaled(p.curve(i), outcome=float(f)) for i, f in enumerate(factors)]))


def _reoptimise(ks: list[int], p: Problem, base: Solution, low: np.ndarray, high: np.ndarray,
                seed: int, tol: float) -> list[np.ndarray]:
    """Per draw: [objective, gap, spend per line..., outcome per line...] of the plan
    re-solved on the draw's curves (NaN where no plan meets the constraints)."""
    out = []
    for k in ks:
        q = scaled_problem(p, draw_factors(seed, k, low, high))
        try:
            sol = solve(q, tol=tol, warm=base, diagnose=False, prices=False)
        except InfeasibleError:
            out.append(np.full(2 + 2 * p.n, np.nan))
            continue
        out.append(np.r_[sol.objective, sol.gap, sol.x, q.outcomes(sol.x)])
    return out


def start_reoptimised(p: Problem, base: Solution, low: np.ndarray, high: np.ndarray, *,
                      draws: int = 200, seed: int = 0, tol: float = 1e-3,
                      kpis: dict[str, str] | None = None, chunk: int | None = None) -> Job:
    """Queue the draws on the executor (see `pool`); `.result()` is the Uncertainty."""
    low, high = np.asarray(low, dtype=float), np.asarray(high, dtype=float)
    chunk = chunk or int(min(250, max(1, math.ceil(draws / 64))))
    return start(_reoptimise, range(draws), p, base, low, high, seed, tol, chunk=chunk,
                 work=draws * solve_seconds(p, base),
                 finish=lambda rows: _reoptimised(p, base, low, high, draws, seed, kpis, rows))


def monte_carlo_reoptimised(p: Problem, base: Solution, low: np.ndarray, high: np.ndarray, *,
                            draws: int = 200, seed: int = 0, tol: float = 1e-3,
                            kpis: dict[str, str] | None = None,
                            progress: Callable[[int], None] | None = None) -> Uncertainty:
    """Each line's response scaled by an independent factor, uniform in [low, high] per line
    (seeded per draw), and the plan re-solved on those curves, warm-started from `base`:
    P10 / P50 / P90 of the optimal objective, value, revenue and outcome per stage, and of
    each line's spend. Constraints on outcomes apply to each draw's own curves; draws with
    no feasible plan are counted in `infeasible` and left out of the quantiles."""
    return start_reoptimised(p, base, low, high, draws=draws, seed=seed, tol=tol,
                             kpis=kpis).result(progress)


def _reoptimised(p: Problem, base: Solution, low: np.ndarray, high: np.ndarray, draws: int,
                 seed: int, kpis: dict[str, str] | None, rows: list[np.ndarray]
                 ) -> Uncertainty:
    n = p.n
    m = np.array(rows).reshape(draws, 2 + 2 * n)
    x, y = m[:, 2:2 + n], m[:, 2 + n:]
    data: dict[str, np.ndarray] = {"objective": m[:, 0],
                                   "value": y @ p.value_per_outcome,
                                   "revenue": y @ p.revenue_per_outcome}
    y0 = p.outcomes(base.x)
    for s in dict.fromkeys(p.stages):
        mask = p.mask(s) > 0
        if y0[mask].sum() > 0:
            data[f"outcome:{s}"] = y[:, mask].sum(axis=1)
    data["gap"] = m[:, 1]
    for i, name in enumerate(p.names):
        data[f"spend:{name}"] = x[:, i]
    samples = pd.DataFrame(data)
    point = {"objective": base.objective, "value": float(p.value_per_outcome @ y0),
             "revenue": float(p.revenue_per_outcome @ y0)}
    point.update({f"outcome:{s}": float(y0[p.mask(s) > 0].sum())
                  for s in dict.fromkeys(p.stages)})
    kpi_cols = [c for c in samples.columns if c in point]
    table = pd.DataFrame([{"kpi": c, "p10": samples[c].quantile(0.1),
                           "p50": samples[c].quantile(0.5), "p90": samples[c].quantile(0.9),
                           "mean": samples[c].mean(), "plan": point[c]} for c in kpi_cols])
    spend = pd.DataFrame({"line": p.names, "stage": p.stages, "platform": p.platforms,
                          "plan": base.x, "mean": np.nanmean(x, axis=0) if draws else np.nan,
                          "p10": np.nanquantile(x, 0.1, axis=0) if draws else np.nan,
                          "p50": np.nanquantile(x, 0.5, axis=0) if draws else np.nan,
                          "p90": np.nanquantile(x, 0.9, axis=0) if draws else np.nan})
    labels = {"objective": f"optimal objective ({p.goal})", "value": "value",
              "revenue": "revenue"}
    labels.update({f"outcome:{s}": f"{s} ({(kpis or {}).get(s, 'outcome')})"
                   for s in dict.fromkeys(p.stages)})
    return Uncertainty(table, draws, seed, (high - low) / 2, samples, p.goal, p.currency,
                       labels, reoptimised=True, spend=spend,
                       infeasible=int(np.isnan(m[:, 0]).sum()))
