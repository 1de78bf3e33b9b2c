"""Scenario -> Problem: the numeric form the solvers work on (vectors, constraint rows).

Every constraint becomes a `Row`: a x + b y (sense) rhs over spend x and outcome y = f(x),
with the stable business name that reappears in duals, infeasibility messages and reports.
Nothing here solves; nothing downstream reads the scenario again.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from . import curves as cv
from .scenario import Goal, Mode, Scenario, Selector

__all__ = ["Row", "ActiveLimit", "Problem", "compile_problem", "REACH_LIMIT"]

# the largest spend one line may take where the scenario sets no ceiling: beyond it floats
# lose the cents and the MILP solver its footing
REACH_LIMIT = 1e12

Array = np.ndarray


@dataclass(frozen=True)
class Row:
    """One linear constraint on spend and outcomes: a @ x + b @ y (sense) rhs."""

    name: str
    kind: str  # budget | share | spend | outcome | cpa | roas | pool | guideline | target
    a: Array
    b: Array
    sense: str  # "<=", ">=" or "=="
    rhs: float
    text: str  # the constraint in a planner's words
    penalty: float | None = None  # soft: objective lost per unit of violation
    group: Array | None = None  # the selected lines (1/0), for reporting per planner units

    def lhs(self, x: Array, y: Array) -> float:
        return float(self.a @ x + self.b @ y)

    def scale(self, x: Array, y: Array) -> float:
        """The row's own size at a plan: tolerances are relative to it."""
        return max(abs(self.rhs), float(np.abs(self.a) @ x + np.abs(self.b) @ y), 1.0)

    def violation(self, x: Array, y: Array) -> float:
        """How far the plan breaks this row (0 when it holds), in the row's units."""
        v = self.lhs(x, y) - self.rhs
        if self.sense == "==":
            return abs(v)
        return max(0.0, v) if self.sense == "<=" else max(0.0, -v)

    @property
    def uses_outcome_negatively(self) -> Array:
        """Lines whose larger outcome makes this row harder: they need exact curves."""
        if self.sense == "==":
            return self.b != 0
        sign = 1.0 if self.sense == "<=" else -1.0
        return sign * self.b > 0


@dataclass(frozen=True)
class ActiveLimit:
    name: str
    index: Array
    k: int
    text: str


@dataclass(frozen=True)
class Problem:
    """Numeric arrays of one scenario. Pure data: solvers map Problem -> Plan."""

    names: list[str]
    stages: list[str]
    platforms: list[str]
    bank: cv.CurveBank  # the lines' response curves, vectorised
    lo: Array  # spend floor per line
    hi: Array  # spend ceiling per line (finite): line max, budget, or reach
    line_max: Array  # the line's own ceiling (max, marginal ROAS cap); inf where none
    hi_reason: list[str]  # which bound set hi: "max", "budget", "marginal_roas[...]", ...
    threshold: Array  # min_if_active (0 where none)
    weight: Array  # objective value per outcome
    spend_cost: float  # 1 for profit (value - spend), else 0
    minimize_spend: bool
    rows: list[Row]
    active_limits: list[ActiveLimit]
    value_per_outcome: Array
    revenue_per_outcome: Array
    baseline: Array | None
    budget_lo: float
    budget_hi: float
    currency: str = "EUR"
    goal: str = "value"
    target: Row | None = None  # target efficiency: the target's row (added per solve)
    mroas: Array | None = None  # marginal ROAS floor per line while active (0 where none)
    # soft guidelines with neither budget nor baseline: their penalties are per point, and a
    # point is 1 % of what the goal costs without them (the solver prices it: priced_points)
    point_from_plan: bool = False
    # plans over time: the curves take the effective spend e = carry @ x + carry0 (carryover
    # across periods); None: e = x. `layout` maps lines to line x period (periods.Layout)
    carry: Any = None
    carry0: Array | None = None
    layout: Any = None
    # carryover after saturation: each curve's response lands in this and later periods,
    # outcome = land @ f(e) + land0 (land0: what the history's responses still bring)
    land: Any = None
    land0: Array | None = None

    def priced_points(self, total: float) -> Problem:
        """Soft guideline rows priced with a point of share = 1 % of `total`."""
        point = 0.01 * max(total, 1e-9)
        rows = [replace(r, penalty=r.penalty / point) if r.kind == "guideline" and r.penalty
                else r for r in self.rows]
        return replace(self, rows=rows, point_from_plan=False)

    @property
    def n(self) -> int:
        return len(self.names)

    def curve(self, i: int) -> cv.Curve:
        return self.bank[i]

    def effective(self, x: Array) -> Array:
        """The spend each curve sees: x itself, or with carryover the carried-over spend."""
        if self.carry is None:
            return x
        return self.carry @ x + self.carry0

    @property
    def curve_hi(self) -> Array:
        """The largest effective spend each curve can see (its piecewise-linear range)."""
        return self.effective(self.hi)

    def responses(self, x: Array) -> Array:
        """Each curve's own response at its effective spend."""
        return self.bank.value(self.effective(x))

    def outcomes(self, x: Array) -> Array:
        """Each line's outcome (with carryover after saturation: the responses landing)."""
        y = self.responses(x)
        return y if self.land is None else self.land @ y + self.land0

    @property
    def curve_weight(self) -> Array:
        """The objective's weight on each curve's response."""
        return self.weight if self.land is None else self.land.T @ self.weight

    def marginals(self, x: Array) -> Array:
        """Each curve's slope at its effective spend (outcome per unit of effective spend)."""
        return self.bank.derivative(self.effective(x))

    def pullback(self, v: Array, x: Array, slopes: Array | None = None) -> Array:
        """The gradient of v @ outcomes(x) in the spend: per line, what one more unit of
        its spend adds to v @ y (with carryover, in this and later periods)."""
        d = self.marginals(x) if slopes is None else slopes
        if self.land is not None:
            v = self.land.T @ v
        with np.errstate(invalid="ignore"):  # a vertical slope (power at 0) of no weight
            g = np.where(v != 0, v * d, 0.0)
        return g if self.carry is None else self.carry.T @ g

    def marginal_returns(self, x: Array) -> Array:
        """Objective gained by the next unit of currency on each line (after its cost)."""
        if self.minimize_spend:
            return -np.ones(self.n)
        with np.errstate(invalid="ignore"):
            d = np.where(np.isfinite(self.marginals(x)), self.marginals(x), 0.0)
        return self.pullback(self.weight, x, d) - self.spend_cost

    def penalty(self, x: Array, y: Array) -> float:
        return sum(r.penalty * r.violation(x, y) for r in self.rows if r.penalty)

    def objective(self, x: Array, y: Array | None = None) -> float:
        """The objective on exact curves (what the plan is worth); soft penalties deducted."""
        y = self.outcomes(x) if y is None else y
        if self.minimize_spend:
            return -float(np.sum(x)) - self.penalty(x, y)
        return float(self.weight @ y) - self.spend_cost * float(np.sum(x)) - self.penalty(x, y)

    def with_budget(self, lo: float, hi: float) -> Problem:
        """The same problem with another total budget (frontier, what-if, target search)."""
        rows = [r for r in self.rows if r.kind != "budget"]
        rows += _budget_rows(self.n, lo, hi, self.currency)
        new_hi = np.minimum(self.line_max, hi) if math.isfinite(hi) else self.hi
        return replace(self, rows=rows, budget_lo=lo, budget_hi=hi, hi=new_hi)

    def with_rows(self, extra: list[Row]) -> Problem:
        return replace(self, rows=self.rows + extra)

    def without_rows(self, names: set[str]) -> Problem:
        return replace(self, rows=[r for r in self.rows if r.name not in names])

    def with_curve(self, i: int, curve: cv.Curve) -> Problem:
        """The same problem with line i's response curve replaced (tornado, what-if)."""
        return self.with_curves({i: curve})

    def with_curves(self, changes: dict[int, cv.Curve]) -> Problem:
        """The same problem with some lines' curves replaced (over periods: all of a line's)."""
        items = [changes.get(j) or self.curve(j) for j in range(self.n)]
        return replace(self, bank=cv.CurveBank.from_curves(items))

    def mask(self, stage: str) -> Array:
        return np.array([s == stage for s in self.stages], dtype=float)

    @property
    def is_concave(self) -> bool:
        return bool(np.all(self.bank.concave))

    @property
    def is_simple(self) -> bool:
        """Budget and per-line bounds only, concave curves: the water-filling case."""
        return (self.is_concave and not self.active_limits and not np.any(self.threshold > 0)
                and all(r.kind == "budget" for r in self.rows) and not self.minimize_spend
                and self.carry is None)


def _money(v: float, currency: str) -> str:
    """Whole units for budgets; cents (or more) for the small amounts of CPA targets."""
    if v == 0 or abs(v) >= 100:
        return f"{currency} {v:,.0f}"
    return f"{currency} {v:,.2f}" if abs(v) >= 0.1 else f"{currency} {v:.3g}"


def _budget_rows(n: int, lo: float, hi: float, currency: str) -> list[Row]:
    ones, zeros = np.ones(n), np.zeros(n)
    if lo == hi:
        return [Row("budget", "budget", ones, zeros, "==", hi,
                    f"total spend = {_money(hi, currency)}")]
    rows = []
    if math.isfinite(hi):
        rows.append(Row("budget", "budget", ones, zeros, "<=", hi,
                        f"total spend <= {_money(hi, currency)}"))
    if lo > 0:
        rows.append(Row("budget.min", "budget", ones, zeros, ">=", lo,
                        f"total spend >= {_money(lo, currency)}"))
    return rows


def _mask(sc: Scenario, sel: Selector) -> Array:
    m = np.zeros(len(sc.lines))
    m[sc.select(sel)] = 1.0
    return m


def _mroas_range(curve: cv.Curve, revenue: float, m: float, hi: float) -> tuple[float, float]:
    """The spends [a, b] where the marginal revenue revenue * f'(x) is >= m; (0, 0) where
    there are none. f' rises to its peak and falls after it (concave curves peak at 0,
    S-curves at their inflection), so the set is one interval around the peak."""
    def ok(x: float) -> bool:
        return revenue * float(curve.derivative(x)) >= m

    if revenue <= 0 or hi <= 0:
        return 0.0, 0.0
    if isinstance(curve, cv.Points):
        # slopes per segment; where several separate runs earn the floor, their hull: a
        # relaxation (the bound stays valid) whose plans the exact check then filters
        pts = np.array(curve.spend)
        good = np.flatnonzero(revenue * np.array(curve._slopes) >= m)
        good = good[pts[good] < hi]
        if not len(good):
            return 0.0, 0.0
        a, k = float(pts[good[0]]), int(good[-1])
        # f' is the right derivative: stop a hair before the kink that ends the last run
        b = a + (float(pts[k + 1]) - a) * (1 - 1e-9) if k + 1 < len(pts) else hi
        return a, min(b, hi)
    peak = min(float(getattr(curve, "inflection", 0.0)), hi)
    if not ok(peak):
        return 0.0, 0.0

    def edge(inside: float, outside: float) -> float:
        for _ in range(200):  # bisection; `inside` always satisfies the floor
            mid = 0.5 * (inside + outside)
            inside, outside = (mid, outside) if ok(mid) else (inside, mid)
        return inside

    a = 0.0 if peak <= 0 or ok(0.0) else edge(peak, 0.0)
    b = hi if ok(hi) else edge(peak, hi)
    return a, b


def compile_problem(sc: Scenario) -> Problem:
    """Turn a validated scenario into arrays and named rows (a scenario over periods: its
    line x period lines, with the carryover map and the period rows)."""
    from . import periods

    if sc.periods is not None:
        sc = periods.flatten(sc)[0]
    p = _compile(sc)
    return p if sc._layout is None else periods.attach(p, sc._layout)


def _compile(sc: Scenario) -> Problem:
    n = len(sc.lines)
    cur = sc.currency
    crv = [sc.curve(line) for line in sc.lines]
    value = np.array([sc.value_per_outcome(line) for line in sc.lines])
    revenue = np.array([sc.revenue_per_outcome(line) for line in sc.lines])
    lo = np.array([line.min for line in sc.lines])
    thr = np.array([line.min_if_active or 0.0 for line in sc.lines])
    budget_lo = 0.0 if sc.budget is None or sc.budget.min is None else sc.budget.min
    budget_hi = math.inf if sc.budget is None else sc.budget.upper
    line_max = np.array([line.upper for line in sc.lines])
    hi_reason = ["max" if line.upper <= budget_hi else "budget" for line in sc.lines]
    zeros = np.zeros(n)
    mroas = np.zeros(n)  # marginal ROAS floor per active line (0 where none)

    goal = sc.objective.goal
    if goal == Goal.CONVERSIONS:
        sel = sc.objective.select or Selector(stage="conversion")
        weight = _mask(sc, sel)
    elif goal == Goal.REVENUE:
        weight = revenue.copy()
    elif goal == Goal.MIN_SPEND:
        weight = np.zeros(n)
    else:
        weight = value.copy()

    rows: list[Row] = _budget_rows(n, budget_lo, budget_hi, cur)
    ones = np.ones(n)
    limits: list[ActiveLimit] = []
    for c in sc.constraints:
        m = _mask(sc, c.select)
        what = c.select.label
        total = ones if c.share_of is None else _mask(sc, c.share_of)
        of = "total spend" if c.share_of is None else f"{c.share_of.label} spend"
        if c.share is not None:
            if c.share.min is not None:
                rows.append(Row(c.label("share") + ".min", "share", m - c.share.min * total, zeros,
                                ">=", 0.0, f"{what} >= {c.share.min:.0%} of {of}"))
            if c.share.max is not None:
                rows.append(Row(c.label("share") + ".max", "share", m - c.share.max * total, zeros,
                                "<=", 0.0, f"{what} <= {c.share.max:.0%} of {of}"))
        if c.spend is not None:
            if c.spend.min is not None:
                rows.append(Row(c.label("spend") + ".min", "spend", m, zeros, ">=", c.spend.min,
                                f"{what} spend >= {_money(c.spend.min, cur)}"))
            if c.spend.max is not None:
                rows.append(Row(c.label("spend") + ".max", "spend", m, zeros, "<=", c.spend.max,
                                f"{what} spend <= {_money(c.spend.max, cur)}"))
        if c.outcome is not None:
            if c.outcome.min is not None:
                rows.append(Row(c.label("outcome") + ".min", "outcome", zeros, m, ">=",
                                c.outcome.min, f"{what} outcome >= {c.outcome.min:,.0f}"))
            if c.outcome.max is not None:
                rows.append(Row(c.label("outcome") + ".max", "outcome", zeros, m, "<=",
                                c.outcome.max, f"{what} outcome <= {c.outcome.max:,.0f}"))
        if c.cpa_max is not None:  # spend <= t * outcome
            rows.append(Row(c.label("cpa"), "cpa", m, -c.cpa_max * m, "<=", 0.0,
                            f"{what} CPA <= {_money(c.cpa_max, cur)}", group=m))
        if c.roas_min is not None:  # revenue >= r * spend
            rows.append(Row(c.label("roas"), "roas", -c.roas_min * m, revenue * m, ">=", 0.0,
                            f"{what} ROAS >= {c.roas_min:g}", group=m))
        if c.marginal_roas_min is not None:
            # an active line must earn the floor at the margin: spend 0 or within [a, b]
            for i in np.flatnonzero(m):
                top = min(line_max[i], budget_hi, REACH_LIMIT)
                a, b = _mroas_range(crv[i], revenue[i], c.marginal_roas_min, top)
                mroas[i] = max(mroas[i], c.marginal_roas_min)
                if b < min(line_max[i], budget_hi):
                    line_max[i] = b
                    hi_reason[i] = c.label("marginal_roas")
                if a > thr[i]:
                    thr[i] = a
        if c.max_active is not None:
            idx = np.flatnonzero(m)
            limits.append(ActiveLimit(c.label("active"), idx, c.max_active,
                                      f"at most {c.max_active} active lines in {what}"))
    for p in sc.pools:
        a = _mask(sc, p.lines)
        s = _mask(sc, p.source)
        rows.append(Row(p.label, "pool", zeros, a - p.rate * s, "<=", 0.0,
                        f"outcome of {p.lines.label} <= {p.rate:g} x outcome of {p.source.label}"))

    if sc.guidelines is not None:
        soft = sc.guidelines.enforce == "soft"
        # a point of share is 1 % of the budget: penalty per currency = per point / point
        point = sc.point_of_share() or 1.0  # 1.0: priced per point later (point_from_plan)
        per_unit = (sc.guidelines.penalty_per_point or 0.0) / point if soft else None
        # with periods and per_period: the bands hold on each period's own spend
        groups = [("", "", ones)]
        if sc._layout is not None and sc.guidelines.per_period:
            groups = [(f",period={t}", f" in {t}", _mask(sc, Selector(period=t)))
                      for t in sc._layout.labels]
        for key, where, total in groups:
            for stage, (smin, smax) in sc.guideline_bands().items():
                m = _mask(sc, Selector(stage=stage)) * total
                spend = "total spend" if not where else "spend"
                if smin > 0:
                    rows.append(Row(f"guideline share[stage={stage}{key}].min", "guideline",
                                    m - smin * total, zeros, ">=", 0.0,
                                    f"{stage} >= {smin:.0%} of {spend}{where} (guideline)",
                                    per_unit))
                if smax < 1:
                    rows.append(Row(f"guideline share[stage={stage}{key}].max", "guideline",
                                    m - smax * total, zeros, "<=", 0.0,
                                    f"{stage} <= {smax:.0%} of {spend}{where} (guideline)",
                                    per_unit))

    target = None
    if sc.mode == Mode.TARGET_EFFICIENCY and sc.target is not None:
        m = _mask(sc, sc.target.select)
        what = sc.target.select.label
        if sc.target.cpa_max is not None:
            target = Row(f"target cpa[{what}]", "cpa", m, -sc.target.cpa_max * m, "<=", 0.0,
                         f"{what} CPA <= {_money(sc.target.cpa_max, cur)} (target)", group=m)
        else:
            target = Row(f"target roas[{what}]", "roas", -sc.target.roas_min * m, revenue * m,
                         ">=", 0.0, f"{what} ROAS >= {sc.target.roas_min:g} (target)", group=m)

    # lines need a finite spend ceiling for piecewise-linear curves. A line with none in the
    # scenario gets a first guess here ("reach"); the solver widens it until it provably
    # holds every plan that could beat the one found (solve._open_ceilings)
    hi = np.minimum(line_max, budget_hi)
    for i in range(n):
        if not math.isfinite(hi[i]):
            floor_rows = [r for r in rows if r.kind == "outcome" and r.sense == ">=" and r.b[i]]
            need = max((float(crv[i].inverse(r.rhs)) for r in floor_rows), default=math.inf)
            if not math.isfinite(need):
                need = float(crv[i].inverse(0.999 * crv[i].saturation))
            need = need if math.isfinite(need) else REACH_LIMIT
            today = sc.lines[i].baseline or 0.0  # today's spend is a plan to start from
            hi[i] = min(max(need, 2.0 * thr[i], 2.0 * lo[i], today, 1.0), REACH_LIMIT)
            hi_reason[i] = "reach"

    baseline = (np.array([line.baseline or 0.0 for line in sc.lines]) if sc.has_baseline
                else None)
    return Problem(
        names=[line.name for line in sc.lines], stages=[line.stage for line in sc.lines],
        platforms=[line.platform for line in sc.lines], bank=cv.CurveBank.from_curves(crv),
        lo=lo, hi=hi,
        line_max=line_max, hi_reason=hi_reason, threshold=thr, weight=weight,
        spend_cost=1.0 if goal == Goal.PROFIT else 0.0,
        minimize_spend=goal == Goal.MIN_SPEND, rows=rows, active_limits=limits,
        value_per_outcome=value, revenue_per_outcome=revenue, baseline=baseline, mroas=mroas,
        point_from_plan=sc.guidelines is not None and sc.guidelines.enforce == "soft"
        and sc.point_of_share() is None,
        budget_lo=budget_lo, budget_hi=budget_hi, currency=cur, goal=goal.value, target=target,
    )


def violations(p: Problem, x: Array, rel: float = 1e-6) -> list[str]:
    """Every hard constraint the plan breaks, in words (empty when the plan is feasible).

    Tolerance: `rel` of the row's own scale (its right-hand side or the size of its terms).
    """
    from .accounting import planner_terms

    y = p.outcomes(x)
    out = []
    for r in p.rows:
        if r.penalty:
            continue
        v = r.violation(x, y)
        if v > rel * r.scale(x, y):
            # in planner units (a share in %, spend in currency), never as slack
            at, limit = planner_terms(p, r, x, y)
            side = "over" if r.lhs(x, y) > r.rhs else "short"
            by = f", {side} by {p.currency} {v:,.0f}" if r.kind in ("budget", "spend") else ""
            out.append(f"{r.name}: {r.text}: at {at} against {limit}{by}")
    tol = rel * np.maximum(p.hi, 1.0)
    # a line is off only at (next to) exactly 0: dust of a cent is on, and then it must
    # meet its min_if_active and count toward max_active
    off = 1e-3 * rel * max(float(np.sum(x)), 1.0)
    for i in range(p.n):
        name = p.names[i]
        if x[i] < p.lo[i] * (1 - rel) - rel:
            out.append(f"line {name}: spend {x[i]:,.2f} below its min {p.lo[i]:,.2f}")
        if x[i] > p.hi[i] + tol[i]:
            out.append(f"line {name}: spend {x[i]:,.2f} above its max {p.hi[i]:,.2f}")
        if p.threshold[i] > 0 and off < x[i] < p.threshold[i] * (1 - rel) - rel:
            out.append(f"line {name}: spend {x[i]:,.2f} is neither 0 nor at least "
                       f"{p.threshold[i]:,.2f} (min_if_active)")
    if p.mroas is not None and np.any(p.mroas > 0):
        earns = p.revenue_per_outcome * p.marginals(x)
        for i in np.flatnonzero((p.mroas > 0) & (x > off)):
            if earns[i] < p.mroas[i] * (1 - 1e-6):
                out.append(f"line {p.names[i]}: marginal ROAS {earns[i]:.4g} at spend "
                           f"{x[i]:,.2f} is below the floor {p.mroas[i]:g}")
    for lim in p.active_limits:
        count = int(np.sum(x[lim.index] > off))
        if count > lim.k:
            out.append(f"{lim.name}: {count} active lines, at most {lim.k} allowed")
    return out
