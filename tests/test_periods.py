"""Plans over time (#13): the multi-period plan against independent oracles.

The oracle here reads the scenario mapping itself: its own carryover (weights, history,
unit-cost seasonality), its own curves (tests/checks.py), its own constraint checks. It
shares nothing with allocator/periods.py or the solver but the file format.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy.optimize import minimize

from allocator.errors import ScenarioError
from allocator.plan import plan_scenario
from allocator.problem import compile_problem, violations
from allocator.scenario import scenario_from_data
from allocator.solve import solve

from .checks import ref_curve_from_dict

TOL = 1e-3


def _labels(data: dict) -> list[str]:
    labels = data["periods"]["labels"]
    return labels if isinstance(labels, list) else compile_problem(
        scenario_from_data(data)).layout.labels


class Oracle:
    """The plan's value and constraints, computed from the scenario mapping alone."""

    def __init__(self, data: dict):
        per = data["periods"]
        self.T = len(_labels(data))
        self.after = int(per.get("count_after", 0))
        self.H = self.T + self.after
        self.lines = data["lines"]
        self.L = len(self.lines)
        self.curves = [ref_curve_from_dict(line["curve"]) for line in self.lines]
        self.value = np.array([float(line.get("value_per_outcome", 1.0)) for line in self.lines])
        self.budget = float(data["budget"])
        self.period_max = [b.get("max") if isinstance(b, dict) else b
                           for b in per.get("budget", [None] * self.T)]
        self.resp = np.ones((self.L, self.H))
        self.cost = np.ones((self.L, self.H))
        for rule in per.get("seasonality", []):
            for i, line in enumerate(self.lines):
                if all(line.get(k) == v for k, v in rule.get("select", {}).items()):
                    self.resp[i, :self.T] *= rule.get("response", [1.0] * self.T)
                    self.cost[i, :self.T] *= rule.get("cost", [1.0] * self.T)
        self.w = []
        for line in self.lines:
            c = line.get("carryover")
            if c is None:
                w = [1.0]
            elif isinstance(c, dict):
                w = list(c["lags"])
            else:
                w = [float(c) ** k for k in range(self.H + 10)]
            self.w.append(np.array(w + [0.0] * (self.H + 10)))
        self.thr = np.array([float(line.get("min_if_active") or 0.0) for line in self.lines])
        self.rate = float(per.get("discount_rate", 0.0))
        self.after_saturation = per.get("carryover_order") == "after_saturation"

    def effective(self, X: np.ndarray) -> np.ndarray:
        """X: (L, T) spend -> (L, H) effective spend."""
        E = np.zeros((self.L, self.H))
        for i, line in enumerate(self.lines):
            for t in range(self.H):
                for s in range(min(t + 1, self.T)):
                    E[i, t] += self.w[i][t - s] * X[i, s] / self.cost[i, s]
                for m, h in enumerate(reversed(line.get("history", [])), start=1):
                    E[i, t] += self.w[i][t + m] * h
        return E

    def objective(self, X: np.ndarray) -> float:
        disc = (1 + self.rate) ** -np.arange(self.H)
        if self.after_saturation:  # each period's response, spread by the weights
            total = 0.0
            for i, line in enumerate(self.lines):
                f = self.curves[i]
                resp = [self.resp[i, s] * float(f.value(np.array([X[i, s] / self.cost[i, s]]))[0])
                        for s in range(self.T)]
                hist = [float(f.value(np.array([h]))[0]) for h in reversed(line.get("history", []))]
                for t in range(self.H):
                    y = sum(self.w[i][t - s] * resp[s] for s in range(min(t + 1, self.T)))
                    y += sum(self.w[i][t + m] * r for m, r in enumerate(hist, start=1))
                    total += self.value[i] * disc[t] * y
            return total
        E = self.effective(X)
        return float(sum(self.value[i] * self.resp[i, t] * disc[t] *
                         float(self.curves[i].value(np.array([E[i, t]]))[0])
                         for i in range(self.L) for t in range(self.H)))

    def feasible(self, X: np.ndarray, rel: float = 1e-6) -> bool:
        if np.any(X < -rel) or abs(X.sum() - self.budget) > rel * self.budget:
            return False
        for t, cap in enumerate(self.period_max):
            if cap is not None and X[:, t].sum() > cap * (1 + rel):
                return False
        on = X > 1e-9
        return not np.any(on & (X < self.thr[:, None] * (1 - rel)))


def _scenario(rng: np.random.Generator, T: int, L: int, *, s_curves: bool) -> dict:
    lines = []
    for i in range(L):
        if s_curves and i % 2 == 0:
            curve = {"type": "hill", "vmax": float(rng.uniform(500, 2000)),
                     "k": float(rng.uniform(5e3, 2e4)), "s": float(rng.uniform(1.5, 2.5))}
        else:
            curve = {"type": "exponential", "vmax": float(rng.uniform(500, 2000)),
                     "k": float(rng.uniform(5e3, 3e4))}
        line = {"name": f"l{i}", "stage": "conversion", "platform": f"p{i % 2}",
                "value_per_outcome": float(rng.uniform(20, 60)), "curve": curve}
        if rng.random() < 0.7:
            line["carryover"] = round(float(rng.uniform(0.1, 0.7)), 3)
        if rng.random() < 0.4:
            line["history"] = [round(float(rng.uniform(0, 2e4)))
                               for _ in range(int(rng.integers(1, 3)))]
        lines.append(line)
    labels = [f"M{t + 1}" for t in range(T)]
    budget = float(rng.uniform(2e4, 6e4)) * T
    periods = {"labels": labels, "seasonality": [
        {"select": {"platform": "p0"}, "response": [round(float(v), 3) for v in
                                                    rng.uniform(0.7, 1.4, T)],
         "cost": [round(float(v), 3) for v in rng.uniform(0.8, 1.3, T)]}]}
    if rng.random() < 0.5:
        periods["count_after"] = int(rng.integers(1, 3))
    if rng.random() < 0.5:
        periods["discount_rate"] = 0.02
    return {"name": "periods oracle", "budget": budget, "stages": ["conversion"],
            "platforms": ["p0", "p1"], "lines": lines, "periods": periods}


def _matrix(data: dict, x: np.ndarray) -> np.ndarray:
    p = compile_problem(scenario_from_data(data))
    A = len(p.layout.all_labels)
    return x.reshape(len(data["lines"]), A)[:, :len(p.layout.labels)]


def _convex_oracle(orc: Oracle, starts: int = 6, seed: int = 0) -> float:
    """Concave curves: the best of several SLSQP runs on the oracle's own formulas."""
    rng = np.random.default_rng(seed)
    n = orc.L * orc.T
    best = -math.inf
    cons = [{"type": "eq", "fun": lambda u: u.sum() - 1.0}]
    for t, cap in enumerate(orc.period_max):
        if cap is not None:
            cons.append({"type": "ineq", "fun": lambda u, t=t, cap=cap:
                         cap / orc.budget - u.reshape(orc.L, orc.T)[:, t].sum()})
    for _ in range(starts):
        u0 = rng.dirichlet(np.ones(n))
        res = minimize(lambda u: -orc.objective(u.reshape(orc.L, orc.T) * orc.budget) / 1e4,
                       u0, bounds=[(0, 1)] * n, constraints=cons, method="SLSQP",
                       options={"maxiter": 500, "ftol": 1e-12})
        X = np.clip(res.x, 0, 1).reshape(orc.L, orc.T) * orc.budget
        X *= orc.budget / X.sum()
        if orc.feasible(X, rel=1e-5):
            best = max(best, orc.objective(X))
    return best


@pytest.mark.parametrize("seed", range(4))
def test_concave_with_carryover_matches_convex_oracle(seed):
    rng = np.random.default_rng(100 + seed)
    data = _scenario(rng, T=3, L=3, s_curves=False)
    orc = Oracle(data)
    plan = plan_scenario(scenario_from_data(data))
    sol = plan.solution
    X = _matrix(data, sol.x)
    assert orc.feasible(X), "the plan breaks a constraint in the oracle's own check"
    ours = orc.objective(X)
    assert ours == pytest.approx(sol.objective, rel=1e-9), "objective disagrees with oracle"
    best = _convex_oracle(orc)
    assert sol.status == "optimal"
    assert sol.bound >= best * (1 - 1e-9), "the bound is below a plan the oracle found"
    assert ours >= best - TOL * abs(best), "the oracle found a better plan beyond the gap"


@pytest.mark.parametrize("seed", range(2))
def test_carryover_after_saturation_matches_convex_oracle(seed):
    rng = np.random.default_rng(400 + seed)
    data = _scenario(rng, T=3, L=3, s_curves=False)
    data["periods"]["carryover_order"] = "after_saturation"
    orc = Oracle(data)
    sol = plan_scenario(scenario_from_data(data)).solution
    X = _matrix(data, sol.x)
    assert orc.feasible(X)
    assert orc.objective(X) == pytest.approx(sol.objective, rel=1e-9)
    best = _convex_oracle(orc)
    assert sol.status == "optimal" and sol.bound >= best * (1 - 1e-9)
    assert orc.objective(X) >= best - TOL * abs(best)


@pytest.mark.parametrize("seed", range(3))
def test_s_curves_and_thresholds_match_brute_force(seed):
    rng = np.random.default_rng(200 + seed)
    data = _scenario(rng, T=2, L=2, s_curves=True)
    data["lines"][0]["min_if_active"] = round(data["budget"] * 0.15)
    if seed == 2:
        data["periods"]["carryover_order"] = "after_saturation"
    orc = Oracle(data)
    sol = plan_scenario(scenario_from_data(data)).solution
    X = _matrix(data, sol.x)
    assert orc.feasible(X)
    ours = orc.objective(X)
    # grid over the first three spends; the fourth takes the rest of the exact budget
    axis = np.linspace(0.0, orc.budget, 41)
    best = -math.inf
    for a, b, c in itertools.product(axis, axis, axis):
        d = orc.budget - a - b - c
        if d < -1e-9:
            continue
        Y = np.array([[a, b], [c, max(d, 0.0)]])
        if orc.feasible(Y):
            best = max(best, orc.objective(Y))
    assert sol.bound >= best * (1 - 1e-9)
    assert ours >= best - 1e-9 * abs(best), "a grid plan beats the certified plan"
    assert sol.gap <= TOL or sol.status == "feasible"


def test_no_carryover_no_seasonality_equals_separate_plans():
    rng = np.random.default_rng(7)
    data = _scenario(rng, T=3, L=3, s_curves=False)
    for line in data["lines"]:
        line.pop("carryover", None)
        line.pop("history", None)
    data["periods"] = {"labels": ["A", "B", "C"], "budget": [30000, 20000, 40000]}
    data["budget"] = 90000
    whole = plan_scenario(scenario_from_data(data)).solution
    total = 0.0
    for budget in (30000, 20000, 40000):
        single = {k: v for k, v in data.items() if k != "periods"}
        single["budget"] = budget
        total += plan_scenario(scenario_from_data(single)).solution.objective
    assert whole.objective == pytest.approx(total, rel=2 * TOL)
    assert whole.bound >= total * (1 - 1e-9)


@pytest.mark.parametrize("seed", range(3))
def test_even_phasing_never_beats_free_phasing(seed):
    rng = np.random.default_rng(300 + seed)
    data = _scenario(rng, T=3, L=3, s_curves=seed == 2)
    free = plan_scenario(scenario_from_data(data)).solution
    data["periods"]["phasing"] = "even"
    even = plan_scenario(scenario_from_data(data)).solution
    X = _matrix(data, even.x)
    on = X[X.sum(axis=1) > 0]
    assert np.allclose(on, on[:, :1], rtol=1e-6, atol=1e-3), "even phasing is not even"
    assert even.objective <= free.bound * (1 + 1e-9)
    assert even.objective <= free.objective + TOL * abs(free.bound)


def test_history_changes_only_what_it_should():
    rng = np.random.default_rng(11)
    data = _scenario(rng, T=3, L=3, s_curves=False)
    for line in data["lines"]:
        line.pop("history", None)
    data["lines"][0]["carryover"] = 0.5
    data["periods"].pop("count_after", None)
    p0 = compile_problem(scenario_from_data(data))
    data["lines"][0]["history"] = [10000, 20000]
    p1 = compile_problem(scenario_from_data(data))
    x = np.full(p0.n, 1000.0)
    moved = p1.effective(x) - p0.effective(x)
    # line 0 only, in every period, by 20000 * 0.5^(t+1) + 10000 * 0.5^(t+2)
    expect = np.zeros(p0.n)
    expect[:3] = [20000 * 0.5 ** (t + 1) + 10000 * 0.5 ** (t + 2) for t in range(3)]
    assert np.allclose(moved, expect)


def test_every_period_row_holds_on_the_plan():
    data = {"name": "rows", "budget": 100000, "stages": ["awareness", "conversion"],
            "platforms": ["meta", "google"],
            "lines": [
                {"name": "aw", "stage": "awareness", "platform": "meta", "value_per_outcome": 0.02,
                 "curve": {"type": "hill", "vmax": 4e6, "k": 3e4, "s": 1.8}, "carryover": 0.4,
                 "min_if_active": 5000},
                {"name": "cv", "stage": "conversion", "platform": "google",
                 "value_per_outcome": 50, "curve": {"type": "log", "a": 400, "k": 4000}},
                {"name": "cm", "stage": "conversion", "platform": "meta",
                 "value_per_outcome": 50, "curve": {"type": "exponential", "vmax": 900, "k": 9e3},
                 "flight": ["W2", "W3", "W4"]}],
            "constraints": [{"select": {"stage": "conversion"}, "cpa_max": 60,
                             "per_period": True},
                            {"select": {"stage": "awareness"}, "share": {"min": 0.2},
                             "per_period": True}],
            "periods": {"labels": "W1 .. W4", "budget": [{"max": 30000}, 25000, {"max": 30000},
                                                          "20%"],
                        "pacing": [{"select": {"name": "cv"}, "max_change": "50%",
                                    "max_change_amount": 2000}]}}
    sc = scenario_from_data(data)
    p = compile_problem(sc)
    sol = solve(p)
    X = sol.x.reshape(3, 4)
    Y = p.outcomes(sol.x).reshape(3, 4)
    assert X.sum() == pytest.approx(100000, rel=1e-6)
    assert X[:, 0].sum() <= 30000 * (1 + 1e-6) and X[:, 1].sum() == pytest.approx(25000)
    assert X[:, 3].sum() == pytest.approx(20000, rel=1e-6)
    assert X[2, 0] == 0  # not flighted in W1
    for t in range(4):
        assert X[1:, t].sum() <= 60 * Y[1:, t].sum() * (1 + 1e-6)
        assert X[0, t] >= 0.2 * X[:, t].sum() * (1 - 1e-6)
        assert X[0, t] == 0 or X[0, t] >= 5000 * (1 - 1e-6)
    for t in range(1, 4):
        assert abs(X[1, t] - X[1, t - 1]) <= 0.5 * X[1, t - 1] + 2000 + 1e-3


@pytest.mark.parametrize("change, message", [
    ({"seasonality": [{"response": [1.0, 1.2]}]}, "2 factors for 3 periods"),
    ({"budget": {"2027-04": 1000}}, "'2027-04' is not a declared period"),
    ({"labels": "2027-03 .. 2027-01"}, "first month is after the last"),
])
def test_bad_period_data_is_named(change, message, tmp_path):
    text = ("name: bad\nbudget: 30000\nstages: [conversion]\nplatforms: [meta]\n"
            "lines:\n  - {stage: conversion, platform: meta, value_per_outcome: 10,\n"
            "     curve: {type: log, a: 100, k: 1000}}\nperiods:\n"
            "  labels: 2027-01 .. 2027-03\n")
    import yaml

    data = yaml.safe_load(text)
    data["periods"].update(change)
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    from allocator.scenario import load_scenario

    with pytest.raises(ScenarioError) as err:
        load_scenario(path)
    assert message in str(err.value) and "bad.yaml" in str(err.value)


def test_carryover_outside_range_and_undeclared_flight(tmp_path):
    from allocator.scenario import load_scenario

    path = tmp_path / "bad.yaml"
    path.write_text("name: bad\nbudget: 30000\nstages: [conversion]\nplatforms: [meta]\n"
                    "periods: {labels: [A, B]}\nlines:\n"
                    "  - {stage: conversion, platform: meta, value_per_outcome: 10,\n"
                    "     curve: {type: log, a: 100, k: 1000}, carryover: 1.4,\n"
                    "     flight: [A, C]}\n")
    with pytest.raises(ScenarioError) as err:
        load_scenario(path)
    text = str(err.value)
    assert "bad.yaml:8" in text and "carryover" in text and "between 0 and 100 %" in text
    path.write_text(path.read_text().replace("1.4", "0.4"))
    with pytest.raises(ScenarioError) as err:
        load_scenario(path)
    assert "bad.yaml:9" in str(err.value) and "'C' is not a declared period" in str(err.value)


def test_infeasible_pacing_names_the_period(tmp_path):
    data = {"name": "pace", "budget": 100000, "stages": ["conversion"], "platforms": ["meta"],
            "lines": [{"name": "a", "stage": "conversion", "platform": "meta",
                       "value_per_outcome": 10, "curve": {"type": "log", "a": 100, "k": 1e3}}],
            "periods": {"labels": ["Jan", "Feb"], "budget": [10000, 90000],
                        "pacing": [{"max_change": "20%"}]}}
    from allocator.errors import InfeasibleError

    with pytest.raises(InfeasibleError) as err:
        plan_scenario(scenario_from_data(data))
    assert "Feb" in str(err.value)


# --- the example scenarios over periods, judged by a second independent evaluator ----------


def _sel(line: dict, select: dict) -> bool:
    return all(line.get(k) in ([v] if isinstance(v, str) else v) for k, v in select.items())


def _per(values, labels: list[str]) -> np.ndarray:
    if values is None:
        return np.ones(len(labels))
    if isinstance(values, dict):
        return np.array([float(values.get(t, 1.0)) for t in labels])
    return np.array(values, dtype=float)


def _example_value(data: dict, labels: list[str], X: np.ndarray) -> float:
    """The net objective of spend X (lines x periods) from the file's own words."""
    per = data["periods"]
    T, A = len(labels), len(labels) + int(per.get("count_after", 0))
    stages = data["stages"]
    total_value = 0.0
    for i, line in enumerate(data["lines"]):
        st = stages[line["stage"]]
        curve = ref_curve_from_dict(line["curve"], float(st.get("per", 1.0)))
        v = line.get("value_per_outcome", st.get("value_per_outcome",
                     line.get("revenue_per_outcome", st.get("revenue_per_outcome", 0.0))))
        resp, cost = np.ones(A), np.ones(A)
        for rule in per.get("seasonality", []):
            if _sel(line, rule.get("select", {})):
                resp[:T] *= _per(rule.get("response"), labels)
                cost[:T] *= _per(rule.get("cost"), labels)
        decay = 0.0
        for rule in per.get("carryover", []):
            if _sel(line, rule.get("select", {})):
                decay = float(rule["carryover"])
        decay = float(line.get("carryover", decay))
        hist = list(reversed(line.get("history", [])))
        for t in range(A):
            e = sum(decay ** (t - s) * X[i, s] / cost[s] for s in range(min(t + 1, T)))
            e += sum(decay ** (t + m) * h for m, h in enumerate(hist, start=1))
            disc = (1 + float(per.get("discount_rate", 0.0))) ** -t
            total_value += disc * v * resp[t] * float(curve.value(np.array([e]))[0])
    g = data.get("guidelines")
    if g and g.get("enforce") == "soft":
        bands = {"awareness": (0.70, 0.80), "consideration": (0.05, 0.15),
                 "conversion": (0.10, 0.20)}
        spend = X.sum()
        for stage, (lo, hi) in bands.items():
            if stage not in stages:
                continue
            share = sum(X[i].sum() for i, ln in enumerate(data["lines"])
                        if ln["stage"] == stage) / spend
            total_value -= g["penalty_per_point"] * 100 * max(lo - share, share - hi, 0.0)
    return total_value


@pytest.mark.parametrize("name", ["quarter_by_month.yaml", "flighting_13_weeks.yaml"])
def test_period_examples_against_their_own_words(name):
    import yaml

    from tests.conftest import ROOT

    path = ROOT / "scenarios" / name
    data = yaml.safe_load(path.read_text())
    from allocator.scenario import load_scenario

    sc = load_scenario(path)
    p = compile_problem(sc)
    sol = solve(p)
    labels, T = p.layout.labels, len(p.layout.labels)
    L = len(data["lines"])
    X = sol.x.reshape(L, -1)[:, :T]
    assert sol.status == "optimal" and sol.gap <= TOL
    assert _example_value(data, labels, X) == pytest.approx(sol.objective, rel=1e-6)
    assert X.sum() == pytest.approx(data["budget"], rel=1e-6)
    per = data["periods"]
    budgets = per.get("budget", {})
    budgets = budgets if isinstance(budgets, dict) else dict(zip(labels, budgets, strict=True))
    for t, label in enumerate(labels):
        b = budgets.get(label)
        if isinstance(b, dict) and "max" in b:
            assert X[:, t].sum() <= b["max"] * (1 + 1e-6)
        if isinstance(b, dict) and "share" in b:
            assert X[:, t].sum() <= float(b["share"]["max"].rstrip("%")) / 100 * X.sum() + 1e-3
    for i, line in enumerate(data["lines"]):
        if "flight" in line:
            off = [t for t, label in enumerate(labels) if label not in line["flight"]]
            assert np.all(X[i, off] == 0)
        thr = line.get("min_if_active")
        if thr:
            assert np.all((X[i] == 0) | (X[i] >= thr * (1 - 1e-6)))
        if "max" in line:
            assert np.all(X[i] <= line["max"] * (1 + 1e-6))
        for rule in per.get("pacing", []):
            if _sel(line, rule.get("select", {})):
                r = float(str(rule.get("max_change", 0)).rstrip("%")) / 100
                a = rule.get("max_change_amount", 0)
                assert np.all(np.abs(np.diff(X[i])) <= r * X[i, :-1] + a + 1e-3)
    # no small move of money between two line-periods the plan funds beats it beyond the gap
    rng = np.random.default_rng(0)
    best = _example_value(data, labels, X)
    funded = np.argwhere(X > 0)
    for _ in range(40):
        (i, s), (j, u) = funded[rng.choice(len(funded), 2, replace=False)]
        Y = X.copy()
        step = 0.02 * min(X[i, s], X[j, u])
        Y[i, s] -= step
        Y[j, u] += step
        x = np.zeros(p.n)
        x.reshape(L, -1)[:, :T] = Y
        if not violations(p, x):  # a feasible neighbour: never better beyond the gap
            assert _example_value(data, labels, Y) <= best + TOL * abs(sol.bound)
