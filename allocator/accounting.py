"""One accounting for a plan, defined once and read by every output.

A plan's figures, kept apart because finance signs off on each:

- `value`: what the outcomes are worth, gross (the goal's units: value or revenue in
  currency, or a count of conversions);
- `spend`: the money the plan spends;
- `earned`: what a planner means by the plan's worth: the value, or for a profit goal the
  value less the spend, or for a minimised spend the spend;
- `penalties`: the soft guidelines' charge, band by band (points outside and currency);
- `objective`: what the solver maximised, `earned - penalties` (spend negated when
  minimised): the certificate's bound and gap are on this figure.

Marginals are computed here one way: `marginal_net` is what the next unit of currency on
each line adds to the objective after the line's own cost and the guideline penalties it
moves; an unfunded line's figure is its best first block (the whole `min_if_active` when it
has one, the best chord on an S-curve). `reconcile` ties these to the constraints' shadow
prices: at the optimum, a funded line away from its bounds earns exactly the budget's price
plus the prices of the other binding rows it sits in (the KKT conditions).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .problem import Problem, Row

__all__ = ["Band", "Accounting", "account", "marginal_net", "reconcile", "figure_label",
           "budget_price"]


@dataclass(frozen=True)
class Band:
    """One guideline band and where a plan sits against it."""

    stage: str
    low: float  # share of total spend, 0..1
    high: float
    share: float  # the plan's share
    soft: bool
    points_outside: float  # percentage points outside the band (0 inside)
    side: str  # "" inside, "below" or "above"
    penalty: float  # objective charged for it (0 for a hard band or inside)
    spend_outside: float  # currency of stage spend outside the band

    @property
    def holds(self) -> bool:
        return self.points_outside <= 1e-6

    def words(self, currency: str) -> str:
        """'awareness 49.0 %, band 70-80 % (soft): below by 21.0 points, penalty EUR 8,400'."""
        band = f"{self.low:.0%}-{self.high:.0%}"
        head = f"{self.stage} {self.share:.1%}, band {band} ({'soft' if self.soft else 'hard'})"
        if self.holds:
            return f"{head}: inside"
        text = f"{head}: {self.side} by {self.points_outside:.1f} points"
        if self.soft:
            text += f", penalty {currency} {self.penalty:,.0f}"
        return text


@dataclass(frozen=True)
class Accounting:
    goal: str
    currency: str
    value: float
    spend: float
    earned: float
    penalties: float
    objective: float
    bands: list[Band] = field(default_factory=list)

    @property
    def value_label(self) -> str:
        return figure_label("value", self.goal, self.currency)

    @property
    def earned_label(self) -> str:
        return figure_label("earned", self.goal, self.currency)

    def as_dict(self) -> dict:
        return {"value": self.value, "value_label": self.value_label, "spend": self.spend,
                "earned": self.earned, "earned_label": self.earned_label,
                "guideline_penalties": self.penalties, "objective_net": self.objective,
                "guideline_bands": [{
                    "stage": b.stage, "low": b.low, "high": b.high, "share": b.share,
                    "soft": b.soft, "holds": b.holds, "side": b.side,
                    "points_outside": b.points_outside, "spend_outside": b.spend_outside,
                    "penalty": b.penalty} for b in self.bands]}

    def rows(self) -> list[tuple[str, float]]:
        """The figures as (label, amount) rows, as the summary sheet and report list them."""
        out = [(self.value_label, self.value), (f"spend ({self.currency})", self.spend)]
        if self.earned_label != self.value_label and self.goal != "min_spend":
            out.append((self.earned_label, self.earned))
        if self.bands and any(b.soft for b in self.bands):
            out.append((f"guideline penalties ({self.currency})", self.penalties))
            out.append(("objective, net of penalties", self.objective))
        return out


def figure_label(which: str, goal: str, currency: str) -> str:
    """How a figure is named for a goal: 'value (EUR)', 'profit (EUR)', 'conversions'."""
    if which == "value":
        return {"conversions": "conversions", "revenue": f"revenue ({currency})"}.get(
            goal, f"value ({currency})")
    return {"conversions": "conversions", "revenue": f"revenue ({currency})",
            "profit": f"profit ({currency})", "min_spend": f"spend ({currency})"}.get(
        goal, f"value ({currency})")


def _guideline_rows(p: Problem) -> dict[str, list[tuple[str, Row]]]:
    """Soft or hard guideline rows by stage: [('min' | 'max', row)], one pair per period
    when the bands hold per period."""
    out: dict[str, list[tuple[str, Row]]] = {}
    for r in p.rows:
        if r.kind == "guideline" and r.name.startswith("guideline share[stage="):
            stage = r.name[len("guideline share[stage="):].split("]")[0].split(",")[0]
            out.setdefault(stage, []).append((r.name.rsplit(".", 1)[-1], r))
    return out


def bands(p: Problem, x: np.ndarray, bands_by_stage: dict[str, tuple[float, float]]
          ) -> list[Band]:
    y = p.outcomes(x)
    total = float(np.sum(x))
    rows = _guideline_rows(p)
    stages = np.asarray(p.stages)
    out = []
    for stage, (lo, hi) in bands_by_stage.items():
        share = float(x[stages == stage].sum()) / total if total > 0 else 0.0
        found = rows.get(stage, [])
        soft = any(r.penalty for _, r in found)
        sides, outside, penalty = set(), 0.0, 0.0
        for key, r in found:
            v = r.violation(x, y)
            if v > 1e-9 * max(total, 1.0):
                sides.add("below" if key == "min" else "above")
                outside += v
                penalty += (r.penalty or 0.0) * v
        points = 100.0 * outside / total if total > 0 else 0.0
        side = " and ".join(sorted(sides))
        out.append(Band(stage, lo, hi, share, soft, points, side, penalty, outside))
    return out


def account(p: Problem, x: np.ndarray, bands_by_stage: dict[str, tuple[float, float]]
            ) -> Accounting:
    """The plan's figures at spend `x` (the plan's, or today's)."""
    y = p.outcomes(x)
    spend = float(np.sum(x))
    value = float(p.weight @ y)
    earned = spend if p.minimize_spend else value - p.spend_cost * spend
    penalties = p.penalty(x, y)
    return Accounting(p.goal, p.currency, value, spend, earned, penalties,
                      p.objective(x, y), bands(p, x, bands_by_stage))


def _grad(p: Problem, v: np.ndarray, x: np.ndarray, d: np.ndarray) -> np.ndarray:
    """d(v @ outcomes)/dx: per line (with carryover, through the periods it feeds)."""
    return p.pullback(v, x, d) if hasattr(p, "pullback") else v * d


def _penalty_gradient(p: Problem, x: np.ndarray, y: np.ndarray, d: np.ndarray,
                      kinks: bool = True) -> np.ndarray:
    """d(penalties)/dx per line at x, for the next unit of spend. A band's edge is a kink:
    stepping out of the band is charged (`kinks`), stepping into it is not."""
    g = np.zeros(p.n)
    for r in p.rows:
        if not r.penalty:
            continue
        v = r.lhs(x, y) - r.rhs
        grad = r.a + _grad(p, r.b, x, d)
        edge = abs(v) <= 1e-6 * r.scale(x, y)
        if edge:
            if not kinks:
                continue
            if r.sense in (">=", "=="):
                g += r.penalty * np.maximum(-grad, 0.0)
            if r.sense in ("<=", "=="):
                g += r.penalty * np.maximum(grad, 0.0)
        elif r.sense == ">=" and v < 0:
            g -= r.penalty * grad
        elif r.sense == "<=" and v > 0:
            g += r.penalty * grad
        elif r.sense == "==":
            g += math.copysign(r.penalty, v) * grad
    return g


def _first_block(p: Problem, i: int) -> float:
    """Best average rate of an unfunded line's first block: objective per currency of the
    block 0 -> t, over t from its min_if_active (or a small step) up to its ceiling."""
    hi = float(p.hi[i]) if math.isfinite(p.hi[i]) and p.hi[i] > 0 else 0.0
    if hi <= 0:
        return float(p.curve(i).derivative(np.array([0.0]))[0])
    lo = max(float(p.threshold[i]), float(p.lo[i]), hi * 1e-4)
    t = np.geomspace(min(lo, hi), hi, 64)
    f = np.array([float(p.curve(i).value(np.array([v]))[0]) for v in t])
    best = float(np.max(f / t))
    if p.threshold[i] <= 0:
        d0 = float(p.curve(i).derivative(np.array([0.0]))[0])
        best = max(best, d0 if math.isfinite(d0) else best)  # an infinite slope at 0: the
    return best                                              # best small block instead


def marginal_net(p: Problem, x: np.ndarray, kinks: bool = True) -> np.ndarray:
    """Objective added by the next unit of currency on each line, net of the line's cost and
    of the guideline penalties it moves. Unfunded lines: their best first block. Without
    `kinks`, a band's edge is not charged (`reconcile` prices it as a constraint)."""
    y = p.outcomes(x)
    with np.errstate(invalid="ignore", divide="ignore"):
        d = np.asarray(p.marginals(x), dtype=float)
    d = np.where(np.isfinite(d), d, 0.0)
    if getattr(p, "carry", None) is None:  # with carryover an unfunded line still has the
        for i in np.flatnonzero(x <= 0):   # spend carried into it: its slope is the figure
            d[i] = _first_block(p, int(i))
    gross = -np.ones(p.n) if p.minimize_spend else _grad(p, p.weight, x, d) - p.spend_cost
    return gross - _penalty_gradient(p, x, y, d, kinks)


def _active_rows(p: Problem, x: np.ndarray, binding: list[str]) -> list[Row]:
    """The rows the plan sits on: binding hard rows, and soft rows exactly at a band's
    edge (a kink of the penalty: such a row acts as a constraint priced from 0 to its
    penalty)."""
    y = p.outcomes(x)
    out = []
    for r in p.rows:
        if r.penalty:
            if abs(r.lhs(x, y) - r.rhs) <= 1e-6 * r.scale(x, y):
                out.append(r)
        elif r.name in binding:
            out.append(r)
    return out


def reconcile(p: Problem, x: np.ndarray, prices: dict[str, float],
              binding: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Tie the lines' net marginals to the constraints' prices (the KKT conditions).

    At the optimum, a funded line strictly inside its bounds earns, per unit of currency,
    the sum over the rows it sits on of the row's price times the line's weight in the row
    (for the budget: its price). The prices are fitted to the inside lines' marginals
    (least squares, each price with its sign; a soft band's edge from 0 to its penalty) and
    set beside the prices the solver measured by relaxing each row.

    Returns (lines, rows): per line its net marginal, what the fitted prices imply, the
    residual and its position (inside / floor / ceiling: <= 0 at a floor, >= 0 at a
    ceiling); per row the fitted and the measured price."""
    from scipy.optimize import lsq_linear

    y = p.outcomes(x)
    d = np.asarray(p.marginals(x), dtype=float)
    d = np.where(np.isfinite(d), d, 0.0)
    net = marginal_net(p, x, kinks=False)
    at_hi = np.array([x[i] >= p.hi[i] * (1 - 1e-6) for i in range(p.n)])
    # a floor: the line's min, or its min_if_active (below it the line can only stop)
    at_lo = x <= np.maximum(p.lo, p.threshold) * (1 + 1e-6) + 1e-9
    position = np.where(at_hi, "ceiling", np.where(at_lo, "floor", "inside"))
    position = np.where(p.hi <= np.maximum(p.lo, 0) + 1e-12, "fixed", position)  # no room
    rows = _active_rows(p, x, binding)
    # column k: the line's weight in row k, signed so that a positive price helps
    cols = np.array([(-1.0 if r.sense == ">=" else 1.0) * (r.a + _grad(p, r.b, x, d))
                     for r in rows]).T \
        if rows else np.zeros((p.n, 0))
    lo = np.array([-np.inf if r.sense == "==" else 0.0 for r in rows])
    hi = np.array([r.penalty if r.penalty else np.inf for r in rows])
    inside = position == "inside"
    fitted = np.zeros(len(rows))
    if rows and inside.any():
        # rows that hold together (exact period shares summing to 100 % beside an exact
        # budget) leave the prices undetermined: a light ridge picks the smallest ones
        # instead of an arbitrary 1e17 pair that cancels out
        A = cols[inside]
        ridge = 1e-6 * max(1.0, float(np.abs(A).max()))
        fit = lsq_linear(np.vstack([A, ridge * np.eye(len(rows))]),
                         np.r_[net[inside], np.zeros(len(rows))], bounds=(lo, hi),
                         method="bvls")
        fitted = fit.x
    implied = cols @ fitted if rows else np.zeros(p.n)
    lines = pd.DataFrame({"line": p.names, "spend": x, "marginal_net": net,
                          "implied": implied, "residual": net - implied,
                          "position": position, "outcome": y})
    table = pd.DataFrame({"constraint": [r.name for r in rows],
                          "soft": [bool(r.penalty) for r in rows],
                          "fitted_price": fitted,
                          "measured_price": [prices.get(r.name, np.nan) for r in rows]})
    return lines, table


def budget_price(p: Problem, x: np.ndarray) -> float:
    """What the next unit of budget adds to the objective at plan `x`: the budget row's
    price as `reconcile` fits it to the lines' net marginals (the figure the plan's
    constraints table shows); 0 when the budget does not bind, NaN when no line is free to
    take the next unit (no marginal to read it from)."""
    from .solve.prices import binding

    bind = binding(p, x)
    names = [r.name for r in p.rows if r.kind == "budget" and r.sense != ">="]
    if not any(n in bind for n in names):
        return 0.0
    lines, rows = reconcile(p, x, {}, bind)
    if not (lines["position"] == "inside").any():
        return math.nan
    found = rows[rows["constraint"].isin(names)]["fitted_price"]
    return float(found.iloc[0]) if len(found) else math.nan


def _fmt(v: float, unit: str, currency: str) -> str:
    if unit == "%":
        return f"{v:.1%}"
    if unit == "cur":
        return f"{currency} {v:,.0f}"
    if unit == "cur2":
        return f"{currency} {v:,.2f}"
    if unit == "x":
        return f"{v:.2f}"
    return f"{v:,.0f}"


def planner_terms(p: Problem, r: Row, x: np.ndarray, y: np.ndarray) -> tuple[str, str]:
    """Where the plan sits on a row and the row's limit, in planner units (shares in %,
    spend in currency, CPA in currency per outcome, ROAS as a ratio), never as slack."""
    cur = p.currency
    group = r.group if r.group is not None else None
    if r.kind == "budget":
        return _fmt(float(np.sum(x)), "cur", cur), _fmt(r.rhs, "cur", cur)
    if r.kind in ("share", "guideline"):
        g = group if group is not None else (r.a > 0).astype(float)
        total = float(np.sum(x))
        share = float(g @ x) / total if total > 0 else 0.0
        inside = np.flatnonzero(g > 0)
        limit = 1.0 - float(r.a[inside[0]]) if len(inside) else float("nan")
        return _fmt(share, "%", cur), _fmt(limit, "%", cur)
    if r.kind == "spend":
        g = group if group is not None else (r.a != 0).astype(float)
        return _fmt(float(g @ x), "cur", cur), _fmt(r.rhs, "cur", cur)
    if r.kind in ("cpa", "roas"):
        g = group if group is not None else ((r.a != 0) | (r.b != 0)).astype(float)
        inside = np.flatnonzero((g > 0) & (r.a != 0) & (r.b != 0))
        if not len(inside):
            return _fmt(r.lhs(x, y), "n", cur), _fmt(r.rhs, "n", cur)
        i = inside[0]
        spend = float(g @ x)
        if r.kind == "cpa":  # spend - t outcome <= 0
            out = float(g @ y)
            return (_fmt(spend / out, "cur2", cur) if out > 0 else "no outcome",
                    _fmt(-float(r.b[i] / r.a[i]), "cur2", cur))
        # revenue - r spend >= 0
        return (_fmt(float(r.b @ y) / spend, "x", cur) if spend > 0 else "no spend",
                _fmt(-float(r.a[i]), "x", cur))
    return _fmt(r.lhs(x, y), "n", cur), _fmt(r.rhs, "n", cur)
