"""Plan: the allocation as finance reads it — per line, stage and platform, the certificate,
binding constraints with shadow prices, the change against the baseline; and its export.

A Plan is computed from the scenario, the compiled problem and the solver's solution; it
never solves. What people read of it (console, CSV, JSON, Excel, charts, report) is
written by `allocator.outputs`.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from . import __version__
from .accounting import Accounting
from .problem import Problem, violations
from .scenario import Scenario
from .solve import Solution
from .solve.prices import binding

__all__ = ["Plan", "make_plan", "plan_scenario", "input_hash"]


@dataclass
class Plan:
    scenario: Scenario
    problem: Problem
    solution: Solution
    lines: pd.DataFrame
    stages: pd.DataFrame
    platforms: pd.DataFrame
    constraints: pd.DataFrame
    baseline_objective: float | None = None
    baseline_violations: list[str] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    # one accounting (allocator.accounting): value, spend, penalties, objective; today's too
    accounting: Accounting | None = None
    baseline_accounting: Accounting | None = None
    reconciliation: pd.DataFrame | None = None  # per line: net marginal against the prices
    timeline: Any = None  # a plan over periods: allocator.timeline.Timeline

    @property
    def currency(self) -> str:
        return self.scenario.currency

    @property
    def total_spend(self) -> float:
        return float(self.lines["spend"].sum())

    def shown(self, objective: float) -> float:
        """An objective value as planners read it: a minimised spend is solved negated."""
        return abs(objective) if self.problem.minimize_spend else objective

    @property
    def objective_label(self) -> str:
        goal = self.problem.goal
        return {"conversions": "conversions", "revenue": f"revenue ({self.currency})",
                "value": f"value ({self.currency})", "profit": f"profit ({self.currency})",
                "min_spend": f"spend ({self.currency}, minimised)"}[goal]

    def summary(self) -> dict:
        s = self.solution
        out = {
            "scenario": self.scenario.name,
            "status": s.status,
            "objective": self.problem.goal,
            "objective_value": s.objective,
            "bound": s.bound,
            "gap": s.gap,
            "solver": s.method,
            "seconds": s.seconds,
            "refinement_rounds": s.rounds,
            "total_spend": self.total_spend,
            "currency": self.currency,
            "notes": list(s.notes),
        }
        if self.accounting is not None:
            out.update(self.accounting.as_dict())
        if self.baseline_accounting is not None:
            out["baseline"] = self.baseline_accounting.as_dict()
        if self.baseline_objective is not None:
            out["baseline_objective"] = self.baseline_objective
            out["baseline_feasible"] = not self.baseline_violations
            out["baseline_violations"] = self.baseline_violations
        return out

    def to_dict(self) -> dict:
        def records(df: pd.DataFrame) -> list[dict]:
            return json.loads(df.to_json(orient="records"))

        return {
            "summary": self.summary(),
            "lines": records(self.lines),
            "stages": records(self.stages),
            "platforms": records(self.platforms),
            "constraints": records(self.constraints),
            "tool": {"name": "allocator", "version": __version__},
        }


def _ratio(num: np.ndarray | float, den: np.ndarray | float) -> np.ndarray:
    num, den = np.asarray(num, dtype=float), np.asarray(den, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / den, np.nan)


def _shadow_words(row, price: float, p: Problem, x: np.ndarray, y: np.ndarray) -> str:
    """A shadow price in a planner's units: 'another EUR 1,000 of budget is worth 499 value'."""
    what = {"conversions": "conversions", "min_spend": f"{p.currency} of spend saved"}.get(
        p.goal, f"{p.currency} of {p.goal}")
    verb = "is worth" if price >= 0 else "would cost"
    amount = abs(price)
    if row is None:  # a line's ceiling
        return f"another {p.currency} 1,000 of room on this line {verb} {amount * 1e3:,.2f} {what}"
    if row.kind == "budget":
        return f"another {p.currency} 1,000 of budget {verb} {amount * 1e3:,.2f} {what}"
    if row.kind == "spend":
        return f"another {p.currency} 1,000 of room here {verb} {amount * 1e3:,.2f} {what}"
    if row.kind in ("share", "guideline"):
        point = 0.01 * float(x.sum())
        return f"moving this limit by 1 point {verb} {amount * point:,.2f} {what}"
    if row.kind == "cpa" and row.group is not None:
        return (f"a CPA ceiling {p.currency} 1 higher {verb} "
                f"{amount * float(row.group @ y):,.2f} {what}")
    if row.kind == "roas" and row.group is not None:
        return (f"a ROAS floor 0.1 lower {verb} {amount * 0.1 * float(row.group @ x):,.2f} "
                f"{what}")
    return f"one more outcome of room here {verb} {amount:,.4g} {what}"


def make_plan(sc: Scenario, p: Problem, sol: Solution) -> Plan:
    """Tables and checks for a solved problem."""
    p = sol.problem or p  # target efficiency solves with its target row and found budget
    if sc.periods is not None:  # the tables are per line x period
        from .periods import flatten

        sc = flatten(sc)[0]
    x = sol.x
    y = p.outcomes(x)
    with np.errstate(invalid="ignore"):
        d = p.marginals(x)
        d = np.where((x > 0) & np.isfinite(d), d, 0.0) if p.carry is None else \
            np.where(np.isfinite(d), d, 0.0)

    def per_unit(v: np.ndarray) -> np.ndarray:
        """What the next unit of currency on each line adds to v @ outcomes (with
        carryover: in its own and later periods)."""
        return p.pullback(v, x, d)
    stage_per = np.array([sc.stages[s].per for s in p.stages])
    total = max(float(x.sum()), 1e-12)
    value = p.value_per_outcome * y
    revenue = p.revenue_per_outcome * y
    lines = pd.DataFrame({
        "line": p.names,
        "stage": p.stages,
        "platform": p.platforms,
        "market": [line.market for line in sc.lines],
        "kind": [line.kind for line in sc.lines],
        "spend": x,
        "share_of_total": x / total,
        "outcome": y,
        "kpi": [sc.stages[s].kpi for s in p.stages],
        "unit_cost": _ratio(x * stage_per, y),
        "unit_cost_label": [sc.stages[s].unit_cost_label for s in p.stages],
        "value": value,
        "revenue": revenue,
        "roas": np.where(p.revenue_per_outcome > 0, _ratio(revenue, x), np.nan),
        "marginal_roas": np.where(p.revenue_per_outcome > 0, per_unit(p.revenue_per_outcome),
                                  np.nan),
        "marginal_value": per_unit(p.value_per_outcome),
        # objective gained by the next unit of currency on this line (after its own cost)
        "marginal_return": (np.zeros(p.n) - 1.0) if p.minimize_spend
        else per_unit(p.weight) - p.spend_cost,
        "min": p.lo,
        "max": np.where([r in ("budget", "reach") for r in p.hi_reason], np.nan, p.hi),
        "min_if_active": np.where(p.threshold > 0, p.threshold, np.nan),
    })
    stage_spend = lines.groupby("stage", sort=False)["spend"].transform("sum")
    lines.insert(7, "share_of_stage", _ratio(lines["spend"], stage_spend))
    if p.baseline is not None:
        lines["baseline"] = p.baseline
        lines["change"] = x - p.baseline
        lines["change_pct"] = _ratio(x - p.baseline, p.baseline)

    def summarise(by: str) -> pd.DataFrame:
        agg = {"spend": "sum", "outcome": "sum", "value": "sum", "revenue": "sum"}
        if p.baseline is not None:
            agg["baseline"] = "sum"
        g = lines.groupby(by, sort=False).agg(agg)
        # the scenario's order (top of the funnel first), not the order lines come in
        declared = list(sc.stages if by == "stage" else sc.platforms)
        g = g.iloc[sorted(range(len(g)), key=lambda k: declared.index(g.index[k])
                          if g.index[k] in declared else len(declared) + k)].reset_index()
        g.insert(2, "share_of_total", g["spend"] / total)
        g["roas"] = np.where(g["revenue"] > 0, _ratio(g["revenue"], g["spend"]), np.nan)
        if by == "stage":
            per = np.array([sc.stages[s].per for s in g["stage"]])
            g["kpi"] = [sc.stages[s].kpi for s in g["stage"]]
            g["unit_cost"] = _ratio(g["spend"] * per, g["outcome"])
            g["unit_cost_label"] = [sc.stages[s].unit_cost_label for s in g["stage"]]
        else:
            g = g.drop(columns="outcome")  # platforms mix KPIs: outcomes do not add up
        if p.baseline is not None:
            g["change"] = g["spend"] - g["baseline"]
        return g

    stages, platforms = summarise("stage"), summarise("platform")

    rows = []
    bind = set(binding(p, x))
    for r in p.rows:
        price = sol.shadow_prices.get(r.name, np.nan)
        rows.append({
            "constraint": r.name, "kind": r.kind, "rule": r.text, "value": r.lhs(x, y),
            "limit": r.rhs, "binding": r.name in bind,
            "soft": bool(r.penalty), "violation": r.violation(x, y), "shadow_price": price,
            "meaning": _shadow_words(r, price, p, x, y)
            if r.name in bind and np.isfinite(price) and price != 0 else "",
        })
    for lim in p.active_limits:
        count = int(np.sum(x[lim.index] > 0))
        rows.append({"constraint": lim.name, "kind": "active", "rule": lim.text,
                     "value": count, "limit": lim.k, "binding": count == lim.k, "soft": False,
                     "violation": max(0, count - lim.k), "shadow_price": np.nan,
                     "meaning": ""})
    for i in range(p.n):
        name = f"line:{p.names[i]}.max"
        if name in bind:
            price = sol.shadow_prices.get(name, np.nan)
            rows.append({"constraint": name, "kind": "line", "rule":
                         f"line {p.names[i]} spend <= {p.hi[i]:,.0f}", "value": x[i],
                         "limit": p.hi[i], "binding": True, "soft": False, "violation": 0.0,
                         "shadow_price": price, "meaning": _shadow_words(None, price, p, x, y)
                         if np.isfinite(price) and price != 0 else ""})
    constraints = pd.DataFrame(rows, columns=["constraint", "kind", "rule", "value", "limit",
                                              "binding", "soft", "violation", "shadow_price",
                                              "meaning"])

    plan = Plan(sc, p, sol, lines, stages, platforms, constraints, violations=violations(p, x))
    if p.baseline is not None:
        plan.baseline_objective = p.objective(p.baseline)
        plan.baseline_violations = violations(p, p.baseline)
    _account(plan, sc, p, x)
    if p.layout is not None:
        from .timeline import make_timeline

        plan.timeline = make_timeline(p, x, currency=p.currency,
                                      kpi={s: sc.stages[s].kpi for s in sc.stages},
                                      per={s: sc.stages[s].per for s in sc.stages})
    return plan


# --- the accounting (allocator.accounting): one set of figures for every output ------------


def _account(plan: Plan, sc: Scenario, p: Problem, x: np.ndarray) -> None:
    """Value, spend, penalties and objective apart; net marginals on every line (unfunded
    lines: their best first block); each constraint where the plan sits in planner units,
    and the price that reconciles the lines' marginals with the budget's."""
    from .accounting import account, marginal_net, planner_terms, reconcile

    bands = sc.guideline_bands()
    plan.accounting = account(p, x, bands)
    if p.baseline is not None:
        plan.baseline_accounting = account(p, p.baseline, bands)
    plan.lines["marginal_return"] = marginal_net(p, x)
    y = p.outcomes(x)
    bind = binding(p, x)
    lines, prices = reconcile(p, x, plan.solution.shadow_prices, bind)
    plan.reconciliation = lines
    fitted = dict(zip(prices["constraint"], prices["fitted_price"], strict=True))
    rows = {r.name: r for r in p.rows}
    cons = plan.constraints
    at, limit, price = [], [], []
    for _, c in cons.iterrows():
        r = rows.get(c["constraint"])
        if r is not None:
            a, lim = planner_terms(p, r, x, y)
        elif c["kind"] == "line":
            a, lim = f"{p.currency} {c['value']:,.0f}", f"{p.currency} {c['limit']:,.0f}"
        else:
            a, lim = f"{c['value']:,.0f}", f"{c['limit']:,.0f}"
        at.append(a)
        limit.append(lim)
        measured = c["shadow_price"]
        price.append(fitted.get(c["constraint"], measured if np.isfinite(measured) else np.nan))
    cons.insert(3, "plan_at", at)
    cons.insert(4, "limit_at", limit)
    cons["price"] = price
    # a soft band's edge the plan sits on holds like a constraint: it is binding, with a price
    edge = cons["constraint"].isin([n for n in fitted if rows[n].penalty])
    cons.loc[edge, "binding"] = True
    cons["meaning"] = [
        _shadow_words(rows.get(c["constraint"]), c["price"], p, x, y)
        if c["binding"] and np.isfinite(c["price"]) and abs(c["price"]) > 1e-12 else ""
        for _, c in cons.iterrows()]


# --- files -----------------------------------------------------------------------------------


def input_hash(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def plan_scenario(sc: Scenario, **solve_options) -> Plan:
    """Compile, solve and tabulate a scenario: the whole main job from Python."""
    from .problem import compile_problem
    from .solve import solve

    p = compile_problem(sc)
    return make_plan(sc, p, solve(p, **solve_options))
