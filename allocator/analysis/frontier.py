"""Budget frontier: the certified optimum re-solved across a range of budgets."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from ..errors import InfeasibleError
from ..problem import Problem
from ..solve import Solution, solve
from .pool import Job, solve_seconds, start

__all__ = ["Frontier", "budget_frontier", "start_frontier"]

CHAIN = 6  # budgets per warm-started chain: fixed, so that chunks never move the numbers


@dataclass
class Frontier:
    """One row per budget: spend, objective, value, revenue, outcome per stage, ROAS, and
    `marginal_value`: what the next unit of budget adds to the objective there, the budget's
    price as the plan's accounting fits it (`accounting.budget_price`), so that at the
    scenario's budget it is the plan's own shadow price of the budget."""

    table: pd.DataFrame
    current_budget: float
    goal: str
    currency: str
    target_text: str | None = None
    target_budget: float | None = None  # the largest budget whose plan still meets the target
    breakeven_budget: float | None = None  # where the next unit of budget returns 1 of value

    def at(self, budget: float) -> pd.Series:
        return self.table.iloc[int(np.argmin(np.abs(self.table["budget"] - budget)))]


def _crossing(xs: np.ndarray, ok: np.ndarray) -> float | None:
    """The last x of the first run of True values (where a condition stops holding)."""
    if not ok.any():
        return None
    if ok.all():
        return float(xs[-1])
    first = int(np.argmax(ok))
    stop = first + int(np.argmin(ok[first:])) if not ok[first:].all() else len(ok)
    return float(xs[stop - 1])


def _chain(budgets: list[float], fixed: Problem, target, exact: bool, tol: float,
           base: tuple[float, np.ndarray] | None = None) -> list:
    """Solve a run of budgets in order, each warm-started from the one before; `base`: the
    scenario's budget and its plan, whose marginal is read from that plan itself."""
    from ..accounting import budget_price

    stages = list(dict.fromkeys(fixed.stages))
    rows, warm = [], None
    for budget in budgets:
        # an exact budget stays exact; a ceiling stays a ceiling (profit may leave money)
        q = fixed.with_budget(budget if exact else min(fixed.budget_lo, budget), budget)
        try:
            sol = solve(q, tol=tol, warm=warm, diagnose=False, prices=False)
        except InfeasibleError:
            rows.append({"budget": budget, "feasible": False})
            continue
        warm = sol
        x = sol.x
        y = q.outcomes(x)
        row = {"budget": budget, "feasible": True, "spend": float(x.sum()),
               "objective": sol.objective, "bound": sol.bound, "gap": sol.gap,
               "value": float(q.value_per_outcome @ y),
               "revenue": float(q.revenue_per_outcome @ y)}
        at_base = base is not None and budget == base[0]
        row["price"] = budget_price(q, base[1] if at_base else x)
        for s in stages:
            m = q.mask(s) > 0
            row[f"spend:{s}"] = float(x[m].sum())
            row[f"outcome:{s}"] = float(y[m].sum())
        if target is not None:
            row["target_ok"] = target.violation(x, y) <= 1e-6 * max(1.0, float(x.sum()))
            if target.group is not None:
                g = target.group > 0
                row["target_cpa"] = float(x[g].sum() / max(y[g].sum(), 1e-12))
                row["target_roas"] = float((q.revenue_per_outcome * y)[g].sum()
                                           / max(x[g].sum(), 1e-12))
        rows.append(row)
    return rows


def start_frontier(p: Problem, *, low: float = 0.5, high: float = 2.0, points: int = 21,
                   budgets: list[float] | None = None, tol: float = 1e-3,
                   base: Solution | None = None) -> Job:
    """Queue the frontier's solves on the executor (see `pool`); `.result()` is the
    Frontier. `base`: the plan's solution, for the estimate of the work."""
    current = p.budget_hi if np.isfinite(p.budget_hi) else p.budget_lo
    if budgets is None:
        budgets = list(np.linspace(low * current, high * current, points))
    budgets = sorted(set(float(b) for b in budgets) | {float(current)})
    fixed = replace(p, target=None)  # the frontier shows where a target stops holding
    exact = p.budget_lo == p.budget_hi
    plan = (float(current), base.x) if base is not None and len(base.x) == p.n else None
    return start(_chain, budgets, fixed, p.target, exact, tol, plan, chunk=CHAIN,
                 parallel=not p.is_simple, work=len(budgets) * solve_seconds(p, base),
                 finish=lambda rows: _frontier(p, current, rows))


def budget_frontier(p: Problem, *, low: float = 0.5, high: float = 2.0, points: int = 21,
                    budgets: list[float] | None = None, tol: float = 1e-3,
                    base: Solution | None = None,
                    progress: Callable[[int], None] | None = None) -> Frontier:
    """Re-solve at each budget; runs of budgets are warm-started chains spread over the
    executor's workers (the same chains wherever they run, so the same numbers)."""
    return start_frontier(p, low=low, high=high, points=points, budgets=budgets, tol=tol,
                          base=base).result(progress)


def _frontier(p: Problem, base: float, rows: list[dict]) -> Frontier:
    table = pd.DataFrame(rows)
    ok = table[table["feasible"]].copy()
    if len(ok) >= 2:
        b = ok["budget"].to_numpy()
        slope = np.gradient(ok["objective"].to_numpy(), b)  # where no price can be read
        price = ok["price"].to_numpy(dtype=float) if "price" in ok else np.full(len(b), np.nan)
        ok["marginal_value"] = np.where(np.isfinite(price), price, slope)
        ok["marginal_revenue"] = np.gradient(ok["revenue"].to_numpy(), b)
        ok["marginal_roas"] = ok["marginal_revenue"]
    ok["roas"] = ok["revenue"] / ok["spend"].where(ok["spend"] > 0)
    ok = ok.drop(columns=["price"], errors="ignore")
    table = table.drop(columns=["price"], errors="ignore")
    table = table.merge(ok[[c for c in ok.columns if c not in table.columns] + ["budget"]],
                        on="budget", how="left")
    frontier = Frontier(table, base, p.goal, p.currency,
                        target_text=p.target.text if p.target is not None else None)
    if p.target is not None and "target_ok" in ok:
        frontier.target_budget = _crossing(ok["budget"].to_numpy(),
                                           ok["target_ok"].to_numpy(dtype=bool))
    if "marginal_value" in ok and len(ok) >= 2:
        frontier.breakeven_budget = _crossing(ok["budget"].to_numpy(),
                                              ok["marginal_value"].to_numpy() >= 1.0)
        if frontier.breakeven_budget == float(ok["budget"].iloc[-1]):
            frontier.breakeven_budget = None  # still above 1 at the top of the range
    return frontier
