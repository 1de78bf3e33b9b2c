"""Scenarios on which the solver at 16cf8f6 was wrong (tests/regressions/README.md says how).

Each file carries `harness-meta` with `xref`: a plan (spend per line, in file order) that
an independent harness found; where it meets every hard constraint the solver must do at
least as well, and its bound must lie above it.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from allocator.errors import InfeasibleError
from allocator.problem import compile_problem, violations
from allocator.scenario import load_scenario
from allocator.solve import solve
from allocator.solve.diagnose import _units, _wide_segments
from allocator.solve.milp import solve_milp

HERE = Path(__file__).parent / "regressions"


def _meta(path: Path) -> dict:
    for line in path.read_text().splitlines():
        if line.startswith("# harness-meta:"):
            return json.loads(line.split(":", 1)[1])
    return {}


def _claimed(path: Path) -> float | None:
    """The value of the better plan the harness found ('feasible plan worth X')."""
    m = re.search(r"feasible plan worth (-?[\d.]+)", path.read_text())
    return float(m.group(1)) if m else None


def _xref_is_feasible(p, x: np.ndarray) -> bool:
    # rows, bounds, thresholds and counts; a line without a ceiling in the scenario may take
    # any spend (the compiled first guess for its ceiling is not a constraint)
    open_ = np.array([r == "reach" for r in p.hi_reason])
    return not [v for v in violations(p, x) if not any(
        f"line {p.names[i]}: spend" in v and "above its max" in v for i in np.flatnonzero(open_))]


PLANS = ["bound-invalid-399", "bound-invalid-755", "bound-understated-659",
         "false-infeasible-541", "false-infeasible-360", "exception-287", "exception-798"]


@pytest.mark.parametrize("name", PLANS)
def test_regression_gives_a_certified_plan_at_least_as_good_as_the_reference(name):
    path = HERE / f"{name}.yaml"
    p = compile_problem(load_scenario(path))
    sol = solve(p)
    q = sol.problem
    assert not violations(q, sol.x)
    assert sol.bound >= sol.objective
    claimed = _claimed(path)
    if claimed is not None:  # the harness's better plan: our bound must cover it
        assert sol.bound >= claimed - 1e-6 * abs(claimed)
        assert sol.objective >= claimed - 1e-3 * abs(claimed)
    xref = np.array(_meta(path).get("xref", []), dtype=float)
    if len(xref) == q.n and _xref_is_feasible(q, xref):
        ref = q.objective(xref)
        assert sol.bound >= ref - 1e-6 * max(abs(ref), 1.0)
        assert sol.objective >= ref - 1e-3 * max(abs(ref), 1.0)
    assert sol.status == "optimal"


def test_open_lines_are_capped_only_where_no_better_plan_can_go():
    """min_spend without a budget: a line's ceiling is not in the scenario, so the one the
    solver uses must hold every plan cheaper than the one it returns."""
    p = compile_problem(load_scenario(HERE / "bound-invalid-755.yaml"))
    sol = solve(p)
    q = sol.problem
    open_ = np.array([r == "reach" for r in q.hi_reason])
    assert open_.any()
    assert np.all(q.hi[open_] >= -sol.objective * (1 - 1e-9))


def _names(message: str) -> list[str]:
    return re.findall(r"  \[(\S+)\]\s*$", message, flags=re.M)


@pytest.mark.parametrize("name", ["diagnosis-not-a-conflict-89", "diagnosis-not-a-conflict-555"])
def test_diagnosis_names_a_set_that_really_conflicts(name):
    """The named constraints have no plan together, and each is needed: without it the rest
    of the named set has one (checked here on the relaxation, independently of the filter's
    own order)."""
    p = compile_problem(load_scenario(HERE / f"{name}.yaml"))
    with pytest.raises(InfeasibleError) as err:
        solve(p)
    named = _names(str(err.value))
    assert named, str(err.value)
    every = [u[0] for u in _units(p)]
    segs = _wide_segments(p)

    def feasible(keep: set[str]) -> bool:
        drop = frozenset(n for n in every if n not in keep)
        return solve_milp(p, segs, band=True, feasibility=True, drop=drop).status == "optimal"

    assert not feasible(set(named))
    for n in named:
        assert feasible(set(named) - {n}), f"{n} is not needed for the conflict"


def test_diagnosis_555_names_the_budget_with_the_floor():
    p = compile_problem(load_scenario(HERE / "diagnosis-not-a-conflict-555.yaml"))
    with pytest.raises(InfeasibleError) as err:
        solve(p)
    assert set(_names(str(err.value))) >= {"budget"}


FUZZ = sorted((HERE / "fuzz").glob("*.yaml"))


def _oracle_best(path: Path) -> float | None:
    m = re.search(r"^# oracle best feasible: (\S+)", path.read_text(), flags=re.M)
    return float(m.group(1)) if m else None


@pytest.mark.parametrize("path", FUZZ, ids=[p.stem for p in FUZZ])
def test_property_harness_finds_stay_fixed(path):
    """Scenarios the property harness found (shrunk): a plan where one exists, a bound that
    covers the best plan the harness's grid oracle found, every constraint held."""
    p = compile_problem(load_scenario(path))
    sol = solve(p)
    assert not violations(sol.problem, sol.x)
    best = _oracle_best(path)
    if best is not None:
        assert sol.bound >= best - 1e-6 * max(abs(best), 1.0)
    if sol.status == "optimal":
        assert sol.gap <= 1e-3
