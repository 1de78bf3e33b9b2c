"""An independent constraint checker: reads the scenario itself, not the compiled rows."""

from __future__ import annotations

import numpy as np

from allocator.scenario import Scenario, Selector


def scenario_violations(sc: Scenario, x: np.ndarray, rel: float = 1e-6) -> list[str]:
    lines = sc.lines
    y = np.array([float(sc.curve(line).value(xi)) for line, xi in zip(lines, x, strict=True)])
    rev = np.array([sc.revenue_per_outcome(line) for line in lines])
    total = x.sum()
    tol = rel * max(total, 1.0)
    out = []

    def members(sel: Selector) -> np.ndarray:
        return np.array([sel.matches(line) for line in lines])

    if sc.budget is not None:
        if sc.budget.max is not None and total > sc.budget.max + tol:
            out.append(f"budget: spends {total} > {sc.budget.max}")
        if sc.budget.min is not None and total < sc.budget.min - tol:
            out.append(f"budget: spends {total} < {sc.budget.min}")
    for line, xi in zip(lines, x, strict=True):
        if xi < line.min - tol or xi < -tol:
            out.append(f"{line.name}: {xi} below min {line.min}")
        if line.max is not None and xi > line.max + tol:
            out.append(f"{line.name}: {xi} above max {line.max}")
        if line.min_if_active and tol < xi < line.min_if_active - tol:
            out.append(f"{line.name}: {xi} neither 0 nor >= {line.min_if_active}")
    for c in sc.constraints:
        m = members(c.select)
        spend, outcome = x[m].sum(), y[m].sum()
        scale = max(spend, outcome, 1.0)
        if c.share:
            if c.share.min is not None and spend < c.share.min * total - tol:
                out.append(f"share min {c.select.label}")
            if c.share.max is not None and spend > c.share.max * total + tol:
                out.append(f"share max {c.select.label}")
        if c.spend:
            if c.spend.min is not None and spend < c.spend.min - tol:
                out.append(f"spend min {c.select.label}")
            if c.spend.max is not None and spend > c.spend.max + tol:
                out.append(f"spend max {c.select.label}")
        if c.outcome:
            if c.outcome.min is not None and outcome < c.outcome.min - rel * scale:
                out.append(f"outcome min {c.select.label}: {outcome} < {c.outcome.min}")
            if c.outcome.max is not None and outcome > c.outcome.max + rel * scale:
                out.append(f"outcome max {c.select.label}")
        if c.cpa_max is not None and spend > c.cpa_max * outcome + rel * scale * c.cpa_max:
            out.append(f"cpa {c.select.label}: {spend / max(outcome, 1e-12)} > {c.cpa_max}")
        if c.roas_min is not None and (rev[m] * y[m]).sum() < c.roas_min * spend - tol:
            out.append(f"roas {c.select.label}")
        if c.max_active is not None and int((x[m] > tol).sum()) > c.max_active:
            out.append(f"active {c.select.label}: {(x[m] > tol).sum()} > {c.max_active}")
    for p in sc.pools:
        a, s = y[members(p.lines)].sum(), y[members(p.source)].sum()
        if a > p.rate * s + rel * max(a, 1.0):
            out.append(f"pool {p.label}: {a} > {p.rate} x {s}")
    if sc.guidelines is not None and sc.guidelines.enforce == "hard":
        for stage, (lo, hi) in sc.guideline_bands().items():
            spend = x[members(Selector(stage=stage))].sum()
            if spend < lo * total - tol or spend > hi * total + tol:
                out.append(f"guideline {stage}: {spend / total:.4f} outside [{lo}, {hi}]")
    return out


def objective_of(sc: Scenario, x: np.ndarray) -> float:
    """The objective recomputed from the scenario (soft guideline penalties included)."""
    lines = sc.lines
    y = np.array([float(sc.curve(line).value(xi)) for line, xi in zip(lines, x, strict=True)])
    goal = sc.objective.goal.value
    if goal == "conversions":
        sel = sc.objective.select or Selector(stage="conversion")
        val = sum(yi for line, yi in zip(lines, y, strict=True) if sel.matches(line))
    elif goal == "revenue":
        val = sum(sc.revenue_per_outcome(line) * yi for line, yi in zip(lines, y, strict=True))
    elif goal == "min_spend":
        val = -x.sum()
    else:
        val = sum(sc.value_per_outcome(line) * yi for line, yi in zip(lines, y, strict=True))
        if goal == "profit":
            val -= x.sum()
    g = sc.guidelines
    if g is not None and g.enforce == "soft":
        total = x.sum()
        ref = sc.budget.max if sc.budget and sc.budget.max else total
        for stage, (lo, hi) in sc.guideline_bands().items():
            spend = x[[line.stage == stage for line in lines]].sum()
            short = max(0.0, lo * total - spend) + max(0.0, spend - hi * total)
            val -= g.penalty_per_point * short / (0.01 * ref)
    return float(val)
