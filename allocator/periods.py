"""Plans over time: a scenario with `periods:` becomes an ordinary scenario of line x period
lines, plus the linear map from spend to effective spend (carryover) and the rows that tie
periods together. Not a second model and not a second solver.

- `flatten(sc)`: one line per line x period (named `line@period`, tagged with the period),
  selectors rewritten (a line's name selects all its periods), per-period constraints split
  into one per period, counts always per period. Periods after the plan (`count_after`)
  become lines that cannot spend, whose outcome is the carryover still working then.
- `attach(p, layout)`: on the compiled Problem, the carryover map e = C x + h (h: the
  history's carryover), seasonality (response on the curves, unit cost in C), period
  budgets, pacing, even phasing, and discounting of later periods' value.

Carryover before saturation (the default, as Robyn and PyMC-Marketing): the outcome of line
l in period t is s_t f_l(e_t), e_t = sum_k w_k x_{t-k} / c_{t-k} + history. After
saturation: each period's own response s_t f_l(x_t / c_t) is spread over later periods by the
weights w_k (then the outcome in period t is sum_k w_k s_{t-k} f(x_{t-k} / c_{t-k})); the
solver keeps one curve per line x period and the rows and values see the spread.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import numpy as np
from scipy import sparse

from . import curves as cv
from .scenario import CarryoverSpec, PoolSpec, Scenario, Selector

if TYPE_CHECKING:
    from .problem import Problem, Row

__all__ = ["Layout", "flatten", "attach", "flat_name", "AFTER"]

AFTER = "after+"  # label prefix of the periods after the plan whose carryover counts


def flat_name(line: str, period: str) -> str:
    return f"{line}@{period}"


@dataclass(frozen=True)
class Layout:
    """How the flat lines map to line x period, and what connects the periods."""

    lines: list[str]  # base line names, in scenario order
    labels: list[str]  # the plan's periods
    after: list[str]  # periods after the plan whose carryover counts
    days: list[float] | None
    line_of: np.ndarray  # per flat line: index into `lines`
    period_of: np.ndarray  # per flat line: index into labels + after
    weights: list[list[float]]  # per base line: carryover weights w_0, w_1, ...
    history: list[list[float]]  # per base line: spend before the plan, oldest first
    response: np.ndarray  # per flat line: seasonal response factor
    cost: np.ndarray  # per flat line: seasonal unit-cost factor
    order: str = "before_saturation"
    discount_rate: float = 0.0
    phasing: str = "free"
    budgets: dict = field(default_factory=dict)  # label -> PeriodBudget
    pacing: list = field(default_factory=list)  # (base line indices, share, amount)

    @property
    def all_labels(self) -> list[str]:
        return self.labels + self.after

    @property
    def n_periods(self) -> int:
        return len(self.labels)

    def index(self, line: int, period: int) -> int:
        return line * len(self.all_labels) + period

    def in_plan(self) -> np.ndarray:
        return self.period_of < len(self.labels)

    def discount(self) -> np.ndarray:
        return (1.0 + self.discount_rate) ** -self.period_of.astype(float)


def _carryover(sc: Scenario, i: int) -> CarryoverSpec | None:
    line = sc.lines[i]
    if line.carryover is not None:
        return line.carryover
    assert sc.periods is not None
    found = None
    for rule in sc.periods.carryover:  # the last matching rule wins, like later overrides
        if rule.select.matches(line):
            found = rule.carryover
    return found


def _narrow(sel: Selector, names: dict[str, list[str]], period: str | None) -> Selector:
    """A base selector for the flat lines: a line's name selects its line x periods; with
    `period`, only that period's lines."""
    update: dict = {}
    if sel.name is not None:
        base = [sel.name] if isinstance(sel.name, str) else list(sel.name)
        update["name"] = [n for b in base for n in names.get(b, [b])]
    if period is not None:
        if sel.period is not None:
            have = [sel.period] if isinstance(sel.period, str) else list(sel.period)
            update["period"] = [period] if period in have else ["<none>"]
        else:
            update["period"] = period
    return sel.model_copy(update=update) if update else sel


def flatten(sc: Scenario) -> tuple[Scenario, Layout]:
    """The scenario with one line per line x period (see the module's docstring)."""
    ps = sc.periods
    assert ps is not None
    labels = list(ps.labels)
    after = [f"{AFTER}{k + 1}" for k in range(ps.count_after)]
    every = labels + after
    T, A = len(labels), len(every)
    L = len(sc.lines)
    response = np.ones((L, A))
    cost = np.ones((L, A))
    for rule in ps.seasonality:
        r, c = ps.per_period(rule.response), ps.per_period(rule.cost)
        for i in sc.select(rule.select):
            response[i, :T] *= r
            cost[i, :T] *= c
    weights, history = [], []
    for i, line in enumerate(sc.lines):
        spec = _carryover(sc, i)
        weights.append(spec.weights(A + len(line.history or [])) if spec else [1.0])
        history.append(list(line.history or []))

    names = {line.name: [flat_name(line.name, t) for t in every] for line in sc.lines}
    flat_lines = []
    for line in sc.lines:
        for t, label in enumerate(every):
            runs = t < T and (line.flight is None or label in line.flight)
            own = (line.by_period or {}).get(label)
            lo, hi, thr = line.min, line.max, line.min_if_active
            if own is not None:
                lo = own.min if own.min is not None else lo
                hi = own.max if own.max is not None else hi
            if not runs or hi == 0:
                lo, hi, thr = 0.0, 0.0, None
            if thr is not None and hi is not None and thr > hi:
                thr = None  # a period capped below the threshold: the line stays off
            flat_lines.append(line.model_copy(update={
                "name": flat_name(line.name, label), "period": label, "min": lo, "max": hi,
                "min_if_active": thr, "carryover": None, "history": None, "by_period": None,
                "flight": None, "baseline": line.baseline if t < T else None}))

    constraints = []
    for c in sc.constraints:
        if c.per_period or c.max_active is not None:  # counts are per period
            for label in labels:
                share_of = _narrow(c.share_of or Selector(), names, label)
                constraints.append(c.model_copy(update={
                    "name": f"{c.name}[{label}]" if c.name else None,
                    "select": _narrow(c.select, names, label), "share_of": share_of,
                    "per_period": False}))
        else:
            constraints.append(c.model_copy(update={
                "select": _narrow(c.select, names, None),
                "share_of": _narrow(c.share_of, names, None) if c.share_of else None}))
    pools: list[PoolSpec] = []
    for pool in sc.pools:
        for label in labels if pool.per_period else [None]:
            pools.append(pool.model_copy(update={
                "name": f"{pool.name}[{label}]" if pool.name and label else pool.name,
                "lines": _narrow(pool.lines, names, label),
                "source": _narrow(pool.source, names, label), "per_period": False}))
    update: dict = {"lines": flat_lines, "constraints": constraints, "pools": pools,
                    "periods": None, "variants": []}
    if sc.target is not None:
        update["target"] = sc.target.model_copy(
            update={"select": _narrow(sc.target.select, names, None)})
    if sc.objective.select is not None:
        update["objective"] = sc.objective.model_copy(
            update={"select": _narrow(sc.objective.select, names, None)})
    flat = sc.model_copy(update=update)
    flat._file, flat._source = sc._file, sc._source

    pacing = []
    for rule in ps.pacing:
        pacing.append((sc.select(rule.select), rule.max_change or 0.0,
                       rule.max_change_amount or 0.0))
    layout = Layout(
        lines=[line.name for line in sc.lines], labels=labels, after=after,
        days=list(ps.days) if ps.days else None,
        line_of=np.repeat(np.arange(L), A), period_of=np.tile(np.arange(A), L),
        weights=weights, history=history, response=response.ravel(), cost=cost.ravel(),
        order=ps.carryover_order, discount_rate=ps.discount_rate, phasing=ps.phasing,
        budgets=ps.period_budgets(), pacing=pacing)
    flat._layout = layout
    return flat, layout


def lag_map(layout: Layout) -> sparse.csr_matrix:
    """W with W[(l, t + k), (l, t)] = w_k: how each period's input works in later ones."""
    A = len(layout.all_labels)
    n = len(layout.line_of)
    rows, cols, vals = [], [], []
    for ln, w in enumerate(layout.weights):
        for t in range(A):
            for k in range(min(len(w), A - t)):
                if w[k]:
                    rows.append(layout.index(ln, t + k))
                    cols.append(layout.index(ln, t))
                    vals.append(float(w[k]))
    return sparse.csr_matrix((vals, (rows, cols)), shape=(n, n))


def _history(layout: Layout, value) -> np.ndarray:
    """Per flat line: sum over the history's periods m (1 = just before the plan) of
    w_(t+m) x value(line, spend)."""
    out = np.zeros(len(layout.line_of))
    for ln, w in enumerate(layout.weights):
        for m, spend in enumerate(reversed(layout.history[ln]), start=1):
            for t in range(len(layout.all_labels)):
                if t + m < len(w) and spend:
                    out[layout.index(ln, t)] += w[t + m] * value(ln, spend)
    return out


def carry_map(layout: Layout) -> tuple[sparse.csr_matrix, np.ndarray]:
    """C and h of the effective spend e = C x + h (carryover before saturation): the spend
    of period t, in units of the period's unit cost, works in t + k with weight w_k; history
    spend (before the plan, at the plan's first unit cost) reaches into the plan."""
    C = lag_map(layout) @ sparse.diags(1.0 / layout.cost)
    return C.tocsr(), _history(layout, lambda ln, spend: spend)


def _masks(layout: Layout) -> list[np.ndarray]:
    return [(layout.period_of == t).astype(float) for t in range(layout.n_periods)]


def period_rows(layout: Layout, p: Problem) -> list[Row]:
    """Period budgets, pacing and even phasing as rows of the flat problem."""
    from .problem import Row, _money

    n, cur = p.n, p.currency
    zeros, total = np.zeros(n), np.ones(n)
    rows: list[Row] = []
    masks = _masks(layout)
    for t, label in enumerate(layout.labels):
        b = layout.budgets.get(label)
        if b is None:
            continue
        m = masks[t]
        if b.min is not None and b.min == b.max:
            rows.append(Row(f"budget[period={label}]", "spend", m, zeros, "==", b.min,
                            f"{label} spend = {_money(b.min, cur)}", group=m))
        else:
            if b.max is not None:
                rows.append(Row(f"budget[period={label}].max", "spend", m, zeros, "<=", b.max,
                                f"{label} spend <= {_money(b.max, cur)}", group=m))
            if b.min:
                rows.append(Row(f"budget[period={label}].min", "spend", m, zeros, ">=", b.min,
                                f"{label} spend >= {_money(b.min, cur)}", group=m))
        if b.share is not None:
            lo, hi = b.share.min, b.share.max
            if lo is not None and lo == hi:
                rows.append(Row(f"budget share[period={label}]", "share", m - lo * total,
                                zeros, "==", 0.0, f"{label} = {lo:.0%} of the plan's spend",
                                group=m))
            else:
                if lo:
                    rows.append(Row(f"budget share[period={label}].min", "share",
                                    m - lo * total, zeros, ">=", 0.0,
                                    f"{label} >= {lo:.0%} of the plan's spend", group=m))
                if hi is not None and hi < 1:
                    rows.append(Row(f"budget share[period={label}].max", "share",
                                    m - hi * total, zeros, "<=", 0.0,
                                    f"{label} <= {hi:.0%} of the plan's spend", group=m))
    T = layout.n_periods
    for members, share, amount in layout.pacing:
        for ln in members:
            name = layout.lines[ln]
            for t in range(1, T):
                i, j = layout.index(ln, t), layout.index(ln, t - 1)
                if p.hi[i] <= 0 and p.hi[j] <= 0:
                    continue  # off in both periods (flighting)
                up, down = np.zeros(n), np.zeros(n)
                up[i], up[j] = 1.0, -(1.0 + share)
                down[i], down[j] = -1.0, (1.0 - share)
                what = (f"{share:.0%}" if share else "") + \
                    (" + " if share and amount else "") + (_money(amount, cur) if amount else "")
                label = layout.labels[t]
                rows.append(Row(f"pacing[{name}@{label}].up", "pacing", up, zeros, "<=", amount,
                                f"{name}: {label} spend at most {what} above "
                                f"{layout.labels[t - 1]}'s"))
                rows.append(Row(f"pacing[{name}@{label}].down", "pacing", down, zeros, "<=",
                                amount, f"{name}: {label} spend at most {what} below "
                                f"{layout.labels[t - 1]}'s"))
    if layout.phasing == "even":
        for ln, name in enumerate(layout.lines):
            runs = [layout.index(ln, t) for t in range(T) if p.hi[layout.index(ln, t)] > 0]
            for i in runs[1:]:
                a = np.zeros(n)
                a[i], a[runs[0]] = 1.0, -1.0
                label = layout.labels[int(layout.period_of[i])]
                rows.append(Row(f"phasing[{name}@{label}]", "phasing", a, zeros, "==", 0.0,
                                f"{name}: {label} spend equals its first period's (even "
                                "phasing)"))
    return rows


def attach(p: Problem, layout: Layout) -> Problem:
    """The compiled flat problem with carryover, seasonality, period rows and discounting."""
    land = land0 = None
    if layout.order == "after_saturation":
        # each period's own response f(x_t / c_t), spread over later periods by the weights;
        # the history's responses (at the plan's first unit cost) land as a constant
        C, h = sparse.diags(1.0 / layout.cost).tocsr(), np.zeros(p.n)
        land = lag_map(layout)
        first = {int(layout.line_of[i]): p.curve(i) for i in range(p.n)
                 if layout.period_of[i] == 0}
        land0 = _history(layout, lambda ln, spend: float(first[ln].value(np.array([spend]))[0]))
    else:
        C, h = carry_map(layout)
    curves = [p.curve(i) if layout.response[i] == 1.0 else
              cv.scaled(p.curve(i), outcome=float(layout.response[i])) for i in range(p.n)]
    disc = layout.discount()
    hi = p.hi.copy()
    for t, label in enumerate(layout.labels):
        b = layout.budgets.get(label)
        if b is not None and b.max is not None:
            m = layout.period_of == t
            hi[m] = np.minimum(hi[m], b.max)
    q = replace(p, bank=cv.CurveBank.from_curves(curves), hi=hi, weight=p.weight * disc,
                carry=C, carry0=h, layout=layout, land=land, land0=land0)
    return replace(q, rows=q.rows + period_rows(layout, q))
