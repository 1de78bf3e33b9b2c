"""An independent constraint checker: reads the scenario itself, not the compiled rows.

Nothing here calls the product's curves, problem or solver: the response curves are
re-implemented from their formulas (`ref_curve`), every constraint kind of the scenario
format is checked on those curves (`Checker`), and the objective is recomputed from the
scenario (soft guideline penalties included). Plans are checked one at a time
(`scenario_violations`, `objective_of`) or many at once as the rows of a matrix, which is
what the grid oracle and the property harness need.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from allocator.scenario import Scenario, Selector

__all__ = ["RefCurve", "ref_curve", "ref_curve_from_dict", "Checker", "scenario_violations",
           "objective_of", "share_point"]


# --- response curves, re-implemented from the README's formulas -------------------------------


def _expit(t: np.ndarray) -> np.ndarray:
    """1 / (1 + exp(-t)) without overflow warnings."""
    with np.errstate(over="ignore"):
        return np.where(t >= 0, 1.0 / (1.0 + np.exp(-np.abs(t))),
                        np.exp(-np.abs(t)) / (1.0 + np.exp(-np.abs(t))))


@dataclass(frozen=True)
class RefCurve:
    """One line's response g(x) = size * f(x / (size * cost)) with f one of the base families.

    `slope` is the left derivative (the return of the last unit of currency spent), which
    is what a marginal-ROAS floor is about; at 0 it is the right derivative. `side="right"`
    gives the return of the next unit.
    """

    family: str
    p: dict = field(default_factory=dict)
    size: float = 1.0
    cost: float = 1.0

    # base families on u >= 0
    def _f(self, u: np.ndarray) -> np.ndarray:
        p, fam = self.p, self.family
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            if fam == "hill":
                pos = u > 0
                t = p["s"] * (np.log(np.where(pos, u, 1.0)) - math.log(p["k"]))
                return np.where(pos, p["vmax"] * _expit(t), 0.0)
            if fam == "exponential":
                return p["vmax"] * -np.expm1(-u / p["k"])
            if fam == "power":
                return p["a"] * np.power(u, p["b"])
            if fam == "log":
                return p["a"] * np.log1p(u / p["k"])
            if fam == "linear":
                return np.minimum(u / p["c"], p["cap"])
            if fam == "points":
                return np.interp(u, p["xs"], p["ys"])
        raise ValueError(fam)

    def _df(self, u: np.ndarray, side: str = "left") -> np.ndarray:
        p, fam = self.p, self.family
        pos = u > 0
        w = np.where(pos, u, 1.0)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            if fam == "hill":
                s, k, vmax = p["s"], p["k"], p["vmax"]
                t = s * (np.log(w) - math.log(k))
                d = vmax * s / w * _expit(t) * _expit(-t)
                zero = math.inf if s < 1 else (vmax / k if s == 1 else 0.0)
                return np.where(pos, d, zero)
            if fam == "exponential":
                return p["vmax"] / p["k"] * np.exp(-u / p["k"])
            if fam == "power":
                b = p["b"]
                zero = math.inf if b < 1 else p["a"]
                return np.where(pos, p["a"] * b * np.power(w, b - 1.0), zero)
            if fam == "log":
                return p["a"] / (p["k"] + u)
            if fam == "linear":
                end = p["cap"] * p["c"]
                inside = (u <= end) if side == "left" else (u < end)
                return np.where(inside | ~pos, 1.0 / p["c"], 0.0)
            if fam == "points":
                xs, ys = p["xs"], p["ys"]
                slopes = np.r_[np.diff(ys) / np.diff(xs), 0.0]
                # left derivative: the segment u ends (u in (x_j-1, x_j]); right: the
                # segment u starts
                j = np.searchsorted(xs, u, side=side) - 1
                j = np.where(pos, j, 0)
                return slopes[np.clip(j, 0, len(slopes) - 1)]
        raise ValueError(fam)

    def _u(self, x) -> np.ndarray:
        return np.maximum(np.asarray(x, dtype=float), 0.0) / (self.size * self.cost)

    def value(self, x) -> np.ndarray:
        return self.size * self._f(self._u(x))

    def slope(self, x, side: str = "left") -> np.ndarray:
        return self._df(self._u(x), side) / self.cost

    @property
    def saturation(self) -> float:
        p, fam = self.p, self.family
        top = {"hill": p.get("vmax"), "exponential": p.get("vmax"), "linear": p.get("cap"),
               "points": p["ys"][-1] if fam == "points" else None}.get(fam, math.inf)
        return self.size * top

    def spend_for(self, y: float, hi: float = 1e300) -> float:
        """Least spend reaching outcome y (inf if the curve never does), by bisection."""
        if float(self.value(0.0)) >= y:
            return 0.0
        if y > self.saturation or (y == self.saturation and self.family in ("hill",
                                                                            "exponential")):
            return math.inf
        a, b = 0.0, 1.0
        while float(self.value(b)) < y:
            b *= 2.0
            if b > hi:
                return math.inf
        for _ in range(200):
            m = 0.5 * (a + b)
            if float(self.value(m)) >= y:
                b = m
            else:
                a = m
        return b

    @property
    def kinks(self) -> list[float]:
        """Spends where the curve bends sharply: breakpoints, a cap, the inflection."""
        sc = self.size * self.cost
        p = self.p
        if self.family == "points":
            return [float(v) * sc for v in p["xs"]]
        if self.family == "linear" and math.isfinite(p["cap"]):
            return [p["cap"] * p["c"] * sc]
        if self.family == "hill" and p["s"] > 1:
            return [p["k"] * ((p["s"] - 1) / (p["s"] + 1)) ** (1 / p["s"]) * sc]
        return []


def _pct(v) -> float:
    if isinstance(v, str) and v.strip().endswith("%"):
        return float(v.strip()[:-1]) / 100.0
    return float(v)


def ref_curve_from_dict(spec: dict, stage_per: float = 1.0) -> RefCurve:
    """A curve from its scenario mapping (as written in the file or dumped from the model)."""
    t = spec["type"]
    per = spec.get("per") or stage_per
    size = float(spec.get("size_scale") or 1.0)
    cost = float(spec.get("cost_scale") or 1.0)
    if t == "hill":
        base = RefCurve("hill", {"vmax": float(spec["vmax"]), "k": float(spec["k"]),
                                 "s": float(spec.get("s", 1.0))})
    elif t == "exponential":
        base = RefCurve("exponential", {"vmax": float(spec["vmax"]), "k": float(spec["k"])})
    elif t == "power":
        base = RefCurve("power", {"a": float(spec["a"]), "b": float(spec["b"])})
    elif t == "log":
        base = RefCurve("log", {"a": float(spec["a"]), "k": float(spec["k"])})
    elif t == "linear":
        cap = spec.get("cap")
        base = RefCurve("linear", {"c": float(spec["unit_cost"]) / per,
                                   "cap": math.inf if cap is None else float(cap)})
    elif t == "points":
        xs = [float(v) for v in spec["spend"]]
        ys = [float(v) for v in spec["outcome"]]
        if xs[0] > 0:  # no spend buys nothing: the curve starts at (0, 0)
            xs, ys = [0.0, *xs], [0.0, *ys]
        base = RefCurve("points", {"xs": np.array(xs), "ys": np.array(ys)})
    elif t == "unit_cost_rise":
        # unit cost per `per` outcomes at spend x: per * x / (a x^b) = per x^(1-b) / a;
        # doubling x multiplies it by 2^(1-b) = 1 + r; at at_spend it equals unit_cost
        r = _pct(spec["rise_per_doubling"])
        b = 1.0 - math.log2(1.0 + r)
        a = per * float(spec["at_spend"]) ** (1.0 - b) / float(spec["unit_cost"])
        base = RefCurve("power", {"a": a, "b": b})
    elif t == "unit_cost_saturation":
        # vmax (1 - exp(-x/k)): slope at 0 is vmax / k = per / unit_cost
        n = float(spec["saturation"])
        base = RefCurve("exponential", {"vmax": n, "k": n * float(spec["unit_cost"]) / per})
    else:
        raise ValueError(f"unknown curve type {t}")
    return RefCurve(base.family, base.p, size, cost)


def ref_curve(sc: Scenario, line) -> RefCurve:
    return ref_curve_from_dict(line.curve.model_dump(), sc.stages[line.stage].per)


# --- the checker ------------------------------------------------------------------------------

def share_point(sc: Scenario) -> float | None:
    """The spend one percentage point of guideline share stands for (README, soft
    guidelines): 1 % of the budget's max, else of its min, else of today's total spend.
    None without any of them: then it is 1 % of what the goal costs without the guidelines,
    which only a solve can tell (the harness takes it from the plan)."""
    b = sc.budget
    for ref in (b.max if b else None, b.min if b else None,
                sum(line.baseline or 0.0 for line in sc.lines)):
        if ref:
            return 0.01 * ref
    return None


class Checker:
    """Every hard constraint of a scenario, and its objective, on many plans at once.

    X is (m, n): one plan per row, one column per line in the scenario's order. `point`:
    the spend a point of soft guideline share stands for, where the scenario leaves it to
    the solver (`share_point` is None); without it, 1 % of each plan's own total.
    """

    def __init__(self, sc: Scenario, point: float | None = None):
        self.sc = sc
        self.point = share_point(sc) or point
        lines = sc.lines
        self.n = len(lines)
        self.curves = [ref_curve(sc, line) for line in lines]
        self.rev = np.array([sc.revenue_per_outcome(line) for line in lines], dtype=float)
        self.val = np.array([sc.value_per_outcome(line) for line in lines], dtype=float)
        self.lo = np.array([line.min for line in lines], dtype=float)
        self.hi = np.array([math.inf if line.max is None else line.max for line in lines])
        self.thr = np.array([line.min_if_active or 0.0 for line in lines], dtype=float)
        self.stage = [line.stage for line in lines]

    def members(self, sel: Selector) -> np.ndarray:
        return np.array([sel.matches(line) for line in self.sc.lines], dtype=bool)

    def outcomes(self, X: np.ndarray) -> np.ndarray:
        X = np.atleast_2d(np.asarray(X, dtype=float))
        return np.column_stack([c.value(X[:, i]) for i, c in enumerate(self.curves)])

    def slopes(self, X: np.ndarray) -> np.ndarray:
        X = np.atleast_2d(np.asarray(X, dtype=float))
        return np.column_stack([c.slope(X[:, i]) for i, c in enumerate(self.curves)])

    # -- constraints --

    def excess(self, X: np.ndarray, rel: float = 1e-6) -> dict[str, np.ndarray]:
        """Per constraint, how far each plan breaks it beyond the tolerance (> 0: broken).

        Tolerances are `rel` of the constraint's own size, as the product's own check does:
        the total spend for the budget and shares; a line's own bound for its min, max and
        min_if_active; the group's spend (or its bound) for a spend row, its outcome (or its
        bound) for an outcome row, never the spend; for a ratio (CPA, ROAS, pool) both sides
        added. A tolerance measured in another quantity (an outcome row within rel of the
        group's spend, a line's max within rel of the total) would accept plans that break
        the row by far more than rel of its own size."""
        sc = self.sc
        X = np.atleast_2d(np.asarray(X, dtype=float))
        Y = self.outcomes(X)
        total = X.sum(axis=1)
        tol = rel * np.maximum(total, 1.0)
        out: dict[str, np.ndarray] = {}

        def add(name, v):
            out[name] = np.maximum(out.get(name, -np.inf), v)

        add("finite spend", np.where(np.all(np.isfinite(X), axis=1), -1.0, 1.0))
        if sc.budget is not None:
            if sc.budget.max is not None:
                add("budget max", total - sc.budget.max - tol)
            if sc.budget.min is not None:
                add("budget min", sc.budget.min - total - tol)
        for i, line in enumerate(sc.lines):
            xi = X[:, i]
            add(f"line {line.name} min", np.maximum(line.min, 0.0) - xi
                - rel * max(line.min, 1.0))
            if line.max is not None:
                add(f"line {line.name} max", xi - line.max - rel * max(line.max, 1.0))
            if line.min_if_active:
                # 0 (dust up to tol) or at least min_if_active
                add(f"line {line.name} min_if_active",
                    np.minimum(xi - tol, line.min_if_active * (1 - rel) - rel - xi))
        rev_y = self.rev * Y
        for k, c in enumerate(sc.constraints):
            m = self.members(c.select)
            spend, outcome = X[:, m].sum(axis=1), Y[:, m].sum(axis=1)
            tag = f"constraint {k} [{c.select.label}]"
            if c.share:
                if c.share.min is not None:
                    add(f"{tag} share min", c.share.min * total - spend - tol)
                if c.share.max is not None:
                    add(f"{tag} share max", spend - c.share.max * total - tol)
            if c.spend:
                if c.spend.min is not None:
                    add(f"{tag} spend min", c.spend.min - spend
                        - rel * np.maximum(np.maximum(spend, c.spend.min), 1.0))
                if c.spend.max is not None:
                    add(f"{tag} spend max", spend - c.spend.max
                        - rel * np.maximum(np.maximum(spend, c.spend.max), 1.0))
            if c.outcome:
                if c.outcome.min is not None:
                    add(f"{tag} outcome min", c.outcome.min - outcome
                        - rel * np.maximum(np.maximum(outcome, abs(c.outcome.min)), 1.0))
                if c.outcome.max is not None:
                    add(f"{tag} outcome max", outcome - c.outcome.max
                        - rel * np.maximum(np.maximum(outcome, abs(c.outcome.max)), 1.0))
            if c.cpa_max is not None:
                add(f"{tag} cpa_max", spend - c.cpa_max * outcome
                    - rel * np.maximum(spend + c.cpa_max * outcome, 1.0))
            if c.roas_min is not None:
                r = rev_y[:, m].sum(axis=1)
                add(f"{tag} roas_min", c.roas_min * spend - r
                    - rel * np.maximum(c.roas_min * spend + r, 1.0))
            if c.marginal_roas_min is not None:
                add(f"{tag} marginal_roas_min",
                    self._mroas_excess(X, m, c.marginal_roas_min, tol, rel))
            if c.max_active is not None:
                count = (X[:, m] > tol[:, None]).sum(axis=1)
                add(f"{tag} max_active", (count - c.max_active).astype(float))
        for k, p in enumerate(sc.pools):
            a = Y[:, self.members(p.lines)].sum(axis=1)
            s = Y[:, self.members(p.source)].sum(axis=1)
            add(f"pool {k} [{p.label}]", a - p.rate * s - rel * np.maximum(a + p.rate * s, 1.0))
        if sc.guidelines is not None and sc.guidelines.enforce == "hard":
            for stage, (lo, hi) in sc.guideline_bands().items():
                spend = X[:, self.members(Selector(stage=stage))].sum(axis=1)
                add(f"guideline {stage} min", lo * total - spend - tol)
                add(f"guideline {stage} max", spend - hi * total - tol)
        t = sc.target
        if sc.mode.value == "target_efficiency" and t is not None:
            m = self.members(t.select)
            spend, outcome = X[:, m].sum(axis=1), Y[:, m].sum(axis=1)
            if t.cpa_max is not None:
                add("target cpa_max", spend - t.cpa_max * outcome
                    - rel * np.maximum(spend + t.cpa_max * outcome, 1.0))
            if t.roas_min is not None:
                r = rev_y[:, m].sum(axis=1)
                add("target roas_min", t.roas_min * spend - r
                    - rel * np.maximum(t.roas_min * spend + r, 1.0))
        return out

    def _mroas_excess(self, X, m, floor, tol, rel) -> np.ndarray:
        """Every active line of the group earns at least `floor` on its last unit of currency:
        revenue_per_outcome * f'(x) >= floor. At a kink either side will do (a plan exactly
        at a breakpoint is not held to the steeper side), with a hair of slack in spend."""
        worst = np.full(len(X), -np.inf)
        for i in np.flatnonzero(m):
            xi = X[:, i]
            active = xi > tol
            crv = self.curves[i]
            d = np.maximum(np.maximum(crv.slope(xi), crv.slope(xi, "right")),
                           crv.slope(xi * (1 - 1e-7)))
            d = np.where(np.isnan(d), 0.0, d)
            earn = self.rev[i] * d if self.rev[i] > 0 else np.zeros_like(d)
            short = floor * (1 - rel) - earn
            worst = np.maximum(worst, np.where(active, short, -np.inf))
        return worst

    def feasible(self, X: np.ndarray, rel: float = 1e-6) -> np.ndarray:
        X = np.atleast_2d(np.asarray(X, dtype=float))
        ok = np.ones(len(X), dtype=bool)
        for v in self.excess(X, rel).values():
            ok &= ~(v > 0)
        return ok

    def messages(self, x: np.ndarray, rel: float = 1e-6) -> list[str]:
        x = np.asarray(x, dtype=float)
        return [f"{name}: broken by {float(v[0]):.6g}"
                for name, v in self.excess(x[None, :], rel).items() if v[0] > 0]

    # -- objective --

    def objective(self, X: np.ndarray) -> np.ndarray:
        """The scenario's objective at each plan, soft guideline penalties deducted."""
        sc = self.sc
        X = np.atleast_2d(np.asarray(X, dtype=float))
        Y = self.outcomes(X)
        total = X.sum(axis=1)
        goal = sc.objective.goal.value
        if goal == "conversions":
            sel = sc.objective.select or Selector(stage="conversion")
            val = Y[:, self.members(sel)].sum(axis=1)
        elif goal == "revenue":
            val = Y @ self.rev
        elif goal == "min_spend":
            val = -total
        else:
            val = Y @ self.val
            if goal == "profit":
                val = val - total
        return val - self.penalty(X)

    def penalty(self, X: np.ndarray) -> np.ndarray:
        sc = self.sc
        X = np.atleast_2d(np.asarray(X, dtype=float))
        g = sc.guidelines
        out = np.zeros(len(X))
        if g is None or g.enforce != "soft":
            return out
        total = X.sum(axis=1)
        point = np.full(len(X), self.point) if self.point else 0.01 * total
        for stage, (lo, hi) in sc.guideline_bands().items():
            spend = X[:, self.members(Selector(stage=stage))].sum(axis=1)
            short = np.maximum(0.0, lo * total - spend) + np.maximum(0.0, spend - hi * total)
            with np.errstate(divide="ignore", invalid="ignore"):
                out += np.where(short > 0, g.penalty_per_point * short / point, 0.0)
        return out


def scenario_violations(sc: Scenario, x: np.ndarray, rel: float = 1e-6) -> list[str]:
    """Every hard constraint the plan x breaks, in words (empty when it meets them all)."""
    return Checker(sc).messages(np.asarray(x, dtype=float), rel)


def objective_of(sc: Scenario, x: np.ndarray, point: float | None = None) -> float:
    """The objective recomputed from the scenario (soft guideline penalties included)."""
    return float(Checker(sc, point).objective(np.asarray(x, dtype=float)[None, :])[0])
