"""Properties over random whole scenarios, each checked against independent code.

Scenarios come from tests/strategies.py (every curve family, constraint kind, mode and
objective; with and without a feasible baseline; extreme but valid numbers) and go through
the public path of `allocator plan`. tests/invariants.py judges each answer with the
independent checker, the reference curves and the grid oracle. Each invariant is its own
test over the same examples (one `@seed`, one strategy), and a scenario is solved once per
session (`_verdict` caches it), so the invariants cost one solve per example together.

Reproducible: derandomized, no example database. A failure prints the judged scenario as
YAML and its seed (`python benchmarks/fuzz.py --seeds N` reruns it; the fuzz benchmark
runs the same generator and judge over 10,000 seeded scenarios). More examples, and
shrinking for the drawn-choice test, on demand:

    ALLOCATOR_PROPERTY_EXAMPLES=1000 ALLOCATOR_PROPERTY_SHRINK=1 pytest tests/test_properties.py
"""

from __future__ import annotations

import os

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, Phase, given, seed, settings

from allocator.errors import InfeasibleError
from allocator.plan import plan_scenario
from allocator.scenario import scenario_from_data

from . import invariants
from .checks import Checker, objective_of, ref_curve, scenario_violations
from .invariants import INVARIANTS, Verdict, judge
from .strategies import Case, case_from_seed, cases, drawn_cases

EXAMPLES = int(os.environ.get("ALLOCATOR_PROPERTY_EXAMPLES", "200"))
PHASES = (Phase.explicit, Phase.generate) + (
    (Phase.shrink,) if os.environ.get("ALLOCATOR_PROPERTY_SHRINK") else ())
PROPERTY = settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                    phases=PHASES, suppress_health_check=list(HealthCheck), print_blob=False)
SEED = 20_261_602  # the same examples for every invariant

_verdicts: dict[str, Verdict] = {}


def _verdict(case: Case) -> Verdict:
    key = case.yaml()
    if key not in _verdicts:
        _verdicts[key] = judge(case, time_limit=10.0, grid_limit=40_000, hard_limit=60.0)
    return _verdicts[key]


def _holds(case: Case, invariant: str) -> None:
    v = _verdict(case)
    assert invariant not in v.failures, (
        f"{invariant}: {INVARIANTS[invariant]}\n" + "\n".join(v.summary())
        + f"\nrerun: python benchmarks/fuzz.py --seeds {case.seed}"
        + "\n--- scenario ---\n" + case.yaml())


@PROPERTY
@seed(SEED)
@given(cases())
def test_no_exception_outside_the_error_family(case):
    _holds(case, "exception")


@PROPERTY
@seed(SEED)
@given(cases())
def test_every_plan_meets_every_hard_constraint(case):
    _holds(case, "constraint_violation")


@PROPERTY
@seed(SEED)
@given(cases())
def test_no_false_certificate(case):
    _holds(case, "false_certificate")


@PROPERTY
@seed(SEED)
@given(cases())
def test_no_false_infeasibility(case):
    _holds(case, "false_infeasible")


@PROPERTY
@seed(SEED)
@given(cases())
def test_never_worse_than_a_feasible_baseline(case):
    _holds(case, "worse_than_baseline")


@PROPERTY
@seed(SEED)
@given(cases())
def test_reported_objective_is_the_scenarios_objective_at_the_plan(case):
    _holds(case, "objective_mismatch")


@PROPERTY
@seed(SEED)
@given(cases())
def test_curves_match_their_formulas(case):
    _holds(case, "curve_mismatch")


@PROPERTY
@seed(SEED)
@given(cases())
def test_target_efficiency_plan_is_the_best_within_the_target(case):
    _holds(case, "target_suboptimal")


@PROPERTY
@seed(SEED)
@given(cases())
def test_solver_keeps_its_time_limit(case):
    _holds(case, "time_limit")


@settings(PROPERTY, max_examples=max(10, EXAMPLES // 5))
@seed(SEED)
@given(drawn_cases())
def test_simple_and_boundary_scenarios_keep_every_invariant(case):
    """Choices drawn by hypothesis (first options, ends of ranges); failures shrink when
    ALLOCATOR_PROPERTY_SHRINK is set."""
    v = _verdict(case)
    assert v.ok, "\n".join(v.summary()) + "\n--- scenario ---\n" + case.yaml()


# --- the harness itself: it must be able to fail ----------------------------------------------


def _fixed_case(seed_: int, *want: str, avoid: tuple[str, ...] = ()) -> Case:
    """A generated case with these features and a reference plan, for the self-tests."""
    for s in range(seed_, seed_ + 3000):
        case = case_from_seed(s)
        if case.error is None and case.xref is not None and set(want) <= set(case.features) \
                and not set(avoid) & set(case.features):
            return case
    raise AssertionError(f"no case with {want}")


def _doctored(monkeypatch, change) -> None:
    def fake(sc, **kw):
        plan = plan_scenario(sc, **kw)
        change(plan)
        return plan

    monkeypatch.setattr(invariants, "plan_scenario", fake)


def test_harness_catches_a_bound_below_a_feasible_plan(monkeypatch):
    # the reference plan, reported honestly as what it is worth but certified optimal:
    # the oracle must find the better plan the solver finds
    case = _fixed_case(0, "budget-exact", "goal-value", avoid=("wild",))
    honest = judge(case)
    assert honest.outcome == "plan" and "false_certificate" not in honest.failures
    xref = np.array(case.xref)
    worth = objective_of(case.scenario, xref)
    assert honest.objective > worth * (1 + 1e-3)

    def certify_the_reference(plan):
        plan.solution.x = xref.copy()
        plan.solution.objective = plan.solution.bound = worth

    _doctored(monkeypatch, certify_the_reference)
    v = judge(case)
    assert "false_certificate" in v.failures and "objective_mismatch" not in v.failures
    assert v.oracle >= honest.objective * (1 - 1e-9)


def test_harness_catches_a_plan_that_breaks_the_budget(monkeypatch):
    case = _fixed_case(0, "budget-exact")

    def overspend(plan):
        plan.solution.x = plan.solution.x * 1.01 + 1.0

    _doctored(monkeypatch, overspend)
    broken = judge(case).failures["constraint_violation"]
    assert any(text.startswith("budget max") for text in broken), broken


def test_harness_catches_a_false_no_plan_and_a_foreign_exception(monkeypatch):
    case = _fixed_case(0, "baseline-reference")

    def infeasible(sc, **kw):
        raise InfeasibleError("no plan satisfies the scenario")

    monkeypatch.setattr(invariants, "plan_scenario", infeasible)
    assert "false_infeasible" in judge(case).failures

    def crash(sc, **kw):
        raise IndexError("list index out of range")

    monkeypatch.setattr(invariants, "plan_scenario", crash)
    v = judge(case)
    assert v.outcome == "exception" and "exception" in v.failures


def test_harness_catches_a_plan_worse_than_the_baseline(monkeypatch):
    # spending nothing meets every constraint of this case, and is worth nothing
    case = _fixed_case(0, "baseline-reference", "budget-max", "goal-value",
                       avoid=("c-outcome_min", "line-min", "c-spend", "wild", "pools",
                              "points-outcome-at-zero"))

    def idle(plan):
        plan.solution.x = np.zeros(len(plan.scenario.lines))

    _doctored(monkeypatch, idle)
    v = judge(case)
    assert "worse_than_baseline" in v.failures, v.summary()


def test_seeds_rebuild_the_same_scenario():
    a, b = case_from_seed(4242), case_from_seed(4242)
    assert a.yaml() == b.yaml()
    if a.error is None:  # the written file is the scenario that was judged
        again = scenario_from_data(yaml.safe_load(a.yaml()))
        assert again.model_dump() == a.scenario.model_dump()


# --- the independent checker on hand-made cases -----------------------------------------------


def _scenario(lines, **kw):
    data = {"name": "t", "platforms": ["meta"], "stages": {
        "conversion": {"revenue_per_outcome": 10.0}}, "lines": lines, **kw}
    return scenario_from_data(data)


def _line(name, curve, **kw):
    return {"name": name, "stage": "conversion", "platform": "meta", "curve": curve, **kw}


def test_reference_curves_follow_the_readme_formulas():
    sc = _scenario([
        _line("h", {"type": "hill", "vmax": 100, "k": 50, "s": 2}),
        _line("e", {"type": "exponential", "vmax": 100, "k": 50}),
        _line("p", {"type": "power", "a": 3, "b": 0.5}),
        _line("l", {"type": "log", "a": 10, "k": 5}),
        _line("c", {"type": "linear", "unit_cost": 4, "cap": 10}),
        _line("pt", {"type": "points", "spend": [0, 10, 30], "outcome": [5, 15, 20]}),
        _line("r", {"type": "unit_cost_rise", "unit_cost": 2, "at_spend": 100,
                    "rise_per_doubling": "25%"}),
        _line("s", {"type": "unit_cost_saturation", "unit_cost": 2, "saturation": 40}),
        _line("z", {"type": "exponential", "vmax": 100, "k": 50, "size_scale": 2,
                    "cost_scale": 1.5}),
    ], budget=100)
    got = {line.name: ref_curve(sc, line) for line in sc.lines}
    x = 25.0
    assert got["h"].value(x) == pytest.approx(100 * 25**2 / (50**2 + 25**2))
    assert got["e"].value(x) == pytest.approx(100 * (1 - np.exp(-0.5)))
    assert got["p"].value(x) == pytest.approx(15.0)
    assert got["l"].value(x) == pytest.approx(10 * np.log(6))
    assert got["c"].value(x) == pytest.approx(6.25) and got["c"].value(100) == 10
    assert got["pt"].value(0) == 5 and got["pt"].value(20) == pytest.approx(17.5)
    assert got["pt"].slope(10) == pytest.approx(1.0)  # the last unit of the first segment
    # unit cost 2 at spend 100, 25 % dearer at 200
    assert 100 / got["r"].value(100) == pytest.approx(2.0)
    assert (200 / got["r"].value(200)) / 2.0 == pytest.approx(1.25)
    assert got["s"].slope(0) == pytest.approx(0.5) and got["s"].saturation == 40
    assert got["z"].value(x) == pytest.approx(2 * 100 * (1 - np.exp(-25 / (2 * 1.5 * 50))))


def test_checker_knows_marginal_roas_pools_counts_and_targets():
    s_curve = {"type": "hill", "vmax": 1000, "k": 1000, "s": 3}
    sc = _scenario([_line("a", s_curve), _line("b", {"type": "linear", "unit_cost": 20})],
                   budget={"max": 5000},
                   constraints=[{"select": {"name": "a"}, "marginal_roas_min": 2.0},
                                {"select": {}, "max_active": 1}])
    # on the rising part of the S-curve, at spend 100, the next unit earns 10 f'(100) < 2
    assert any("marginal_roas_min" in m for m in scenario_violations(sc, np.array([100, 0])))
    assert not scenario_violations(sc, np.array([1000, 0]))  # 10 f'(1000) = 7.5
    assert any("max_active" in m for m in scenario_violations(sc, np.array([1000, 10])))
    target = _scenario([_line("a", s_curve)], budget={"max": 5000}, mode="target_efficiency",
                       target={"cpa_max": 2.0})
    assert any("target" in m for m in scenario_violations(target, np.array([4000])))
    assert not scenario_violations(target, np.array([1000]))


def test_soft_guideline_penalty_is_per_point_of_the_budget_or_todays_spend():
    lines = [{"name": n, "stage": s, "platform": "meta", "value_per_outcome": 1.0,
              "curve": {"type": "linear", "unit_cost": 1, "per": 1}}
             for n, s in (("aw", "awareness"), ("cv", "conversion"))]
    data = {"name": "t", "platforms": ["meta"], "stages": ["awareness", "conversion"],
            "lines": lines, "budget": {"max": 1000},
            "guidelines": {"enforce": "soft", "penalty_per_point": 3}}
    sc = scenario_from_data(data)
    # awareness 50 % of 1,000 is 20 points under its 70 %; conversion 50 % is 30 over 20 %
    assert objective_of(sc, np.array([500.0, 500.0])) == pytest.approx(1000 - 3 * (20 + 30))
    # without a budget a point is 1 % of today's spend (here 200): 100 under / 100 over
    floor = [{"select": {}, "outcome": {"min": 10}}]
    today = [{**line, "baseline": 100.0} for line in lines]
    no_budget = scenario_from_data({**data, "budget": None, "objective": "min_spend",
                                    "constraints": floor, "lines": today})
    assert objective_of(no_budget, np.array([100.0, 100.0])) == pytest.approx(
        -200 - 3 * (40 + 60) / 2.0)
    # without a baseline either, the solver prices it: the checker is told the point
    bare = scenario_from_data({**data, "budget": None, "objective": "min_spend",
                               "constraints": floor})
    assert objective_of(bare, np.array([100.0, 100.0]), point=4.0) == pytest.approx(
        -200 - 3 * (40 + 60) / 4.0)


def test_checker_checks_many_plans_at_once():
    case = _fixed_case(0, "min_if_active")
    chk = Checker(case.scenario)
    x = np.array(case.xref)
    X = np.vstack([x, x * 0.5, x * 2.0])
    ok = chk.feasible(X)
    assert ok[0]
    for row, flag in zip(X, ok, strict=True):
        assert flag == (not scenario_violations(case.scenario, row))
        assert chk.objective(row[None, :])[0] == pytest.approx(objective_of(case.scenario, row))
