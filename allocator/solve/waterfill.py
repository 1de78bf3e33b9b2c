"""Exact water-filling for concave curves under a total budget and per-line bounds.

Maximise sum_i w_i f_i(x_i) - c sum_i x_i  s.t.  B_lo <= sum x <= B_hi,  lo <= x <= hi.
At the optimum every funded line has the same marginal value mu = w_i f_i'(x_i) (between its
bounds), so x_i(mu) = clip(f_i'^-1(mu / w_i), lo_i, hi_i) and total spend falls as mu rises:
bisection on mu finds the budget. The Lagrangian dual gives the certificate for free:
    bound(mu) = sum_i max_{lo<=x<=hi} [w_i f_i(x) - mu x] + (mu - c) B,
an upper bound on the optimum for any mu >= c when the budget binds.
"""

from __future__ import annotations

import math
import time

import numpy as np

from ..errors import InfeasibleError
from ..problem import Problem
from .result import Solution

__all__ = ["waterfill"]


def _spend_at(p: Problem, mu: float) -> np.ndarray:
    """Each line's best spend when a unit of budget must earn at least mu."""
    w = p.weight
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(w > 0, mu / w, np.inf)
    x = p.bank.marginal_inverse(t) if mu > 0 else np.where(w > 0, np.inf, 0.0)
    return np.clip(x, p.lo, p.hi)


def _dual_bound(p: Problem, mu: float, budget: float) -> float:
    """Lagrangian bound: sum_i max [w f - mu x] + (mu - c) * budget, exact per line."""
    x = _spend_at(p, mu)
    return float(p.weight @ p.bank.value(x) - mu * x.sum()) + (mu - p.spend_cost) * budget


def waterfill(p: Problem, *, tol: float = 1e-9) -> Solution:
    """Solve the concave budget-and-bounds problem exactly (to `tol` relative in spend)."""
    start = time.perf_counter()
    c = p.spend_cost
    lo_total, hi_total = float(p.lo.sum()), float(p.hi.sum())
    if lo_total > p.budget_hi * (1 + 1e-12):
        raise InfeasibleError(f"line minimums add up to {lo_total:,.0f}, above the budget of "
                              f"{p.budget_hi:,.0f}")
    if hi_total < p.budget_lo * (1 - 1e-12):
        raise InfeasibleError(f"the budget must spend at least {p.budget_lo:,.0f} but line "
                              f"ceilings add up to only {hi_total:,.0f}")

    def total(mu: float) -> float:
        return float(_spend_at(p, mu).sum())

    # unconstrained optimum: marginal value equals the cost of a unit of spend (c, or 0+)
    mu_free = c if c > 0 else 0.0
    free_total = total(mu_free)
    if p.budget_lo - 1e-9 <= free_total <= p.budget_hi + 1e-9:
        x = _spend_at(p, mu_free)
        obj = p.objective(x)
        # lines are each at their own optimum: the bound is the objective itself
        return Solution(x, obj, obj, "waterfill", time.perf_counter() - start,
                        shadow_prices={"budget": 0.0})

    target = p.budget_hi if free_total > p.budget_hi else p.budget_lo
    if free_total < target and mu_free <= 0:
        # every line that earns is at its ceiling already; the rest of a budget that must be
        # spent goes to lines that earn nothing, pro rata to their room
        x = _spend_at(p, 0.0)
        room = np.where(p.weight <= 0, p.hi - x, 0.0)
        x = x + room * min(1.0, (target - x.sum()) / max(room.sum(), 1e-300))
        obj = p.objective(x)
        return Solution(x, obj, obj, "waterfill", time.perf_counter() - start,
                        shadow_prices={"budget" if p.budget_lo == p.budget_hi
                                       else "budget.min": 0.0})
    # bracket mu: spend(mu_a) >= target >= spend(mu_b)
    if free_total > target:
        mu_a = max(mu_free, 1e-300)
        mu_b = max(mu_a, 1.0) * 2.0
        while total(mu_b) > target:
            mu_a, mu_b = mu_b, mu_b * 16.0
            if mu_b > 1e300:
                raise InfeasibleError("cannot spend the budget within the line ceilings")
    else:  # must spend beyond the profitable point: mu below c
        mu_b, mu_a = mu_free, mu_free / 2.0
        while total(mu_a) < target and mu_a > 1e-300:
            mu_b, mu_a = mu_a, mu_a / 16.0
    # bisection on log(mu): spend is monotone in mu
    for _ in range(200):
        if mu_b / mu_a - 1.0 < tol * 1e-3:
            break
        mid = math.sqrt(mu_a * mu_b) if mu_a > 0 else mu_b / 2.0
        if total(mid) >= target:
            mu_a = mid
        else:
            mu_b = mid
    x_a, x_b = _spend_at(p, mu_a), _spend_at(p, mu_b)
    s_a, s_b = x_a.sum(), x_b.sum()
    # lines on flat stretches of marginal (linear, points) jump between brackets: blend
    theta = 0.0 if s_a == s_b else (s_a - target) / (s_a - s_b)
    x = x_a + np.clip(theta, 0.0, 1.0) * (x_b - x_a)
    x = np.clip(x, p.lo, p.hi)
    if target > 0 and abs(x.sum() - target) > 1e-7 * target:
        # lines with zero weight (no value) absorb a budget that must be spent
        room = np.where(p.weight <= 0, p.hi - x, 0.0)
        need = target - x.sum()
        if need > 0 and room.sum() > 0:
            x = x + room * min(1.0, need / room.sum())
    obj = p.objective(x)
    if free_total > target:
        bound = min(_dual_bound(p, mu_a, target), _dual_bound(p, mu_b, target))
    else:  # budget floor binds: the dual bound with mu below c
        bound = min(_dual_bound(p, mu_a, target), _dual_bound(p, mu_b, target))
    bound = max(bound, obj)  # the dual bound is >= primal up to rounding
    mu = math.sqrt(mu_a * mu_b)
    if p.budget_lo == p.budget_hi:
        prices = {"budget": mu - c}  # d objective / d budget, negative if spending hurts
    elif free_total > target:
        prices = {"budget": mu - c}
    else:
        prices = {"budget.min": c - mu}
    return Solution(x, obj, bound, "waterfill", time.perf_counter() - start,
                    shadow_prices=prices)
