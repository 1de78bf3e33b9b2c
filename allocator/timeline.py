"""A plan over periods as finance and planners read it: per line x period, per period, the
lines x periods sheet, the carryover left at the end, and what moving money between
periods is worth. Computed from the Problem (with its periods layout) and the plan's spend;
it never solves.

The outcome of a line in a period is split by where its effective spend came from, in
proportion: this period's spend, earlier periods' spend (carryover within the plan) and
spend before the plan (history). With carryover after saturation each period's response
is spread instead, and the split is exact: this period's response, the responses landing
from earlier periods, those from before the plan.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .problem import Problem

__all__ = ["Timeline", "make_timeline"]


@dataclass
class Timeline:
    labels: list[str]  # the plan's periods (then the periods after it that count)
    long: pd.DataFrame  # one row per line x period
    periods: pd.DataFrame  # one row per period: spend, budget, value, next / last 1k
    wide: pd.DataFrame  # spend, lines x periods (the sheet finance pastes)
    carry_left: pd.DataFrame  # per line: effective spend still working after the plan
    moves: list[str]  # "moving 1,000 from March to January is worth 420"

    def sheets(self) -> dict[str, pd.DataFrame]:
        """The tables every writer (CSV, Excel, JSON) takes, by one name each."""
        return {"periods": self.periods, "line x period": self.long,
                "lines x periods": self.wide.reset_index(),
                "carryover after the plan": self.carry_left}

    def to_dict(self) -> dict:
        import json

        return {name.replace(" ", "_"): json.loads(df.to_json(orient="records"))
                for name, df in self.sheets().items()} | {"moves": self.moves}


def _split(p: Problem, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per flat line: the effective spend from this period, earlier periods, history."""
    lay = p.layout
    w0 = np.array([lay.weights[lay.line_of[i]][0] for i in range(p.n)])
    own = w0 * x / lay.cost
    total = p.effective(x)
    history = p.carry0.copy()
    earlier = np.maximum(total - own - history, 0.0)
    return own, earlier, history


def make_timeline(p: Problem, x: np.ndarray, *, currency: str,
                  kpi: dict[str, str] | None = None,
                  per: dict[str, float] | None = None) -> Timeline:
    """`kpi` and `per`: each stage's KPI name and the outcomes its unit cost counts
    (1,000 for a CPM)."""
    lay = p.layout
    labels = lay.all_labels
    y = p.outcomes(x)
    e = p.effective(x)
    if p.land is not None:  # after saturation: each period's response, landing later too
        w0 = np.array([lay.weights[lay.line_of[i]][0] for i in range(p.n)])
        from_own = w0 * p.responses(x)
        from_history = p.land0.copy()
        from_earlier = np.maximum(y - from_own - from_history, 0.0)
    else:
        own, earlier, history = _split(p, x)
        with np.errstate(invalid="ignore", divide="ignore"):
            frac = np.where(e > 0, 1.0 / e, 0.0)
            from_own = np.where(e > 0, y * own * frac, y)
            from_earlier = y * earlier * frac
            from_history = y * history * frac
    scale = np.array([(per or {}).get(s, 1.0) for s in p.stages])
    with np.errstate(invalid="ignore", divide="ignore"):
        unit = np.where(y > 0, x * scale / y, np.nan)
    marginal = p.marginal_returns(x)
    disc = lay.discount()
    base = [lay.lines[i] for i in lay.line_of]
    period = [labels[t] for t in lay.period_of]
    value = p.value_per_outcome * y
    long = pd.DataFrame({
        "line": base, "period": period, "in_plan": lay.in_plan(),
        "stage": p.stages, "platform": p.platforms,
        "kpi": [(kpi or {}).get(s, "") for s in p.stages],
        "spend": x, "effective_spend": e, "outcome": y,
        "outcome_from_this_period": from_own, "outcome_from_earlier_periods": from_earlier,
        "outcome_from_before_the_plan": from_history,
        "unit_cost": unit, "value": value, "discount_factor": disc,
        "marginal_return": np.where(lay.in_plan() & (p.hi > 0), marginal, np.nan),
        "seasonal_response": lay.response, "seasonal_cost": lay.cost,
    })

    rows = []
    for t, label in enumerate(labels):
        m = lay.period_of == t
        b = lay.budgets.get(label)
        room = m & (x < p.hi * (1 - 1e-9)) & (p.hi > 0)
        give = m & (x > np.maximum(p.lo, p.threshold) * (1 + 1e-9))
        rows.append({
            "period": label, "in_plan": t < lay.n_periods,
            "days": lay.days[t] if lay.days and t < len(lay.days) else np.nan,
            "spend": float(x[m].sum()),
            "budget_min": b.min if b is not None and b.min is not None else np.nan,
            "budget_max": b.max if b is not None and b.max is not None else np.nan,
            "budget_share_min": b.share.min if b is not None and b.share is not None
            and b.share.min is not None else np.nan,
            "budget_share_max": b.share.max if b is not None and b.share is not None
            and b.share.max is not None else np.nan,
            "value": float(value[m].sum()),
            "value_from_earlier_periods": float((p.value_per_outcome * from_earlier)[m].sum()),
            "value_from_before_the_plan": float((p.value_per_outcome * from_history)[m].sum()),
            # the best use of one more unit of money in this period, and what the last one
            # spent there earns (where money could be taken from)
            "next_1k_buys": 1e3 * float(np.max(marginal[room])) if room.any() else np.nan,
            "last_1k_buys": 1e3 * float(np.min(marginal[give])) if give.any() else np.nan,
        })
    periods = pd.DataFrame(rows)
    if lay.days:
        periods["spend_per_day"] = periods["spend"] / periods["days"]

    plan = long[long["in_plan"]]
    wide = plan.pivot(index="line", columns="period", values="spend")
    wide = wide.reindex(index=lay.lines, columns=lay.labels)
    wide["total"] = wide.sum(axis=1)
    wide.loc["total"] = wide.sum(axis=0)
    wide.index.name = "line"

    # the effective spend each line still carries into the first period after the plan
    left = []
    T = lay.n_periods
    for ln, name in enumerate(lay.lines):
        w = lay.weights[ln]
        carried = 0.0
        for t in range(T):
            k = T - t
            if k < len(w):
                i = lay.index(ln, t)
                carried += w[k] * x[i] / lay.cost[i]
        for m, h in enumerate(reversed(lay.history[ln]), start=1):  # m periods before
            if T + m < len(w):
                carried += w[T + m] * h
        left.append({"line": name, "effective_spend_after_plan": carried})
    carry_left = pd.DataFrame(left)

    moves = []
    inplan = periods[periods["in_plan"]]
    if len(inplan) > 1 and inplan["next_1k_buys"].notna().any() and \
            inplan["last_1k_buys"].notna().any():
        to = inplan.loc[inplan["next_1k_buys"].idxmax()]
        frm = inplan.loc[inplan["last_1k_buys"].idxmin()]
        if to["period"] != frm["period"]:
            gain = float(to["next_1k_buys"] - frm["last_1k_buys"])
            moves.append(f"moving {currency} 1,000 from {frm['period']} to {to['period']} "
                         f"would change the objective by {gain:+,.0f}"
                         + (" (their period budgets hold the plan where it is)"
                            if gain > 0 else " (the phasing is already the best)"))
    return Timeline(labels=labels, long=long, periods=periods, wide=wide,
                    carry_left=carry_left, moves=moves)
